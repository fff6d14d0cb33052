import { Command } from 'commander';
import { registerClientCommands } from './cli/index.js';
import { loadConfig, SETTINGS, type RawSettings } from './config/config.js';
import { errorMessage } from './errors.js';
import { createLogger } from './log.js';
import { VERSION } from './api/server.js';
import { startService } from './service.js';

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
  const log = createLogger(config.logLevel);
  const service = await startService(config, log);
  if (service.generatedPassword) {
    console.log(`\nAdmin login (shown once): ${config.adminEmail} / ${service.generatedPassword}\nSet INLET_ADMIN_PASSWORD to choose it yourself.\n`);
  }
  log.info({ url: service.url, role: config.role, workers: config.role === 'api' ? 0 : config.workers, dataDir: config.dataDir }, `inlet ${VERSION} ready${service.url ? ` at ${service.url}` : ''}`);
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

registerClientCommands(program);

await program.parseAsync();
