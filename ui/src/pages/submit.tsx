import { useState } from 'preact/hooks';
import { api, orgPath, type Job } from '../api';

/** The create-job form: the reference body, with the settings people change most. */
export function SubmitJob({ onSubmitted }: { onSubmitted: () => void }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ name: '', table: '', transform: '', url: '', max_files: '', regex_filter: '', more: '', dry_run: false });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const field = (key: keyof typeof form) => ({
    name: key,
    value: form[key] as string,
    onInput: (e: { currentTarget: HTMLInputElement }) => setForm({ ...form, [key]: e.currentTarget.value }),
  });
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    let more: Record<string, unknown> = {};
    try {
      more = form.more.trim() ? (JSON.parse(form.more) as Record<string, unknown>) : {};
      if (typeof more !== 'object' || more === null || Array.isArray(more)) throw new Error('it is not an object');
    } catch (err) {
      setError(`More settings must be a JSON object of job settings, like {"input_concurrency": 4}: ${(err as Error).message}`);
      setBusy(false);
      return;
    }
    const settings: Record<string, unknown> = {
      ...more,
      source: {
        table: form.table.trim(),
        type: 'batch',
        subtype: 'aws s3',
        ...(form.transform.trim() ? { transform: form.transform.trim() } : {}),
        settings: { url: form.url.trim() },
      },
    };
    if (form.max_files.trim()) settings.max_files = Number(form.max_files);
    if (form.regex_filter) settings.regex_filter = form.regex_filter;
    if (form.dry_run) settings.dry_run = true;
    try {
      const job = await api<Job>('POST', orgPath('/jobs/batch/'), { name: form.name.trim(), type: 'batch_import', settings });
      onSubmitted();
      location.hash = `#/jobs/${job.uuid}`;
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  if (!open) {
    return (
      <button class="primary" onClick={() => setOpen(true)}>
        New job
      </button>
    );
  }
  return (
    <form class="card submit" onSubmit={submit}>
      <h3>New batch job</h3>
      <div class="fields">
        <label>
          Name <input {...field('name')} required placeholder="load january" />
        </label>
        <label>
          Table <input {...field('table')} required placeholder="project.table" />
        </label>
        <label>
          Transform <input {...field('transform')} placeholder="the table's default" />
        </label>
        <label class="wide">
          URL <input {...field('url')} required placeholder="s3://bucket/prefix/ or file:///dir/" />
        </label>
        <label>
          Max files <input {...field('max_files')} inputMode="numeric" placeholder="0 (all)" />
        </label>
        <label>
          Regex filter <input {...field('regex_filter')} placeholder="RE2, on the full URL" />
        </label>
        <label class="wide">
          More settings (JSON){' '}
          <textarea name="more" rows={2} value={form.more} onInput={(e) => setForm({ ...form, more: e.currentTarget.value })} placeholder='{"input_concurrency": 4, "max_minutes_per_partition": 60}' />
        </label>
        <label class="check">
          <input type="checkbox" name="dry_run" checked={form.dry_run} onChange={(e) => setForm({ ...form, dry_run: e.currentTarget.checked })} /> Dry run
        </label>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Submit
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
