import { isWord, tokenize, type Token } from './lexer.js';

/**
 * ClickHouse names as DuckDB reads them: `backtick` names become "quoted" names, and an alias
 * of the SELECT list wins over a column of the same name in GROUP BY and HAVING, as ClickHouse
 * resolves aliases (DuckDB binds a column first there, which groups by the raw column).
 */
export function clickhouseNames(sql: string): string {
  return aliasesFirst(backticksToQuotes(sql));
}

function backticksToQuotes(sql: string): string {
  if (!sql.includes('`')) return sql;
  let out = '';
  let copied = 0;
  for (const token of tokenize(sql)) {
    if (token.kind !== 'quoted' || !token.text.startsWith('`')) continue;
    const name = token.text.slice(1, token.text.endsWith('`') && token.text.length > 1 ? -1 : undefined).replaceAll('``', '`');
    out += sql.slice(copied, token.start) + `"${name.replaceAll('"', '""')}"`;
    copied = token.end;
  }
  return out + sql.slice(copied);
}

const CLAUSE_ENDS = ['FROM', 'WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'QUALIFY', 'WINDOW', 'UNION', 'EXCEPT', 'INTERSECT', 'SETTINGS', 'FORMAT'];

const nameOf = (token: Token | undefined): string | undefined =>
  token?.kind === 'word' ? token.text : token?.kind === 'quoted' && token.text.startsWith('"') ? token.text.slice(1, -1).replaceAll('""', '"') : undefined;

interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** For each SELECT: its `expr AS name` items, then bare `name`s in its GROUP BY and HAVING become the expression. */
function aliasesFirst(sql: string): string {
  if (!/\bas\b/i.test(sql) || !/\b(?:group|having)\b/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  const replacements: Replacement[] = [];
  for (let s = 0; s < tokens.length; s++) {
    if (!isWord(tokens[s], 'SELECT')) continue;
    const depth = tokens[s]!.depth;
    // This SELECT's tokens: up to the parenthesis that closes its scope.
    let end = s + 1;
    while (end < tokens.length && !(tokens[end]!.depth < depth || (tokens[end]!.text === ')' && tokens[end]!.depth === depth - 1))) end++;
    const atDepth = (i: number) => tokens[i]!.depth === depth;
    const clauseAt = (word: string, from: number) => {
      for (let i = from; i < end; i++) if (atDepth(i) && isWord(tokens[i], word)) return i;
      return -1;
    };
    const from = clauseAt('FROM', s + 1);
    const listEnd = from >= 0 ? from : end;
    const aliases = new Map<string, string>();
    let itemStart = s + 1;
    for (let i = s + 1; i <= listEnd; i++) {
      if (i < listEnd && !(atDepth(i) && tokens[i]!.text === ',')) continue;
      const [as, name] = [tokens[i - 2], tokens[i - 1]];
      const alias = nameOf(name);
      if (i - 2 > itemStart && isWord(as, 'AS') && alias !== undefined) aliases.set(alias, sql.slice(tokens[itemStart]!.start, as!.start).trim());
      itemStart = i + 1;
    }
    if (aliases.size === 0) continue;
    for (const clause of ['GROUP', 'HAVING']) {
      const at = clauseAt(clause, listEnd);
      if (at < 0) continue;
      let i = at + (clause === 'GROUP' ? 2 : 1);
      for (; i < end && !(atDepth(i) && CLAUSE_ENDS.some((w) => isWord(tokens[i], w))); i++) {
        const token = tokens[i]!;
        const expr = aliases.get(nameOf(token) ?? '');
        // Only a whole name: not a qualified one (t.x), a function (x(...)) or a subquery's.
        if (expr === undefined || tokens[i - 1]?.text === '.' || tokens[i + 1]?.text === '.' || tokens[i + 1]?.text === '(') continue;
        if (token.depth !== depth && !(clause === 'HAVING')) continue;
        replacements.push({ start: token.start, end: token.end, text: `(${expr})` });
      }
    }
  }
  if (replacements.length === 0) return sql;
  replacements.sort((a, b) => a.start - b.start);
  let out = '';
  let copied = 0;
  for (const r of replacements) {
    if (r.start < copied) continue;
    out += sql.slice(copied, r.start) + r.text;
    copied = r.end;
  }
  return out + sql.slice(copied);
}
