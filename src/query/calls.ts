import { isWord, tokenize, type Token } from './lexer.js';

/**
 * ClickHouse function calls whose names DuckDB's grammar reserves or reads otherwise
 * (`any`, `isNull`, `like` are keywords; `position` and `extract` have their own syntax), or
 * that DuckDB spells differently, renamed to DuckDB's functions or the sandbox's macros. Only
 * a name in call position is renamed: `x = ANY (...)`, `x LIKE (...)`, `position(a IN b)`,
 * `extract(hour FROM t)` stay DuckDB's.
 */
const RENAMES: Record<string, { to: string; when?: 'commaArgs' }> = {
  any: { to: 'any_value' },
  isnull: { to: '__inlet_is_null' },
  like: { to: '__inlet_like' },
  ilike: { to: '__inlet_ilike' },
  notlike: { to: '__inlet_not_like' },
  arrayjoin: { to: 'unnest' },
  position: { to: 'strpos', when: 'commaArgs' },
  extract: { to: 'regexp_extract', when: 'commaArgs' },
};

/** Words after which a `name(` is a call, not an operator's operand. */
const CLAUSE_WORDS = new Set(['SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'ON', 'WHEN', 'THEN', 'ELSE', 'HAVING', 'BY', 'DISTINCT', 'QUALIFY']);

/** Whether tokens[i] starts an expression: not the right side of a comparison (`= ANY (...)`) nor of an infix word (`x LIKE (...)`). */
function inCallPosition(tokens: readonly Token[], i: number): boolean {
  const previous = tokens[i - 1];
  if (!previous) return true;
  if (previous.kind === 'punct') return !['=', '<', '>', ')', '.'].includes(previous.text);
  return previous.kind === 'word' && CLAUSE_WORDS.has(previous.text.toUpperCase());
}

/** Whether the call opened at tokens[open] has a comma among its own arguments. */
function hasCommaArgs(tokens: readonly Token[], open: number): boolean {
  const depth = tokens[open]!.depth + 1;
  for (let i = open + 1; i < tokens.length && tokens[i]!.depth >= depth; i++) if (tokens[i]!.depth === depth && tokens[i]!.text === ',') return true;
  return false;
}

function renameCalls(sql: string): string {
  if (!/\b(?:any|isnull|i?like|notlike|arrayjoin|position|extract)\s*\(/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  let out = '';
  let copied = 0;
  for (let i = 0; i + 1 < tokens.length; i++) {
    const token = tokens[i]!;
    const rename = token.kind === 'word' ? RENAMES[token.text.toLowerCase()] : undefined;
    if (!rename || tokens[i + 1]!.text !== '(' || !inCallPosition(tokens, i)) continue;
    if (rename.when === 'commaArgs' && !hasCommaArgs(tokens, i + 1)) continue;
    out += sql.slice(copied, token.start) + rename.to;
    copied = token.end;
  }
  return out + sql.slice(copied);
}

/**
 * ClickHouse's `WITH <expression> AS name [, ...] SELECT ...`: each such name in the query is
 * the expression, parenthesized. `WITH name AS (SELECT ...)` items are DuckDB's CTEs and stay.
 */
function withExpressions(sql: string): string {
  const tokens = tokenize(sql);
  if (!isWord(tokens[0], 'WITH')) return sql;
  const items: { from: number; to: number }[] = [];
  let from = 1;
  let select = -1;
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.depth !== 0) continue;
    if (t.text === ',' || isWord(t, 'SELECT')) {
      if (i > from) items.push({ from, to: i });
      from = i + 1;
      if (isWord(t, 'SELECT')) {
        select = i;
        break;
      }
    }
  }
  if (select < 0) return sql;
  const expressions = new Map<string, string>();
  const kept: { from: number; to: number }[] = [];
  for (const { from, to } of items) {
    const [as, name] = [tokens[to - 2], tokens[to - 1]];
    const cte = tokens[from + 1] !== undefined && isWord(tokens[from + 1], 'AS') && tokens[from + 2]?.text === '(';
    if (!cte && to - from >= 3 && isWord(as, 'AS') && name?.kind === 'word') {
      expressions.set(name.text.toLowerCase(), sql.slice(tokens[from]!.start, as!.start).trim());
    } else kept.push({ from, to });
  }
  if (expressions.size === 0) return sql;
  // Each use of a name, in the CTEs kept as in the SELECT, becomes its expression.
  const substituted = (first: number, last: number): string => {
    let out = '';
    let copied = tokens[first]!.start;
    for (let i = first; i <= last; i++) {
      const t = tokens[i]!;
      const expression = t.kind === 'word' ? expressions.get(t.text.toLowerCase()) : undefined;
      // `x AS name`, `t.name` and `name(` are other names, not a use of the WITH expression.
      if (expression === undefined || isWord(tokens[i - 1], 'AS') || tokens[i - 1]?.text === '.' || tokens[i + 1]?.text === '(') continue;
      out += sql.slice(copied, t.start) + `(${expression})`;
      copied = t.end;
    }
    return out + sql.slice(copied, tokens[last]!.end);
  };
  const ctes = kept.map(({ from, to }) => substituted(from, to - 1));
  return (ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : '') + substituted(select, tokens.length - 1) + sql.slice(tokens.at(-1)!.end);
}

/** ClickHouse's `* EXCEPT (a, b)` and `t.* EXCEPT a` are DuckDB's `* EXCLUDE`: EXCEPT right after a `*` is no set operation. */
function starExcept(sql: string): string {
  if (!/\*\s*except\b/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  let out = '';
  let copied = 0;
  for (let i = 1; i < tokens.length; i++) {
    if (tokens[i - 1]!.text !== '*' || !isWord(tokens[i], 'EXCEPT')) continue;
    out += sql.slice(copied, tokens[i]!.start) + 'EXCLUDE';
    copied = tokens[i]!.end;
  }
  return out + sql.slice(copied);
}

/** ClickHouse's calls, WITH expressions and `* EXCEPT` as DuckDB reads them. */
export function clickhouseCalls(sql: string): string {
  return starExcept(renameCalls(withExpressions(sql)));
}
