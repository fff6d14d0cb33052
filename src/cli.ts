import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { registerClientCommands } from './cli/index.js';
import { loadConfig, SETTINGS, type RawSettings } from './config/config.js';
import { errorMessage } from './errors.js';
import { VERSION } from './version.js';

const program = new Command('inlet').description('Batch ingest of S3 files into time-partitioned Parquet tables, with a Hydrolix-compatible API').version(VERSION);

const serve = program.command('serve').description('run the API server and workers (one process, embedded SQLite catalog by default)');
for (const [key, setting] of Object.entries(SETTINGS)) {
  serve.option(setting.flag, `${setting.help} [env ${setting.env}, default ${JSON.stringify(setting.default)}]`);
  void key;
}
serve.action(async (options: Record<string, string | undefined>) => {
  const overrides: RawSettings = {};
  for (const key of Object.keys(SETTINGS) as (keyof typeof SETTINGS)[]) {
    const value = options[key];
    if (value !== undefined) overrides[key] = value;
  }
  let config;
  try {
    config = loadConfig(process.env, overrides);
  } catch (err) {
    console.error(`inlet: ${errorMessage(err)}`);
    process.exit(2);
  }
  // The server's modules (Fastify, DuckDB, the AWS SDK, the catalog) load here only: client commands start without them.
  const [{ createLogger }, { startService }] = await Promise.all([import('./log.js'), import('./service.js')]);
  const log = createLogger(config.logLevel);
  const service = await startService(config, log);
  if (service.generatedPassword) {
    console.log(`\nAdmin login (shown once): ${config.adminEmail} / ${service.generatedPassword}\nSet INLET_ADMIN_PASSWORD to choose it yourself.\n`);
  }
  log.info(
    { url: service.url, ...(service.metricsUrl ? { metricsUrl: service.metricsUrl } : {}), pid: process.pid, role: config.role, workers: config.role === 'api' ? 0 : config.workers, dataDir: config.dataDir },
    `inlet ${VERSION} ready${service.url ? ` at ${service.url}` : ''}`,
  );
  const shutdown = (signal: string) => {
    log.info({ signal }, 'stopping: finishing requests, handing running tasks back');
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
});

const admin = program.command('admin').description('manage the users of the catalog');
admin
  .command('reset-password')
  .description("set a user's password (the admin's by default) and revoke the user's tokens; prints a generated password when none is given")
  .option('--email <email>', `the user [env ${SETTINGS.adminEmail.env}, default ${JSON.stringify(SETTINGS.adminEmail.default)}]`)
  .option('--password <password>', 'the new password (default: generate one and print it)')
  .option(SETTINGS.dataDir.flag, `${SETTINGS.dataDir.help} [env ${SETTINGS.dataDir.env}, default ${JSON.stringify(SETTINGS.dataDir.default)}]`)
  .option(SETTINGS.databaseUrl.flag, `${SETTINGS.databaseUrl.help} [env ${SETTINGS.databaseUrl.env}]`)
  .action(async (options: { email?: string; password?: string; dataDir?: string; databaseUrl?: string }) => {
    try {
      const config = loadConfig(process.env, { adminEmail: options.email, dataDir: options.dataDir, databaseUrl: options.databaseUrl });
      const sqliteFile = config.databaseUrl.startsWith('sqlite://') ? config.databaseUrl.slice('sqlite://'.length) : undefined;
      // Opening a missing SQLite file would create an empty catalog: the wrong data dir, most likely.
      if (sqliteFile !== undefined && !existsSync(sqliteFile)) throw new Error(`there is no catalog at ${sqliteFile}: give the data dir Inlet runs with (--data-dir or ${SETTINGS.dataDir.env})`);
      const [{ openCatalog }, { resetPassword }] = await Promise.all([import('./catalog/db.js'), import('./auth/admin.js')]);
      const catalog = await openCatalog(config.databaseUrl);
      try {
        const { password, generated } = await resetPassword(catalog.db, config.adminEmail, options.password);
        console.log(generated ? `New password for ${config.adminEmail} (shown once): ${password}` : `Password of ${config.adminEmail} changed.`);
        console.log('Its earlier tokens are revoked (servers that verified one within the last 5 s may accept it that long).');
      } finally {
        await catalog.close();
      }
    } catch (err) {
      console.error(`inlet: ${errorMessage(err)}`);
      process.exitCode = 1;
    }
  });
registerClientCommands(program);

await program.parseAsync();
