import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { isOutOfMemory } from '../duckdb/engine.js';
import { openDuckDB } from '../duckdb/instances.js';
import { errorMessage, QueryError } from '../errors.js';
import { quoteLiteral } from '../transform/compile.js';

/**
 * The parser's instance is small on purpose (it holds no data), and a statement of very many
 * terms can still need more than it has: that is the statement's size, not a fault of the server.
 */
const tooComplex = (err: unknown) =>
  new QueryError(
    `DB::Exception: The statement is too complex to parse: ${errorMessage(err).split('\n')[0]} while parsing it; make it shorter, with fewer terms, subqueries or UNIONs (a list with IN (...) rather than a chain of ORs) (MEMORY_LIMIT_EXCEEDED)`,
  );

/**
 * DuckDB's own parser (json_serialize_sql) in an instance that can read nothing and whose
 * configuration is locked: parsing runs no user SQL, but it never shares an instance with data.
 */
export class StatementParser {
  /** One parse at a time on the one connection. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async create(): Promise<StatementParser> {
    const instance = await openDuckDB({ kind: 'parser' });
    const connection = await instance.connect();
    return new StatementParser(instance, connection);
  }

  /** DuckDB's JSON of the statements, or of their parse error. */
  serialize(sql: string): Promise<string> {
    const parsed = this.queue.then(async () => {
      const reader = await this.connection.runAndReadAll(`SELECT json_serialize_sql(${quoteLiteral(sql)})`).catch((err: unknown) => {
        throw isOutOfMemory(err) ? tooComplex(err) : err;
      });
      return String(reader.getRowsJS()[0]![0]);
    });
    this.queue = parsed.catch(() => undefined);
    return parsed;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
