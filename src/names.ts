import { ValidationError } from './errors.js';

/** Longest name of anything a user names: org, project, table, transform, job, storage, credential, service account. */
export const MAX_NAME_LENGTH = 200;
/** Longest description of a project, table, transform, job or storage. */
export const MAX_DESCRIPTION_LENGTH = 4096;

/** A value as a message quotes it: cut short, since it may be most of a 16 MiB body. */
export const shortened = (value: unknown): string => {
  const text = String(JSON.stringify(value));
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
};

/** A name as given, or a ValidationError saying what a name must be; `what` is what is named ("the org"). */
export function checkedName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_NAME_LENGTH) {
    throw new ValidationError(`name is ${shortened(value)}: give ${what} a non-empty name of at most ${MAX_NAME_LENGTH} characters`);
  }
  return value;
}

/** A description as given (null or absent for none), or a ValidationError. */
export function checkedDescription(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string' || value.length > MAX_DESCRIPTION_LENGTH) {
    throw new ValidationError(`description is ${shortened(value)}: give a string of at most ${MAX_DESCRIPTION_LENGTH} characters, or null`);
  }
  return value;
}
