import type { Catalog } from '../catalog/db.js';
import { quarantinedTable, quarantineSandbox } from './quarantine-table.js';
import { isSystemTable, systemSandbox } from './system-tables.js';
import type { ParsedTransforms } from '../catalog/parsed.js';
import { findTableWithTransform } from '../catalog/resources.js';
import type { TableRow } from '../catalog/schema.js';
import { QueryError } from '../errors.js';
import type { PartitionStorage } from '../storage/storage.js';
import { quoteIdent, storedColumns } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';
import { TtlCache } from '../ttl-cache.js';
import { parseSerialized, readsClock, refKey, refuseUnsafeCalls, tableRefs, timeBounds, type TableRef, type TimeBound } from './ast.js';
import { StatementParser } from './parser.js';
import type { Column } from './output.js';
import type { SandboxTable } from './sandbox.js';
import { parseStatement, type Statement } from './statement.js';

type Node = Record<string, unknown>;

/** A table a statement names, as the catalog resolved it for the caller's org. */
export interface ResolvedTable {
  readonly ref: TableRef;
  /** The catalog's table; none for a system table. */
  readonly row: TableRow | undefined;
  readonly transform: Transform | undefined;
  /** Its view in a sandbox. */
  readonly sandbox: SandboxTable;
  /** `project.table#rejects`: the table's quarantine, not its rows. */
  readonly quarantine?: boolean;
}

/** The bounds a statement's WHERE clauses put on its tables' primary timestamps. */
export interface PlanBounds {
  /** By table (`project.table`): the bounds of each place that reads it. */
  readonly uses: ReadonlyMap<string, TimeBound[][]>;
  readonly all: readonly TimeBound[];
  /** Some bound reads the clock (now(), today()): it is evaluated anew for every run. */
  readonly clock: boolean;
}

/**
 * Everything about a statement that does not depend on the moment it runs: what the text
 * says, DuckDB's parse of it, the tables it names resolved for one org, and the bounds on
 * their time columns. Partitions are not part of it: each run asks the catalog for them.
 */
export interface QueryPlan {
  readonly statement: Statement;
  /** DuckDB's parse of `statement.sql`. */
  readonly tree: Node;
  readonly tables: readonly ResolvedTable[];
  readonly bounds: PlanBounds;
  /** `SELECT NULL` as DuckDB parses it, to evaluate the bounds in. */
  readonly template: Node;
  /** The values of bounds that do not read the clock, once a run has evaluated them. */
  fixedBounds?: (number | undefined)[];
  /** The result's columns with their ClickHouse types, by the DuckDB types they were worked out for. */
  columns?: { readonly key: string; readonly columns: readonly Column[] };
}

/**
 * How long a plan is kept. A write through this process's catalog makes its plans unreachable
 * at once (the change counter is in their key); one made through another API process of a
 * scaled-out deployment shows within this time, as a logout does (session cache).
 */
const PLAN_MS = 5_000;

/** What the table's view in a sandbox needs: its directory, and its columns for a range holding no partition. */
function sandboxTable(storage: PartitionStorage, ref: TableRef, row: TableRow, transform: Transform | undefined): SandboxTable {
  const columns = transform ? storedColumns(transform) : [];
  const select = columns.length > 0 ? columns.map((c) => `NULL::${c.type} AS ${quoteIdent(c.name)}`).join(', ') : 'NULL::VARCHAR AS "no_columns"';
  return { id: row.id, schema: ref.project, name: ref.table, dir: storage.readableDir(row), emptySelect: `SELECT ${select} WHERE false` };
}

/** Makes query plans, and keeps them by text, org and the catalog's change count: dashboards send the same statements again and again. */
export class QueryPlanner {
  private readonly plans = new TtlCache<string, Promise<QueryPlan>>(500);
  /**
   * Tables as plans resolved them, under the same key but for the text: Grafana's time macros
   * expand to literals, so each refresh is a new text, and it names the same table.
   */
  private readonly tables = new TtlCache<string, ResolvedTable>(1000);
  private parser: Promise<StatementParser> | undefined;
  private template: Node | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly storage: PartitionStorage,
    private readonly transforms: ParsedTransforms,
  ) {}

  /**
   * The plan of `text` (parameters already bound) for `orgId`. `changes` is the count of the
   * catalog's writes to projects, tables and transforms (Catalog.changes), read before the
   * plan's lookups: a write committed during them leaves the plan already out of date.
   */
  plan(orgId: string, text: string, changes: number): Promise<QueryPlan> {
    const key = `${changes}\n${orgId}\n${text}`;
    const kept = this.plans.get(key);
    if (kept) return kept;
    const made = this.make(orgId, text, changes);
    this.plans.set(key, made, PLAN_MS);
    // A refused statement is not kept: the table it lacks may be created next.
    made.catch(() => this.plans.delete(key));
    return made;
  }

  private async make(orgId: string, text: string, changes: number): Promise<QueryPlan> {
    const statement = parseStatement(text);
    this.parser ??= StatementParser.create();
    const parser = await this.parser;
    this.template ??= parseSerialized(await parser.serialize('SELECT NULL'));
    const tree = parseSerialized(await parser.serialize(statement.sql));
    refuseUnsafeCalls(tree);
    // A DESCRIBE reads system.columns, which holds nothing for a table that does not exist: resolving it answers UNKNOWN_TABLE.
    if (statement.describes) await this.resolve(orgId, statement.describes, changes);
    const tables = await Promise.all(tableRefs(tree).map((ref) => this.resolve(orgId, ref, changes)));
    const byKey = new Map(tables.map((t) => [refKey(t.ref), t]));
    const uses = timeBounds(tree, (ref) => byKey.get(refKey(ref))?.transform?.primary ?? '');
    const all = [...uses.values()].flat(2);
    return { statement, tree, tables, bounds: { uses, all, clock: all.some((b) => readsClock(b.expr)) }, template: this.template };
  }

  private async resolve(orgId: string, ref: TableRef, changes: number): Promise<ResolvedTable> {
    const key = `${changes}\n${orgId}\n${ref.project}\n${ref.table}`;
    const kept = this.tables.get(key);
    if (kept) return kept;
    // Another org's table is "not found", exactly like one that does not exist.
    const quarantined = quarantinedTable(ref);
    const found = await findTableWithTransform(this.catalog, orgId, ref.project, quarantined ?? ref.table);
    if (!found && isSystemTable(ref)) {
      // Made anew for each plan: the catalog's change count is in the plan's key.
      return { ref, row: undefined, transform: undefined, sandbox: await systemSandbox(this.catalog, this.transforms, orgId, ref) };
    }
    if (!found) throw new QueryError(`Table ${ref.project}.${ref.table} doesn't exist (UNKNOWN_TABLE)`);
    const transform = found.transform && !quarantined ? this.transforms.of(found.transform).transform : undefined;
    const sandbox = quarantined ? quarantineSandbox(this.storage, ref, found.table) : sandboxTable(this.storage, ref, found.table, transform);
    const table = { ref, row: found.table, transform, sandbox, quarantine: quarantined !== undefined };
    this.tables.set(key, table, PLAN_MS);
    return table;
  }

  async close(): Promise<void> {
    const parser = await this.parser?.catch(() => undefined);
    parser?.close();
  }
}
