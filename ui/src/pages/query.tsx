import { useState } from 'preact/hooks';
import { query, type QueryAnswer } from '../api';
import { TimeChart } from '../chart';
import { number } from '../format';

const TIME_TYPE = /^(Nullable\()?(DateTime|Date)/;
const NUMBER_TYPE = /^(Nullable\()?(U?Int|Float|Decimal)/;

/** A time series: the first column is a time, and at least one other column is a number. */
function seriesOf(answer: QueryAnswer) {
  const [first, ...rest] = answer.meta;
  if (!first || !TIME_TYPE.test(first.type) || answer.data.length < 2) return undefined;
  const numeric = rest.filter((c) => NUMBER_TYPE.test(c.type));
  if (numeric.length === 0) return undefined;
  const times = answer.data.map((row) => Date.parse(`${String(row[first.name]).replace(' ', 'T')}${String(row[first.name]).length <= 10 ? 'T00:00:00' : ''}Z`) / 1000);
  if (times.some(Number.isNaN)) return undefined;
  return { times, series: numeric.map((c) => ({ label: c.name, values: answer.data.map((row) => (row[c.name] == null ? null : Number(row[c.name]))) })) };
}

export function QueryPage() {
  const [sql, setSql] = useState('SELECT 1 AS one');
  const [answer, setAnswer] = useState<QueryAnswer>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setAnswer(await query(sql));
    } catch (err) {
      setAnswer(undefined);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const chart = answer && seriesOf(answer);
  return (
    <section>
      <h2>Query</h2>
      <form onSubmit={run} class="query">
        <textarea name="sql" rows={5} spellcheck={false} value={sql} onInput={(e) => setSql(e.currentTarget.value)} onKeyDown={(e) => e.key === 'Enter' && (e.ctrlKey || e.metaKey) && run(e)} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Run
          </button>
          <span class="muted">Ctrl+Enter runs · the answer is read as FORMAT JSON · a first column of times is charted</span>
        </div>
      </form>
      {error && (
        <pre class="error" role="alert">
          {error}
        </pre>
      )}
      {answer && (
        <>
          <p class="muted stats">
            {number(answer.rows)} rows
            {answer.statistics?.elapsed !== undefined && ` in ${answer.statistics.elapsed.toFixed(3)} s`}
            {answer.statistics?.partitions_read !== undefined && ` · ${answer.statistics.partitions_read} of ${answer.statistics.partitions_considered} partitions read`}
          </p>
          {chart && <TimeChart times={chart.times} series={chart.series} />}
          <div class="scroll">
            <table class="grid result">
              <thead>
                <tr>
                  {answer.meta.map((c) => (
                    <th title={c.type} class={NUMBER_TYPE.test(c.type) ? 'num' : ''}>
                      {c.name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {answer.data.slice(0, 1000).map((row) => (
                  <tr>
                    {answer.meta.map((c) => (
                      <td class={NUMBER_TYPE.test(c.type) ? 'num' : ''}>{row[c.name] == null ? 'NULL' : typeof row[c.name] === 'object' ? JSON.stringify(row[c.name]) : String(row[c.name])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {answer.data.length > 1000 && <p class="muted">Showing the first 1,000 rows: add a LIMIT.</p>}
        </>
      )}
    </section>
  );
}
