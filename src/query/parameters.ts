import { QueryError } from '../errors.js';
import { quoteIdent, quoteLiteral } from '../transform/compile.js';
import { tokenize } from './lexer.js';

/**
 * ClickHouse's query parameters: `{name:Type}` in the SQL, its value in the `param_name` URL
 * parameter, written in ClickHouse's escaped text form (as its clients send them). Each value
 * is checked against its type and becomes a DuckDB literal: a value is only ever data, never SQL.
 */

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', r: '\r', n: '\n', t: '\t', '0': '\0', a: '\x07', v: '\v' };
/** ClickHouse's escaped text: a backslash escapes the character after it. */
const unescape = (text: string) => text.replace(/\\(.)/gs, (_, ch: string) => ESCAPES[ch] ?? ch);

const INTEGER = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const FLOAT_WORDS: Record<string, string> = { nan: "'NaN'::DOUBLE", inf: "'Infinity'::DOUBLE", '+inf': "'Infinity'::DOUBLE", '-inf': "'-Infinity'::DOUBLE" };
const UNIX_TIME = /^\d+(?:\.\d+)?$/;

/**
 * A string literal of any text. DuckDB reads SQL only up to a NUL byte, so a NUL (`\0` in
 * ClickHouse's escaped form) is spelled chr(0): the value keeps it, and the SQL holds none.
 */
function textLiteral(text: string): string {
  if (!text.includes('\0')) return quoteLiteral(text);
  return `(${text.split('\0').map(quoteLiteral).join(' || chr(0) || ')})`;
}

const invalid = (name: string, type: string, value: string, fix: string) => new QueryError(`Query parameter param_${name}=${value} is not a valid ${type}: ${fix} (BAD_ARGUMENTS)`);

/** The text of a value that names or dates something, where a NUL byte is never part of it (DuckDB would read a date up to it). */
function withoutNul(name: string, type: string, value: string): string {
  const text = unescape(value);
  if (text.includes('\0')) throw invalid(name, type, value, `a ${type} may not hold a NUL byte`);
  return text;
}

/** The DuckDB literal for one value of a ClickHouse type. */
function literal(name: string, type: string, value: string): string {
  const nullable = /^Nullable\((.*)\)$/s.exec(type);
  if (nullable) return value === '\\N' || value === 'NULL' ? 'NULL' : literal(name, nullable[1]!.trim(), value);
  const lowCardinality = /^LowCardinality\((.*)\)$/s.exec(type);
  if (lowCardinality) return literal(name, lowCardinality[1]!.trim(), value);
  const array = /^Array\((.*)\)$/s.exec(type);
  if (array)
    return `[${arrayElements(name, type, value)
      .map((v) => literal(name, array[1]!.trim(), v))
      .join(', ')}]`;
  if (/^(?:String|FixedString\(\d+\)|UUID|IPv4|IPv6|Enum(?:8|16)?\(.*\))$/s.test(type)) return textLiteral(unescape(value));
  if (/^U?Int(?:8|16|32|64|128|256)$/.test(type)) {
    if (!INTEGER.test(value)) throw invalid(name, type, value, 'send a whole number');
    const duckType = `${type.startsWith('U') ? 'U' : ''}${/128|256/.test(type) ? 'HUGEINT' : 'BIGINT'}`;
    return `CAST(${quoteLiteral(value)} AS ${duckType})`;
  }
  if (/^(?:Float32|Float64|Decimal(?:32|64|128)?\(.*\))$/.test(type)) {
    if (FLOAT_WORDS[value.toLowerCase()]) return FLOAT_WORDS[value.toLowerCase()]!;
    if (!FLOAT.test(value)) throw invalid(name, type, value, 'send a number');
    return `CAST(${quoteLiteral(value)} AS DOUBLE)`;
  }
  if (type === 'Bool' || type === 'Boolean') {
    const v = value.toLowerCase();
    if (v === '1' || v === 'true') return 'true';
    if (v === '0' || v === 'false') return 'false';
    throw invalid(name, type, value, 'send true, false, 1 or 0');
  }
  if (type === 'Date' || type === 'Date32') return `CAST(${quoteLiteral(withoutNul(name, type, value))} AS DATE)`;
  if (/^DateTime(?:64)?(?:\(.*\))?$/s.test(type)) {
    // Clients send a JavaScript Date as Unix seconds (with milliseconds after a dot).
    if (UNIX_TIME.test(value)) return `CAST(to_timestamp(${Number(value)}) AS TIMESTAMP)`;
    return `CAST(${quoteLiteral(withoutNul(name, type, value))} AS TIMESTAMP)`;
  }
  if (type === 'Identifier') return quoteIdent(withoutNul(name, type, value));
  throw new QueryError(
    `Query parameter {${name}:${type}} has a type Inlet does not bind: use String, (U)Int*, Float*, Decimal, Bool, Date, DateTime, DateTime64, Identifier, Nullable(...) or Array(...) of them (NOT_IMPLEMENTED)`,
  );
}

/** `['a','b\'c',NULL]` or `[1,2]` as its elements in escaped text form (quotes taken off). */
function arrayElements(name: string, type: string, value: string): string[] {
  const text = value.trim();
  if (!text.startsWith('[') || !text.endsWith(']')) throw invalid(name, type, value, "send it as [1,2] or ['a','b']");
  const elements: string[] = [];
  let i = 1;
  const end = text.length - 1;
  while (i < end) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (i >= end) break;
    if (text[i] === "'") {
      let j = i + 1;
      while (j < end && text[j] !== "'") j += text[j] === '\\' ? 2 : 1;
      if (j >= end) throw invalid(name, type, value, 'close each quoted element');
      elements.push(text.slice(i + 1, j));
      i = j + 1;
    } else {
      let j = i;
      while (j < end && text[j] !== ',') j++;
      const bare = text.slice(i, j).trim();
      elements.push(bare === 'NULL' ? '\\N' : bare);
      i = j;
    }
  }
  return elements;
}

/** `param_name` URL parameters by name. */
export function parameterValues(url: Readonly<Record<string, string>>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(url)) if (key.startsWith('param_')) values[key.slice('param_'.length)] = value;
  return values;
}

/** The SQL with each `{name:Type}` outside strings and quoted names replaced by its value's literal. */
export function bindParameters(sql: string, values: Readonly<Record<string, string>>): string {
  if (!sql.includes('{')) return sql;
  const tokens = tokenize(sql);
  let bound = '';
  let copied = 0;
  for (let i = 0; i < tokens.length; i++) {
    // A type is a name: `{a: 1}` is a DuckDB struct, not a parameter.
    if (tokens[i]!.text !== '{' || tokens[i + 1]?.kind !== 'word' || tokens[i + 2]?.text !== ':' || tokens[i + 3]?.kind !== 'word') continue;
    const close = tokens.findIndex((t, j) => j > i + 2 && t.text === '}');
    if (close < 0) break;
    const name = tokens[i + 1]!.text;
    const type = sql.slice(tokens[i + 2]!.end, tokens[close]!.start).trim();
    const value = values[name];
    if (value === undefined) throw new QueryError(`Substitution {${name}:${type}} is not set: send its value as the URL parameter param_${name} (UNKNOWN_QUERY_PARAMETER)`);
    bound += sql.slice(copied, tokens[i]!.start) + literal(name, type, value);
    copied = tokens[close]!.end;
    i = close;
  }
  return bound + sql.slice(copied);
}
