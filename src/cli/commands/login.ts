import type { Command } from 'commander';
import { ValidationError } from '../../errors.js';
import { InletClient } from '../client.js';
import { action, clientCommand, profileName, type ClientOptions } from '../command.js';
import { out } from '../output.js';
import { ProfileStore } from '../profile.js';

interface LoginAnswer {
  email: string;
  orgs: { uuid: string; name: string }[];
  auth_token: { access_token: string; expires_in: number };
}

async function readPassword(flag: string | undefined): Promise<string> {
  const given = flag ?? process.env.INLET_PASSWORD;
  if (given !== undefined) return given;
  if (!process.stdin.isTTY) throw new ValidationError('no password: give --password, set INLET_PASSWORD, or run inlet login in a terminal to be asked');
  // Loaded only to prompt: every other command starts without it.
  const { default: password } = await import('@inquirer/password');
  return password({ message: 'Password:', mask: '*' });
}

export function registerLogin(program: Command): void {
  clientCommand(
    program
      .command('login')
      .description('log in to an Inlet server and keep its URL and token in a profile (file mode 0600)')
      .requiredOption('--url <url>', 'the server, e.g. http://localhost:8080')
      .requiredOption('--username <email>', 'the user to log in as')
      .option('--password <password>', 'the password [env INLET_PASSWORD; asked for when neither is given]'),
    'inlet login --url http://localhost:8080 --username admin@localhost',
    { json: false },
  ).action(
    action(async (options: ClientOptions & { url: string; username: string; password?: string }) => {
      let url: URL;
      try {
        url = new URL(options.url);
      } catch {
        throw new ValidationError(`--url ${JSON.stringify(options.url)} is not a URL: use e.g. http://localhost:8080`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ValidationError(`--url ${JSON.stringify(options.url)}: use an http:// or https:// URL`);
      const name = profileName(options);
      const store = new ProfileStore();
      const client = new InletClient(url.href, undefined);
      const answer = await client.request<LoginAnswer>('POST', '/config/v1/login', { json: { username: options.username, password: await readPassword(options.password) } });
      const org = answer.orgs[0];
      if (!org) throw new ValidationError(`user ${options.username} belongs to no org on ${client.url}`);
      await store.save(name, {
        url: client.url,
        username: answer.email,
        token: answer.auth_token.access_token,
        org: org.uuid,
        expiresAtMs: Date.now() + answer.auth_token.expires_in * 1000,
      });
      out(`Logged in to ${client.url} as ${answer.email} (org "${org.name}"); profile "${name}" saved in ${store.file}`);
    }),
  );
}
