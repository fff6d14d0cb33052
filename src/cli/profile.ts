import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { AuthenticationError, ValidationError } from '../errors.js';

/** What `inlet login` keeps per profile: enough to call the API again without a password. */
export interface Profile {
  readonly url: string;
  readonly username: string;
  readonly token: string;
  readonly org: string;
  /** Epoch milliseconds after which the server no longer accepts the token. */
  readonly expiresAtMs: number;
}

const FILE = 'profiles.json';
const PROFILE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** INLET_CONFIG_DIR, else $XDG_CONFIG_HOME/inlet, else ~/.config/inlet. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.INLET_CONFIG_DIR) return path.resolve(env.INLET_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homedir(), '.config');
  return path.join(base, 'inlet');
}

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) throw new ValidationError(`--profile ${JSON.stringify(name)} is not a valid profile name: use letters, digits, "-" and "_" (up to 64)`);
  return name;
}

/** The profiles file: tokens are secrets, so it is only ever readable by its owner. */
export class ProfileStore {
  readonly file: string;

  constructor(readonly dir: string = configDir()) {
    this.file = path.join(dir, FILE);
  }

  private async readAll(): Promise<Record<string, Profile>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as { profiles?: Record<string, Profile> };
      return parsed.profiles ?? {};
    } catch {
      throw new ValidationError(`${this.file} is not valid JSON: fix or delete it, then run inlet login again`);
    }
  }

  async get(name: string): Promise<Profile> {
    const profile = (await this.readAll())[checkProfileName(name)];
    if (!profile) throw new AuthenticationError(`no profile "${name}" in ${this.file}: run inlet login --url URL --username EMAIL${name === 'default' ? '' : ` --profile ${name}`}`);
    return profile;
  }

  async save(name: string, profile: Profile): Promise<void> {
    const profiles = { ...(await this.readAll()), [checkProfileName(name)]: profile };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Written whole to a private temp file, then renamed: a crash never leaves a half file or a readable token.
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify({ profiles }, null, 2) + '\n', { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, this.file);
  }
}
