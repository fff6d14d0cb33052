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

const nameOf = (token: Token | undefined): string | undefined => (token?.kind === 'word' ? token.text : token?.kind === 'quoted' && token.text.startsWith('"') ? token.text.slice(1, -1).replaceAll('""', '"') : undefined);

interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** For each SELECT: its `expr AS name` items, then bare `name`s in its GROUP BY and HAVING become the expression. */
function aliasesFirst(sql: string): string {
  if (!/\bas\b/i.test(sql) || !/\b(?:group|having)\b/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  // Where each parenthesis closes: a SELECT walks only its own level, jumping over nested ones,
  // so the whole pass stays linear in the text however deeply subqueries nest.
  const closeAt: number[] = [];
  const open: number[] = [];
  tokens.forEach((t, i) => {
    if (t.text === '(') open.push(i);
    else if (t.text === ')' && open.length > 0) closeAt[open.pop()!] = i;
  });
  const replacements: Replacement[] = [];
  for (let s = 0; s < tokens.length; s++) {
    if (!isWord(tokens[s], 'SELECT')) continue;
    const depth = tokens[s]!.depth;
    const level: number[] = [];
    // Index of the first token past this SELECT.
    let scopeEnd = s + 1;
    for (let i = s + 1; i < tokens.length; i++, scopeEnd = i) {
      const t = tokens[i]!;
      if (t.depth < depth || (t.depth === depth && ['UNION', 'EXCEPT', 'INTERSECT'].some((w) => isWord(t, w)))) break;
      level.push(i);
      if (t.text === '(') i = closeAt[i] ?? tokens.length;
    }
    const clauseAt = (word: string, from: number) => level.findIndex((i, k) => k >= from && isWord(tokens[i], word));
    const from = clauseAt('FROM', 0);
    const listEnd = from >= 0 ? from : level.length;
    const aliases = new Map<string, string>();
    let itemStart = 0;
    for (let k = 0; k <= listEnd; k++) {
      if (k < listEnd && tokens[level[k]!]!.text !== ',') continue;
      const [as, name] = [tokens[level[k - 2] ?? -1], tokens[level[k - 1] ?? -1]];
      const alias = nameOf(name);
      if (k - 2 > itemStart && isWord(as, 'AS') && alias !== undefined) aliases.set(alias, sql.slice(tokens[level[itemStart]!]!.start, as!.start).trim());
      itemStart = k + 1;
    }
    if (aliases.size === 0) continue;
    const replace = (i: number) => {
      const token = tokens[i]!;
      const expr = aliases.get(nameOf(token) ?? '');
      // Only a whole name: not a qualified one (t.x) or a function (x(...)).
      if (expr === undefined || tokens[i - 1]?.text === '.' || tokens[i + 1]?.text === '.' || tokens[i + 1]?.text === '(') return;
      replacements.push({ start: token.start, end: token.end, text: `(${expr})` });
    };
    const clauseEnd = (k: number) => {
      while (k < level.length && !CLAUSE_ENDS.some((w) => isWord(tokens[level[k]!], w))) k++;
      return k;
    };
    const group = clauseAt('GROUP', listEnd);
    if (group >= 0) {
      const groupEnd = clauseEnd(group + 2);
      for (let k = group + 2; k < groupEnd; k++) replace(level[k]!);
    }
    const having = clauseAt('HAVING', listEnd);
    if (having >= 0) {
      // Inside HAVING an alias may sit in any expression: every token up to the next clause.
      const stop = level[clauseEnd(having + 1)] ?? scopeEnd;
      for (let i = level[having]! + 1; i < stop; i++) {
        // A subquery's names are its own (and it is walked as its own SELECT).
        if (tokens[i]!.text === '(' && (isWord(tokens[i + 1], 'SELECT') || isWord(tokens[i + 1], 'WITH'))) i = closeAt[i] ?? tokens.length;
        else replace(i);
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
