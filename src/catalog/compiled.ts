import type { Compilable, CompiledQuery, Kysely } from 'kysely';

type Value = string | number;

/** Stand-ins for the arguments while the SQL is compiled: no real value looks like them. */
const stringStandIn = (i: number) => `\u0000inlet-argument-${i}\u0000`;
const numberStandIn = (i: number) => -(2 ** 52) + i;

/**
 * A hot query whose SQL is compiled once per catalog and then run with new values. Kysely
 * builds and compiles a query on every call, which on an idle server costs about as much as SQLite
 * running it (figures: docs/benchmarks.md). `build` must make the same SQL
 * whatever its arguments: no clause may depend on a value.
 */
export function compiledOnce<DB, A extends Value[], R>(build: (db: Kysely<DB>, ...args: A) => Compilable<R>): (db: Kysely<DB>, ...args: A) => Promise<R[]> {
  const compiled = new WeakMap<Kysely<DB>, { query: CompiledQuery<R>; slots: (number | undefined)[] }>();
  return async (db, ...args) => {
    let entry = compiled.get(db);
    if (!entry) {
      const standIns = args.map((arg, i) => (typeof arg === 'number' ? numberStandIn(i) : stringStandIn(i))) as A;
      const query = build(db, ...standIns).compile();
      // Which argument each of the compiled parameters is; the others are constants of the query.
      const slots = query.parameters.map((p) => {
        const at = standIns.indexOf(p as Value);
        return at >= 0 ? at : undefined;
      });
      const used = new Set(slots.filter((s) => s !== undefined));
      if (used.size !== args.length) throw new Error(`compiledOnce: the query uses ${used.size} of its ${args.length} arguments as parameters`);
      entry = { query, slots };
      compiled.set(db, entry);
    }
    const { query, slots } = entry;
    const parameters = query.parameters.map((p, i) => (slots[i] === undefined ? p : args[slots[i]!]));
    const result = await db.executeQuery<R>({ ...query, parameters });
    return result.rows;
  };
}
