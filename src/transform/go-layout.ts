// Translates Go reference-time layouts (time.Parse, as used by Hydrolix
// `datetime` columns) into DuckDB strptime formats. Behaviour was checked
// against DuckDB 1.5 via @duckdb/node-api; see test/go-layout.test.ts.

import { TRANSFORM_LIMITS } from './model.js';

export interface StrptimeLayout {
  /** One or more DuckDB strptime formats; a value parses if any of them matches (DuckDB's strptime accepts a list). Several are needed for Go's optional fractional seconds (`.999`, `.9999999`) and for `Z07:00` (either `Z` or an offset). */
  formats: string[];
  /** True when the layout carries a zone offset, so the parsed value is a TIMESTAMPTZ. */
  hasZone: boolean;
}

export class UnsupportedLayoutError extends Error {
  override name = 'UnsupportedLayoutError';
}

// Go's element recognition (time.nextStdChunk), longest alternative first.
// `_2006` is a literal `_` followed by 2006, hence the lookahead on `_2`.
const ELEMENT = /January|Jan(?![a-z])|Monday|Mon(?![a-z])|MST|0[1-6]|002|15|1|2006|2|_2(?!006)|__2|3|4|5|PM|pm|-070000|-07:00:00|-0700|-07:00|-07|Z070000|Z07:00:00|Z0700|Z07:00|Z07|[.,](?:0+|9+)(?![0-9])/y;

// DuckDB's %m, %d, %H, ... accept one or two digits when parsing, so the
// padded and unpadded Go forms differ only cosmetically.
const SIMPLE: Record<string, string> = {
  '2006': '%Y',
  '06': '%y', // DuckDB pivots at 69 like Go: 69 -> 1969, 68 -> 2068
  '01': '%m',
  '1': '%-m',
  Jan: '%b', // month and weekday names are case-insensitive, as in Go
  January: '%B',
  Mon: '%a', // the weekday is checked as a name, not against the date (Go does the same)
  Monday: '%A',
  '02': '%d',
  '2': '%-d',
  '002': '%j',
  '15': '%H',
  '03': '%I',
  '3': '%-I',
  '04': '%M',
  '4': '%-M',
  PM: '%p', // DuckDB's %p is case-insensitive; Go's PM/pm are not
  pm: '%p',
  // %Z takes any ICU zone ID: UTC, GMT, Europe/Berlin, and ICU's legacy
  // abbreviations, which are real zones: EST and MST are fixed, PST and CET
  // follow DST, BST is Asia/Dhaka, IST is Asia/Kolkata. Daylight names (PDT,
  // EDT, CEST), "Z" and "UT" are unknown and give NULL. Go instead gives an
  // abbreviation it does not know a zero offset.
  MST: '%Z',
};

// %z accepts ±hh, ±hhmm, ±hh:mm and ±hh:mm:ss but not a bare "Z" nor ±hhmmss.
const OFFSET = new Set(['-07', '-0700', '-07:00', '-07:00:00']);
const ISO_OFFSET = new Set(['Z07', 'Z0700', 'Z07:00', 'Z07:00:00']);

const SUPPORTED = '2006 06 01 1 Jan January 02 2 _2 002 __2 15 03 3 04 4 05 5 PM pm Mon Monday MST ' + '-07 -0700 -07:00 -07:00:00 Z07 Z0700 Z07:00 Z07:00:00 .000 ,000 .999 ,999 and literal text';

const isFraction = (el: string) => /^[.,]/.test(el);

// %g, %f and %n take 1-3, 1-6 and 1-9 digits, so a fixed-width Go fraction
// also accepts fewer digits than the layout shows. %n yields TIMESTAMP_NS.
function fractionSpec(digits: number): string {
  return digits <= 3 ? '%g' : digits <= 6 ? '%f' : '%n';
}

/** Alternatives for one layout element; the full formats are their product. */
function translate(layout: string, el: string, at: number, nextElement: string | undefined): string[] {
  const simple = SIMPLE[el];
  if (simple !== undefined) return [simple];
  if (OFFSET.has(el)) return ['%z'];
  if (ISO_OFFSET.has(el)) return ['%z', 'Z'];
  // Go parses either separator whatever the layout shows.
  if (isFraction(el)) {
    const [sep, other] = el.startsWith('.') ? ['.', ','] : [',', '.'];
    if (el[1] === '9') return [`${sep}%n`, `${other}%n`, '']; // .999 may be omitted
    const spec = fractionSpec(el.length - 1);
    return [sep + spec, other + spec];
  }
  if (el === '05' || el === '5') {
    const spec = el === '05' ? '%S' : '%-S';
    // Go accepts a fraction after the seconds even when the layout has none,
    // unless the layout's next element is a fraction.
    return nextElement !== undefined && isFraction(nextElement) ? [spec] : [spec, `${spec}.%n`, `${spec},%n`];
  }
  if (el === '_2' || el === '__2') {
    // Go skips a padding space. A space in a DuckDB format matches one or
    // more spaces (and the start of the input skips them), so an extra
    // variant is only needed when the element follows a non-space.
    const spec = el === '_2' ? '%-d' : '%-j';
    return at === 0 || /\s/.test(layout[at - 1] ?? '') ? [spec] : [spec, ` ${spec}`];
  }
  throw new UnsupportedLayoutError(`Go layout ${JSON.stringify(layout)}: element ${JSON.stringify(el)} cannot be translated ` + `(DuckDB's %z does not accept ±hhmmss offsets); supported: ${SUPPORTED}`);
}

interface Token {
  text: string;
  at: number;
  element: boolean;
}

function tokenize(layout: string): Token[] {
  const tokens: Token[] = [];
  let literal = '';
  let i = 0;
  while (i < layout.length) {
    ELEMENT.lastIndex = i;
    const m = ELEMENT.exec(layout);
    if (m === null) {
      literal += layout[i++];
      continue;
    }
    if (literal) tokens.push({ text: literal, at: i - literal.length, element: false });
    literal = '';
    tokens.push({ text: m[0], at: i, element: true });
    i += m[0].length;
  }
  if (literal) tokens.push({ text: literal, at: i - literal.length, element: false });
  return tokens;
}

export function goLayoutToStrptime(layout: string): StrptimeLayout {
  if (layout.length > TRANSFORM_LIMITS.layoutLength) {
    throw new UnsupportedLayoutError(`Go layout ${JSON.stringify(layout.slice(0, 64))}... has ${layout.length} characters: write one timestamp's layout, at most ${TRANSFORM_LIMITS.layoutLength} characters`);
  }
  const tokens = tokenize(layout);
  if (!tokens.some((t) => t.element)) {
    throw new UnsupportedLayoutError(`Go layout ${JSON.stringify(layout)} has no reference-time element; supported: ${SUPPORTED}`);
  }
  let formats = [''];
  let hasZone = false;
  tokens.forEach((t, k) => {
    const alternatives = t.element ? translate(layout, t.text, t.at, tokens.slice(k + 1).find((r) => r.element)?.text) : [t.text.replace(/%/g, '%%')];
    if (formats.length * alternatives.length > TRANSFORM_LIMITS.layoutFormats) {
      throw new UnsupportedLayoutError(
        `Go layout ${JSON.stringify(layout)} reads as more than ${TRANSFORM_LIMITS.layoutFormats} DuckDB formats (each seconds, optional fraction, Z07 zone and _2 element multiplies them): ` +
          `write the layout of one timestamp, with each element once`,
      );
    }
    if (t.element && (t.text === 'MST' || OFFSET.has(t.text) || ISO_OFFSET.has(t.text))) hasZone = true;
    formats = formats.flatMap((f) => alternatives.map((a) => f + a));
  });
  return { formats, hasZone };
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
/**
 * Tries the formats in order. Zoned formats are tried one call each: DuckDB's list form of
 * try_strptime takes a slow path when the formats hold %z (docs/benchmarks.md, "Figures behind
 * the ingest code's choices"), and coalesce tries a later format only where the earlier failed.
 */
const tryFormats = (valueSql: string, fs: string[], zoned: boolean) =>
  fs.length === 1
    ? `try_strptime(${valueSql}, ${sqlString(fs[0]!)})`
    : zoned
      ? `coalesce(${fs.map((f) => `try_strptime(${valueSql}, ${sqlString(f)})`).join(', ')})`
      : `try_strptime(${valueSql}, [${fs.map(sqlString).join(', ')}])`;
const isZoned = (format: string) => /%[zZ]/.test(format.replace(/%%/g, ''));

/** A SQL expression (DuckDB) that parses the VARCHAR expression `valueSql` with the layout and yields a TIMESTAMP in UTC (not TIMESTAMPTZ), or NULL when it does not parse. Never raises a DuckDB error for bad input: use try_strptime. For zoned layouts convert to UTC (e.g. `timezone('UTC', ...)`; ICU is built in). */
export function goLayoutParseSql(layout: string, valueSql: string): string {
  const { formats } = goLayoutToStrptime(layout);
  // Formats without %z are parsed separately: in a list that also holds %z
  // formats, DuckDB reads them in the session time zone, whereas Go reads a
  // literal "Z" (or a layout without zone) as UTC. `valueSql` then appears
  // more than once, so it should be a column reference or another cheap expression.
  const zoned = formats.filter(isZoned);
  const naive = formats.filter((f) => !isZoned(f));
  // %n yields TIMESTAMP_NS, which ends in 2262: the same formats with %f (up to 6 digits) read
  // the later times a datetime64 holds. Each part is cast on its own: COALESCE would otherwise
  // cast a TIMESTAMP part to TIMESTAMP_NS, and one out of its range fails the whole statement.
  // The CAST drops the nanoseconds of %n by truncation.
  const parts: string[] = [];
  for (const [fs, zone] of [
    [zoned, true],
    [micros(zoned), true],
    [naive, false],
    [micros(naive), false],
  ] as const) {
    if (fs.length === 0) continue;
    const parsed = tryFormats(valueSql, fs, zone);
    parts.push(`CAST(${zone ? `timezone('UTC', ${parsed})` : parsed} AS TIMESTAMP)`);
  }
  const parsed = parts.length === 1 ? parts[0]! : `COALESCE(${parts.join(', ')})`;
  const guard = punctuationGuard(formats, valueSql);
  return guard === undefined ? parsed : `CASE WHEN ${guard} THEN ${parsed} END`;
}

/**
 * A cheap necessary condition for any of the formats to parse a value: the format's punctuation
 * appears in the value in order (a LIKE). A value that fails it cannot parse, so try_strptime
 * never runs on it: DuckDB spends far more on a try_strptime that fails than on one that
 * succeeds, so a column of text that is not a time (a wrong layout, placeholder words) would
 * otherwise cost many times its conversion (docs/benchmarks.md, "a column that is not a time").
 * Only ASCII punctuation counts: DuckDB matches it exactly, while a space in a format matches any
 * run of whitespace, and letters and specifiers match text of varying shape. Undefined when a
 * format has no punctuation (any value might parse).
 */
function punctuationGuard(formats: readonly string[], valueSql: string): string | undefined {
  // Specifiers (`%Y`, `%-d`, and `%%`, a literal percent sign) are gaps, as is every other non-punctuation character.
  const marks = [...new Set(formats.map((f) => f.replace(/%-?./g, '').replace(/[^!-/:-@[-`{-~]|[%_\\]/g, '')))];
  if (marks.includes('')) return undefined;
  // A value with `-:` has `-` too: the longer condition adds nothing.
  const needed = marks.filter((m) => !marks.some((other) => other !== m && isSubsequence(other, m)));
  return needed.map((m) => `${valueSql} LIKE ${sqlString(`%${[...m].join('%')}%`)}`).join(' OR ');
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const c of long) if (c === short[i]) i++;
  return i === short.length;
}

/** When a format holds %n (the whole list then yields TIMESTAMP_NS), the list with %f in its place; else none. */
function micros(formats: readonly string[]): string[] {
  if (!formats.some((f) => /%n/.test(f.replace(/%%/g, '')))) return [];
  return formats.map((f) => f.replace(/%(.)/g, (spec: string, c: string) => (c === 'n' ? '%f' : spec)));
}
