import { QueryError } from '../errors.js';
import { formatWriter } from './output.js';
import type { QueryExecution } from './run.js';

/**
 * The formatted answer, piece by piece as DuckDB hands over its chunks, with the result
 * limits checked on the way. Closes the execution however it ends (done, failed, abandoned).
 */
export async function* resultBody(execution: QueryExecution): AsyncGenerator<string> {
  const { maxResultRows, maxResultBytes } = execution.settings;
  const writer = formatWriter(execution.format, execution.columns, { quote64BitIntegers: execution.settings.quote64BitIntegers });
  let rows = 0;
  let bytes = 0;
  const counted = (text: string): string => {
    bytes += Buffer.byteLength(text);
    if (maxResultBytes > 0 && bytes > maxResultBytes) {
      throw new QueryError(`Limit for result exceeded: the answer is over hdx_query_max_result_bytes=${maxResultBytes} bytes; select fewer rows or columns (TOO_MANY_ROWS_OR_BYTES)`);
    }
    return text;
  };
  try {
    yield counted(writer.header());
    try {
      for await (const batch of execution.batches) {
        rows += batch.length;
        if (maxResultRows > 0 && rows > maxResultRows) {
          throw new QueryError(`Limit for result exceeded: the answer has more than hdx_query_max_result_rows=${maxResultRows} rows; add a LIMIT or narrow the query (TOO_MANY_ROWS_OR_BYTES)`);
        }
        yield counted(writer.rows(batch));
      }
    } catch (err) {
      throw err instanceof QueryError ? err : execution.describeError(err);
    }
    yield counted(writer.footer(rows, execution.statistics()));
  } finally {
    execution.close();
  }
}

export const contentTypeOf = (execution: QueryExecution): string => formatWriter(execution.format, execution.columns).contentType;
