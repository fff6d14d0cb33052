// The least an HTTP query service can do, as a floor for /query's latency: one Fastify route
// running one prepared DuckDB statement (BENCH_SQL) and answering its rows as JSON. No auth,
// catalog, pruning or sandbox. Prints "ready <url>" when it listens.
import Fastify from 'fastify';
import { DuckDBInstance, JsonDuckDBValueConverter } from '@duckdb/node-api';

const sql = process.env.BENCH_SQL;
if (!sql) throw new Error('BENCH_SQL is not set');
const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
const connection = await instance.connect();
// As Inlet's sandboxes keep them: the footers of files read again and again.
await connection.run('SET GLOBAL parquet_metadata_cache = true');
const statement = await connection.prepare(sql);
const app = Fastify();
app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => done(null, body));
app.post('/query', async (_request, reply) => {
  const result = await statement.stream();
  const data: unknown[] = [];
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    data.push(...chunk.convertRows(JsonDuckDBValueConverter));
  }
  return reply.type('application/json').send(JSON.stringify({ data, rows: data.length }));
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.on('SIGTERM', () => {
  void app.close().then(() => {
    connection.closeSync();
    instance.closeSync();
    process.exit(0);
  });
});
console.log(`ready ${url}`);
