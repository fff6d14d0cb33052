import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AuthenticationError, errorMessage, ValidationError } from '../errors.js';
import { ApiError, InletClient } from './client.js';
import { err, printable } from './output.js';
import { ProfileStore } from './profile.js';

/** Options every client command takes. */
export interface ClientOptions {
  profile?: string;
  json?: boolean;
}

/** The logged-in client of a profile, and its org's Config API prefix. */
export interface Session {
  readonly client: InletClient;
  readonly org: string;
  readonly orgPath: string;
}

export const profileName = (options: ClientOptions): string => options.profile ?? process.env.INLET_PROFILE ?? 'default';

export async function openSession(options: ClientOptions): Promise<Session> {
  const name = profileName(options);
  const profile = await new ProfileStore().get(name);
  if (profile.expiresAtMs <= Date.now()) {
    throw new AuthenticationError(`the login of profile "${name}" expired at ${new Date(profile.expiresAtMs).toISOString()}: run inlet login again`);
  }
  return { client: new InletClient(profile.url, profile.token), org: profile.org, orgPath: `/config/v1/orgs/${encodeURIComponent(profile.org)}` };
}

/** Adds --profile (and --json for read commands) and a usage example to a command. */
export function clientCommand(command: Command, example: string, options: { json?: boolean } = {}): Command {
  command.option('--profile <name>', 'login profile to use [env INLET_PROFILE, default "default"]');
  if (options.json !== false) command.option('--json', 'print the API answer as JSON');
  return command.addHelpText('after', `\nExample:\n  $ ${example}\n`);
}

/**
 * Runs a command's body: an error becomes one line on stderr (the API's own message when the
 * server answered) and exit code 1; a body may answer another exit code.
 */
export function action<A extends unknown[]>(body: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await body(...args);
      if (code !== undefined) process.exitCode = code;
    } catch (error) {
      let message = errorMessage(error);
      if (error instanceof ApiError && error.status === 401) message += ' (run inlet login again)';
      if (error instanceof ApiError) message = `${message} [HTTP ${error.status}]`;
      err(`inlet: ${printable(message.replaceAll('\n', ' '))}`);
      process.exitCode = 1;
    }
  };
}

/** A JSON document from a file, or from stdin for "-". */
export async function readJsonFile(file: string, flag = '--file'): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError(`${flag} ${file}: cannot read it (${errorMessage(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`${flag} ${file} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ValidationError(`${flag} ${file} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A flag that holds JSON (e.g. --settings '{"a": 1}'). */
export function parseJsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`${flag} ${JSON.stringify(text)} is not valid JSON: ${errorMessage(error)}`);
  }
}

/** A flag that holds a whole number of at least `min`. */
export function parseIntFlag(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min) throw new ValidationError(`${flag} ${JSON.stringify(text)} is not valid: use a whole number >= ${min}`);
  return value;
}
