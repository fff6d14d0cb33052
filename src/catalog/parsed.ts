import type { JobSettings } from '../jobs/settings.js';
import type { Transform } from '../transform/model.js';
import { validateTransform, type ValidatedTransform } from '../transform/validate.js';
import type { JobRow, TransformRow } from './schema.js';

// The catalog keeps job settings and transforms as JSON text; this is the one place that text
// becomes the typed objects the rest of Inlet works with, so no caller parses it itself.

/** A job's settings, normalised (defaults filled in) when the job was created, so read as they are. */
export function jobSettingsOf(job: Pick<JobRow, 'settings'>): JobSettings {
  return JSON.parse(job.settings) as JobSettings;
}

/** What a job keeps of its transform when it is created: a later edit of the transform does not change a job already made. */
export function jobTransformDoc(row: Pick<TransformRow, 'type' | 'settings'>): string {
  return JSON.stringify({ type: row.type, settings: JSON.parse(row.settings) as unknown });
}

/**
 * The transform a job was created with, validated again: it may have been stored before the
 * checks it must pass now (a sql_transform is still to be checked by checkSqlTransform).
 */
export function jobTransformOf(job: Pick<JobRow, 'transform_doc'>): Transform {
  const doc = JSON.parse(job.transform_doc) as { type: unknown; settings: unknown };
  return validateTransform(doc.type, doc.settings).transform;
}

/** A saved transform, validated into the model; it may have been stored before the checks it must pass now. */
export function storedTransform(row: Pick<TransformRow, 'type' | 'settings'>): ValidatedTransform {
  return validateTransform(row.type, JSON.parse(row.settings));
}

/** How many saved transforms a process keeps validated: far more than a dashboard's tables. */
export const PARSED_TRANSFORMS_KEPT = 1000;

type StoredRow = Pick<TransformRow, 'id' | 'modified' | 'type' | 'settings'>;

/**
 * Saved transforms, validated once per version: validating one costs more than the catalog
 * query that read it, and a table list validates every table's default transform. An entry is
 * used only while the row's modified time and text are those it was made from, so an edit made
 * by any process is seen at once. Created in service.ts and passed in.
 */
export class ParsedTransforms {
  private readonly entries = new Map<string, { row: StoredRow; parsed: ValidatedTransform }>();

  constructor(private readonly maxEntries: number) {}

  of(row: StoredRow): ValidatedTransform {
    const entry = this.entries.get(row.id);
    if (entry && entry.row.modified === row.modified && entry.row.type === row.type && entry.row.settings === row.settings) return entry.parsed;
    // A row that no longer validates throws here each time, as it did before it was cached.
    const parsed = storedTransform(row);
    this.entries.delete(row.id);
    // Oldest first out: Map keeps insertion order.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(row.id, { row: { id: row.id, modified: row.modified, type: row.type, settings: row.settings }, parsed });
    return parsed;
  }
}
