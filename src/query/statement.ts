import { QueryError } from '../errors.js';
import { clickhouseNames } from './aliases.js';
import { clickhouseCalls } from './calls.js';
import type { TableRef } from './ast.js';
import { isWord, tokenize, type Token } from './lexer.js';
import { SYSTEM_DATABASE, SYSTEM_SCHEMA, SYSTEM_TABLE_NAMES } from './system-names.js';
import { quoteIdent, quoteLiteral } from '../transform/compile.js';

/** ClickHouse's output formats that Inlet writes, with the aliases ClickHouse accepts. */
export const OUTPUT_FORMATS = [
  'TabSeparated',
  'TabSeparatedWithNames',
  'TabSeparatedWithNamesAndTypes',
  'CSV',
  'CSVWithNames',
  'CSVWithNamesAndTypes',
  'JSON',
  'JSONStrings',
  'JSONEachRow',
  'JSONStringsEachRow',
  'JSONCompact',
  'JSONCompactStrings',
  'JSONCompactEachRow',
  'JSONCompactEachRowWithNames',
  'JSONCompactEachRowWithNamesAndTypes',
  'JSONCompactStringsEachRow',
  'JSONCompactStringsEachRowWithNames',
  'JSONCompactStringsEachRowWithNamesAndTypes',
  'JSONObjectEachRow',
] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
const FORMAT_ALIASES: Record<string, OutputFormat> = {
  TSV: 'TabSeparated',
  TSVWithNames: 'TabSeparatedWithNames',
  TSVWithNamesAndTypes: 'TabSeparatedWithNamesAndTypes',
  NDJSON: 'JSONEachRow',
};

export interface Statement {
  /** DuckDB SQL: the ClickHouse clauses taken off and rewritten. */
  readonly sql: string;
  /** The FORMAT clause; absent, the request's default_format or TabSeparated. */
  readonly format: OutputFormat | undefined;
  /** `SETTINGS k = v, ...` of the statement, values unquoted. */
  readonly settings: Readonly<Record<string, string>>;
  /** `EXPLAIN <select>`: answer the plan and the partitions it would read, not the rows. */
  readonly explain: boolean;
  /** The table a DESCRIBE names: it must exist, as ClickHouse answers UNKNOWN_TABLE for one that does not. */
  readonly describes?: TableRef;
}

export function outputFormat(name: string): OutputFormat {
  const known = OUTPUT_FORMATS.find((f) => f.toLowerCase() === name.toLowerCase());
  const alias = Object.entries(FORMAT_ALIASES).find(([a]) => a.toLowerCase() === name.toLowerCase())?.[1];
  if (known ?? alias) return (known ?? alias)!;
  throw new QueryError(`Unknown output format ${name}: use one of ${OUTPUT_FORMATS.join(', ')} (UNKNOWN_FORMAT)`);
}

const unquote = (token: Token): string => (token.kind === 'string' ? token.text.slice(1, -1).replaceAll("''", "'") : token.kind === 'quoted' ? token.text.slice(1, -1) : token.text);

/** Reads `name = value (, name = value)*` filling exactly tokens[from..]; undefined when they are something else. */
function settingsList(tokens: readonly Token[], from: number): Record<string, string> | undefined {
  const settings: Record<string, string> = {};
  let i = from;
  for (;;) {
    const [name, eq] = [tokens[i], tokens[i + 1]];
    if (name?.kind !== 'word' || eq?.text !== '=') return undefined;
    i += 2;
    const negative = tokens[i]?.text === '-';
    if (negative) i++;
    const value = tokens[i];
    if (!value || !['number', 'string', 'word'].includes(value.kind)) return undefined;
    settings[name.text] = (negative ? '-' : '') + unquote(value);
    i++;
    if (i === tokens.length) return settings;
    if (tokens[i]?.text !== ',') return undefined;
    i++;
  }
}

/** Takes trailing `SETTINGS ...` and `FORMAT name` (in either order) off the SQL. */
function splitTrailingClauses(text: string): { sql: string; format: OutputFormat | undefined; settings: Record<string, string> } {
  let sql = text.trim().replace(/;\s*$/, '');
  let format: OutputFormat | undefined;
  let settings: Record<string, string> | undefined;
  for (let changed = true; changed;) {
    changed = false;
    const tokens = tokenize(sql);
    const n = tokens.length;
    if (!format && n >= 2 && isWord(tokens[n - 2], 'FORMAT') && tokens[n - 2]!.depth === 0 && tokens[n - 1]!.kind === 'word') {
      format = outputFormat(tokens[n - 1]!.text);
      sql = sql.slice(0, tokens[n - 2]!.start).trimEnd();
      changed = true;
      continue;
    }
    if (!settings) {
      const at = tokens.findLastIndex((t) => t.depth === 0 && isWord(t, 'SETTINGS'));
      const parsed = at >= 0 ? settingsList(tokens, at + 1) : undefined;
      if (parsed) {
        settings = parsed;
        sql = sql.slice(0, tokens[at]!.start).trimEnd();
        changed = true;
      }
    }
  }
  return { sql, format, settings: settings ?? {} };
}

/** Index of the `)` closing the `(` at tokens[open]. */
function closingParen(tokens: readonly Token[], open: number): number {
  const depth = tokens[open]!.depth;
  for (let i = open + 1; i < tokens.length; i++) if (tokens[i]!.text === ')' && tokens[i]!.depth === depth) return i;
  throw new QueryError('Syntax error: unbalanced parentheses (SYNTAX_ERROR)');
}

/**
 * ClickHouse's parametric quantiles, `quantile(0.9)(x)`, as DuckDB calls: `quantile` and
 * `quantiles` interpolate like ClickHouse's (which samples past 8192 values; DuckDB is exact),
 * `quantileExact` picks the element at floor(level * n) of the sorted values as ClickHouse does.
 */
const PARAMETRIC: Record<string, (params: string, args: string) => string> = {
  quantile: (p, x) => `quantile_cont(${x}, ${p})`,
  quantiles: (p, x) => `quantile_cont(${x}, [${p}])`,
  quantileexact: (p, x) => `__inlet_quantile_exact(${x}, ${p})`,
  // ClickHouse's topK is approximate too (Filtered Space-Saving), most frequent first.
  topk: (p, x) => `approx_top_k(${x}, ${p})`,
  quantilesexact: (p, x) =>
    `[${p
      .split(',')
      .map((level) => `__inlet_quantile_exact(${x}, ${level.trim()})`)
      .join(', ')}]`,
};

/** How deep parametric calls are rewritten inside one another's arguments (an aggregate's argument holds none but in a subquery). */
const PARAMETRIC_NESTING = 8;

function rewriteParametric(sql: string, nesting = 0): string {
  if (nesting > PARAMETRIC_NESTING || !/\b(?:quantiles?|quantiles?exact|topk)\s*\(/i.test(sql)) return sql;
  // One pass over the tokens: a statement of many calls is not tokenized again per call.
  const tokens = tokenize(sql);
  let out = '';
  let copied = 0;
  for (let i = 0; i + 1 < tokens.length; i++) {
    const rewrite = tokens[i]!.kind === 'word' ? PARAMETRIC[tokens[i]!.text.toLowerCase()] : undefined;
    if (!rewrite || tokens[i + 1]!.text !== '(') continue;
    const paramsEnd = closingParen(tokens, i + 1);
    if (tokens[paramsEnd + 1]?.text !== '(') continue;
    const argsEnd = closingParen(tokens, paramsEnd + 1);
    const params = sql.slice(tokens[i + 1]!.end, tokens[paramsEnd]!.start).trim();
    const args = rewriteParametric(sql.slice(tokens[paramsEnd + 1]!.end, tokens[argsEnd]!.start).trim(), nesting + 1);
    out += sql.slice(copied, tokens[i]!.start) + rewrite(params, args);
    copied = tokens[argsEnd]!.end;
    i = argsEnd;
  }
  return out + sql.slice(copied);
}

/**
 * `toDateTime(1704067200)` (Grafana's $__timeFilter) reads Unix seconds, which DuckDB will not
 * cast to a timestamp: a number literal there calls fromUnixTimestamp instead.
 */
function unixTimeLiterals(sql: string): string {
  if (!/todatetime/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  let out = '';
  let copied = 0;
  for (let i = 0; i + 2 < tokens.length; i++) {
    const name = tokens[i]!;
    if (!(isWord(name, 'TODATETIME') || isWord(name, 'TODATETIME64')) || tokens[i + 1]!.text !== '(' || tokens[i + 2]!.kind !== 'number') continue;
    out += sql.slice(copied, name.start) + 'fromUnixTimestamp';
    copied = name.end;
  }
  return out + sql.slice(copied);
}

/** `LIMIT n BY`, `LIMIT n OFFSET m BY` or `LIMIT m, n BY` at tokens[at]. */
function limitByShape(tokens: readonly Token[], at: number): { count: number; offset: number; by: number } | undefined {
  const [n, next, m, after] = [tokens[at + 1], tokens[at + 2], tokens[at + 3], tokens[at + 4]];
  if (n?.kind !== 'number') return undefined;
  if (isWord(next, 'BY')) return { count: Number(n.text), offset: 0, by: at + 2 };
  if (m?.kind !== 'number' || !isWord(after, 'BY')) return undefined;
  if (isWord(next, 'OFFSET')) return { count: Number(n.text), offset: Number(m.text), by: at + 4 };
  if (next?.text === ',') return { count: Number(m.text), offset: Number(n.text), by: at + 4 };
  return undefined;
}

/** LIMIT n BY clauses one statement may hold. */
const LIMIT_BY_CLAUSES = 16;

const LIMIT_BY_STOP = ['LIMIT', 'OFFSET', 'UNION', 'EXCEPT', 'INTERSECT', 'SETTINGS', 'FORMAT'];

/**
 * `... ORDER BY o LIMIT n [OFFSET m] BY c` keeps the first n rows (after m) of each c in o's
 * order: DuckDB's `QUALIFY row_number() OVER (PARTITION BY c ORDER BY o)` does exactly that,
 * inserted before the ORDER BY. Where the order of evaluation would differ (DISTINCT, a set
 * operation, an existing QUALIFY), the query is refused rather than answered differently.
 */
function rewriteLimitBy(sql: string): string {
  for (let pass = 0; ; pass++) {
    const tokens = tokenize(sql);
    const at = tokens.findIndex((t, i) => isWord(t, 'LIMIT') && limitByShape(tokens, i) !== undefined);
    if (at < 0) return sql;
    // Each clause is rewritten on the text the last one left: a bound keeps that linear.
    if (pass === LIMIT_BY_CLAUSES) throw new QueryError(`A statement may hold at most ${LIMIT_BY_CLAUSES} LIMIT n BY clauses (BAD_ARGUMENTS)`);
    const depth = tokens[at]!.depth;
    const { count, offset, by } = limitByShape(tokens, at)!;
    if (!Number.isInteger(count) || !Number.isInteger(offset)) throw new QueryError('LIMIT n BY needs whole numbers (SYNTAX_ERROR)');
    let end = by + 1;
    while (end < tokens.length && tokens[end]!.depth >= depth && !(tokens[end]!.depth === depth && (tokens[end]!.text === ';' || LIMIT_BY_STOP.some((w) => isWord(tokens[end], w))))) end++;
    if (end === by + 1) throw new QueryError('LIMIT n BY needs the expressions to group by (SYNTAX_ERROR)');
    let scopeStart = at;
    while (scopeStart > 0 && !(tokens[scopeStart - 1]!.text === '(' && tokens[scopeStart - 1]!.depth === depth - 1)) scopeStart--;
    const scope = tokens.slice(scopeStart, at).filter((t) => t.depth === depth);
    const refuse = ['UNION', 'EXCEPT', 'INTERSECT', 'QUALIFY', 'DISTINCT'].find((w) => scope.some((t) => isWord(t, w)));
    if (refuse) throw new QueryError(`LIMIT n BY together with ${refuse} in the same SELECT is not supported: move the LIMIT BY into a subquery or use QUALIFY row_number() OVER (...) (NOT_IMPLEMENTED)`);
    const orderAt = tokens.findLastIndex((t, i) => i >= scopeStart && i < at && t.depth === depth && isWord(t, 'ORDER') && isWord(tokens[i + 1], 'BY'));
    const groups = sql.slice(tokens[by + 1]!.start, tokens[end - 1]!.end);
    const order = orderAt >= 0 ? ` ORDER BY ${sql.slice(tokens[orderAt + 2]!.start, tokens[at - 1]!.end)}` : '';
    const rowNumber = `row_number() OVER (PARTITION BY ${groups}${order})`;
    const qualify = offset > 0 ? `QUALIFY ${rowNumber} BETWEEN ${offset + 1} AND ${offset + count} ` : `QUALIFY ${rowNumber} <= ${count} `;
    const insertAt = orderAt >= 0 ? tokens[orderAt]!.start : tokens[at]!.start;
    const afterLimitBy = end < tokens.length ? sql.slice(tokens[end]!.start) : '';
    sql = sql.slice(0, insertAt) + qualify + sql.slice(insertAt, tokens[at]!.start) + afterLimitBy;
  }
}

/** The longest statement parsed, as ClickHouse's max_query_size: its rewrites run on the query process's event loop. */
export const MAX_QUERY_BYTES = 262_144;

/** Text shown around a place in a statement: enough to find it, short enough for one line. */
const SHOWN_AROUND = 16;

/**
 * Refuses a statement holding a NUL byte: DuckDB reads SQL as a C string, so it would parse and
 * run only the text before the NUL, while the clauses Inlet takes off the end come after it.
 * The place is told as ClickHouse tells a syntax error's: in bytes from 1.
 */
export function refuseNulBytes(text: string): void {
  const at = text.indexOf('\0');
  if (at < 0) return;
  const lineStart = text.lastIndexOf('\n', at) + 1;
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) line++;
  const near = text
    .slice(Math.max(0, at - SHOWN_AROUND), at + SHOWN_AROUND)
    .replaceAll('\0', '\\0')
    .replace(/\s+/g, ' ');
  throw new QueryError(
    `Syntax error: failed at position ${Buffer.byteLength(text.slice(0, at)) + 1} (line ${line}, col ${Buffer.byteLength(text.slice(lineStart, at)) + 1}) (${near}): the query holds a NUL byte (\\0), and a query may not contain one: write it as chr(0) in SQL, or send the text as a query parameter (param_name) (SYNTAX_ERROR)`,
  );
}

const isName = (token: Token | undefined): token is Token => token?.kind === 'word' || token?.kind === 'quoted';

/**
 * ClickHouse's SHOW DATABASES, SHOW TABLES [FROM|IN db] [LIKE 'pattern'] and DESCRIBE|DESC
 * [TABLE] db.table, which SQL tools send to list what there is, as SELECTs of the system tables
 * (system-tables.ts); undefined for any other statement.
 */
function introspection(sql: string): { sql: string; describes?: TableRef } | undefined {
  // Most statements are SELECTs: they are not tokenized again to learn so.
  if (!/^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:SHOW|DESC)/i.test(sql)) return undefined;
  const tokens = tokenize(sql);
  if (isWord(tokens[0], 'SHOW') && isWord(tokens[1], 'DATABASES') && tokens.length === 2) return { sql: 'SELECT name FROM system.databases ORDER BY name' };
  if (isWord(tokens[0], 'SHOW') && isWord(tokens[1], 'TABLES')) {
    let i = 2;
    const conditions = ["database <> 'system'"];
    if ((isWord(tokens[i], 'FROM') || isWord(tokens[i], 'IN')) && isName(tokens[i + 1])) {
      conditions[0] = `database = ${quoteLiteral(unquote(tokens[i + 1]!))}`;
      i += 2;
    }
    if (isWord(tokens[i], 'LIKE') && tokens[i + 1]?.kind === 'string') {
      conditions.push(`name LIKE ${quoteLiteral(unquote(tokens[i + 1]!))}`);
      i += 2;
    }
    if (i !== tokens.length) throw new QueryError("Syntax error: SHOW TABLES takes [FROM db] [LIKE 'pattern'] only (SYNTAX_ERROR)");
    return { sql: `SELECT name FROM system.tables WHERE ${conditions.join(' AND ')} ORDER BY name` };
  }
  if (isWord(tokens[0], 'DESCRIBE') || isWord(tokens[0], 'DESC')) {
    const i = isWord(tokens[1], 'TABLE') ? 2 : 1;
    const [project, dot, table] = [tokens[i], tokens[i + 1], tokens[i + 2]];
    if (!isName(project) || dot?.text !== '.' || !isName(table) || tokens.length !== i + 3) {
      throw new QueryError('Syntax error: DESCRIBE takes a table named as project.table (SYNTAX_ERROR)');
    }
    return {
      sql:
        "SELECT name, type, default_kind AS default_type, default_expression, comment, '' AS codec_expression, '' AS ttl_expression FROM system.columns " +
        `WHERE database = ${quoteLiteral(unquote(project))} AND "table" = ${quoteLiteral(unquote(table))} ORDER BY position`,
      // The system database is a schema of another name in the sandbox (see systemTableNames).
      describes: { project: unquote(project) === SYSTEM_DATABASE ? SYSTEM_SCHEMA : unquote(project), table: unquote(table) },
    };
  }
  return undefined;
}

/**
 * `system.tables` and its kin as the sandbox names them: DuckDB has a catalog of its own named
 * system, which makes ClickHouse's spelling ambiguous there. In a statement reading
 * system.columns, a bare `table` (ClickHouse's name of a column there, a keyword in DuckDB) is
 * quoted, as tools write `WHERE table = 'events'`.
 */
function systemTableNames(sql: string): string {
  if (!/system/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  const edits: { start: number; end: number; text: string }[] = [];
  let columns = false;
  tokens.forEach((token, i) => {
    const [dot, name] = [tokens[i + 1], tokens[i + 2]];
    if (!isName(token) || unquote(token) !== SYSTEM_DATABASE || dot?.text !== '.' || !isName(name) || tokens[i - 1]?.text === '.') return;
    if (!SYSTEM_TABLE_NAMES.includes(unquote(name))) return;
    edits.push({ start: token.start, end: token.end, text: quoteIdent(SYSTEM_SCHEMA) });
    columns ||= unquote(name) === 'columns';
  });
  if (columns) for (const token of tokens) if (token.kind === 'word' && token.text.toLowerCase() === 'table') edits.push({ start: token.start, end: token.end, text: '"table"' });
  return edits.sort((a, b) => b.start - a.start).reduce((text, edit) => text.slice(0, edit.start) + edit.text + text.slice(edit.end), sql);
}

/** Parses what the caller sent into DuckDB SQL plus the ClickHouse clauses around it. */
export function parseStatement(text: string): Statement {
  refuseNulBytes(text);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_QUERY_BYTES)
    throw new QueryError(`Max query size exceeded: the statement has ${bytes} bytes, at most ${MAX_QUERY_BYTES} (max_query_size); send long lists of values as query parameters (param_name) (SYNTAX_ERROR)`);
  const { sql: body, format, settings } = splitTrailingClauses(text);
  let sql = body;
  const tokens = tokenize(sql);
  const explain = isWord(tokens[0], 'EXPLAIN');
  if (explain) sql = sql.slice((isWord(tokens[1], 'PLAN') ? tokens[1]! : tokens[0]!).end).trim();
  if (sql === '') throw new QueryError('Empty query: send a SELECT statement as the POST body or as ?query=');
  const shown = introspection(sql);
  sql = systemTableNames(shown?.sql ?? sql);
  sql = rewriteLimitBy(rewriteParametric(unixTimeLiterals(clickhouseCalls(clickhouseNames(sql)))));
  return { sql, format, settings, explain, ...(shown?.describes ? { describes: shown.describes } : {}) };
}
