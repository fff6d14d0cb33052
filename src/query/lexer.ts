/**
 * Just enough of a SQL tokenizer to find ClickHouse clauses DuckDB's parser does not know
 * (trailing SETTINGS and FORMAT, LIMIT n BY, parametric aggregates) without being fooled by
 * string literals, quoted names or comments. Everything else is left to DuckDB's parser.
 */
export interface Token {
  readonly kind: 'word' | 'number' | 'string' | 'quoted' | 'punct';
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** Parentheses open before this token; a parenthesis has the depth outside it. */
  readonly depth: number;
}

const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;
const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const SPACE = /\s+/y;

function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  for (;;) {
    const close = sql.indexOf(quote, i);
    if (close < 0) return sql.length;
    if (sql[close + 1] === quote) {
      i = close + 2;
      continue;
    }
    return close + 1;
  }
}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  const match = (re: RegExp): number => {
    re.lastIndex = i;
    return re.test(sql) ? re.lastIndex : -1;
  };
  while (i < sql.length) {
    const ch = sql[i]!;
    let end: number;
    if ((end = match(SPACE)) > 0) {
      i = end;
      continue;
    }
    if (sql.startsWith('--', i)) {
      const newline = sql.indexOf('\n', i);
      i = newline < 0 ? sql.length : newline + 1;
      continue;
    }
    if (sql.startsWith('/*', i)) {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
      continue;
    }
    let kind: Token['kind'];
    if (ch === "'") {
      kind = 'string';
      end = skipQuoted(sql, i, "'");
    } else if (ch === '"' || ch === '`') {
      kind = 'quoted';
      end = skipQuoted(sql, i, ch);
    } else if ((end = match(NUMBER)) > 0) {
      kind = 'number';
    } else if ((end = match(WORD)) > 0) {
      kind = 'word';
    } else {
      kind = 'punct';
      end = i + 1;
    }
    if (ch === ')') depth = Math.max(0, depth - 1);
    tokens.push({ kind, text: sql.slice(i, end), start: i, end, depth });
    if (ch === '(') depth++;
    i = end;
  }
  return tokens;
}

export const isWord = (token: Token | undefined, word: string): boolean => token?.kind === 'word' && token.text.toUpperCase() === word;
