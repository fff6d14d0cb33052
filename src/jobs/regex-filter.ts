import { RE2JS } from 're2js';
import { errorMessage, ValidationError } from '../errors.js';

export type UrlFilter = (url: string) => boolean;

/** Longest regex_filter accepted: compiling expands repeats, so a long pattern of `x{1000}`s holds the API's thread for a while. */
export const MAX_REGEX_FILTER_LENGTH = 1024;

/**
 * Compiles a job's regex_filter with RE2, whose matching time is linear in the URL's length
 * whatever the pattern: a backtracking engine lets one pattern such as `(a+)+$` spin a worker
 * for ever. RE2 is also the syntax Hydrolix's Go ingest understands. The filter keeps a URL
 * when the pattern matches anywhere in it (anchors are the user's to write).
 */
export function compileRegexFilter(pattern: string): UrlFilter {
  if (pattern.length > MAX_REGEX_FILTER_LENGTH) {
    throw new ValidationError(`settings.regex_filter is ${pattern.length} characters long: use at most ${MAX_REGEX_FILTER_LENGTH} (filter on a narrower url prefix instead)`);
  }
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (err) {
    throw new ValidationError(
      `settings.regex_filter ${JSON.stringify(pattern)} is not a valid RE2 regular expression (${errorMessage(err)}): RE2 has no backreferences, lookahead or lookbehind, and repeat counts go up to 1000; e.g. "^s3://bucket/.*\\\\.gz$"`,
      { cause: err },
    );
  }
  return (url) => compiled.test(url);
}
