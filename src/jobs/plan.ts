import type { PlannedIndexTask } from '../catalog/tasks.js';
import type { SourceObject } from '../sources/source-url.js';
import { MAX_FILES_PER_TASK } from './settings.js';

/**
 * Groups listed objects, in listing order, into INDEX tasks of at most `aggregationBytes` input
 * (a larger object gets a task of its own) and at most MAX_FILES_PER_TASK files.
 */
export function groupIntoTasks(objects: readonly SourceObject[], aggregationBytes: number): PlannedIndexTask[] {
  const tasks: PlannedIndexTask[] = [];
  let files: SourceObject[] = [];
  let bytes = 0;
  for (const object of objects) {
    if (files.length > 0 && (bytes + object.size > aggregationBytes || files.length >= MAX_FILES_PER_TASK)) {
      tasks.push({ files, bytes });
      files = [];
      bytes = 0;
    }
    files.push({ url: object.url, size: object.size, ...(object.version === undefined ? {} : { version: object.version }) });
    bytes += object.size;
  }
  if (files.length > 0) tasks.push({ files, bytes });
  return tasks;
}
