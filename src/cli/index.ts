import type { Command } from 'commander';
import { registerJobs } from './commands/jobs.js';
import { registerLogin } from './commands/login.js';
import { registerQuery } from './commands/query.js';
import { registerResources } from './commands/resources.js';

/** The client commands: each speaks only to the HTTP API of the server a profile names. */
export function registerClientCommands(program: Command): void {
  registerLogin(program);
  registerResources(program);
  registerJobs(program);
  registerQuery(program);
}
