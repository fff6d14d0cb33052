import type { Command } from 'commander';
import { ValidationError } from '../../errors.js';
import { action, clientCommand, openSession, type ClientOptions } from '../command.js';

/** A format name only: it is appended to the SQL as `FORMAT name`. */
const FORMAT_NAME = /^[A-Za-z]+$/;

export function registerQuery(program: Command): void {
  clientCommand(
    program
      .command('query')
      .description('run SQL over your tables; prints the answer as the query API formats it (TabSeparated unless --format or FORMAT)')
      .argument('<sql>', 'the query, e.g. "SELECT count() FROM website.events"')
      .option('--format <format>', 'output format: TabSeparated, TabSeparatedWithNames, CSV, CSVWithNames, JSON, JSONEachRow, JSONCompact'),
    'inlet query "SELECT host, count() FROM website.events GROUP BY host" --format CSVWithNames',
  ).action(
    action(async (sql: string, options: ClientOptions & { format?: string }) => {
      const format = options.format ?? (options.json ? 'JSON' : undefined);
      if (format !== undefined && !FORMAT_NAME.test(format)) throw new ValidationError(`--format ${JSON.stringify(format)} is not a format name: use e.g. JSON or CSVWithNames`);
      const session = await openSession(options);
      const text = format === undefined ? sql : `${sql.trim().replace(/;\s*$/, '')}\nFORMAT ${format}`;
      await session.client.requestInto('POST', '/query', { text }, process.stdout);
    }),
  );
}
