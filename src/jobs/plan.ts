import type { PlannedIndexTask } from '../catalog/tasks.js';
import type { SourceObject } from '../sources/source-url.js';
import { MAX_FILES_PER_TASK } from './settings.js';

/**
 * Groups listed objects, as they come, into INDEX tasks of at most `aggregationBytes` input (a
 * larger object gets a task of its own) and at most MAX_FILES_PER_TASK files. A task is handed
 * out as soon as the next object does not fit in it, so a listing of millions of objects has
 * tasks to run long before it ends.
 */
export class TaskGrouper {
  private files: SourceObject[] = [];
  private bytes = 0;

  constructor(private readonly aggregationBytes: number) {}

  /** Objects added but not yet in a task handed out. */
  get pending(): number {
    return this.files.length;
  }

  /** Adds the next object; answers the task it closed, if it did not fit in the open one. */
  add(object: SourceObject): PlannedIndexTask | undefined {
    let closed: PlannedIndexTask | undefined;
    if (this.files.length > 0 && (this.bytes + object.size > this.aggregationBytes || this.files.length >= MAX_FILES_PER_TASK)) closed = this.flush();
    this.files.push({ url: object.url, size: object.size, ...(object.version === undefined ? {} : { version: object.version }) });
    this.bytes += object.size;
    return closed;
  }

  /** The open task, if any: the listing ended. */
  flush(): PlannedIndexTask | undefined {
    if (this.files.length === 0) return undefined;
    const task = { files: this.files, bytes: this.bytes };
    this.files = [];
    this.bytes = 0;
    return task;
  }
}

/** Groups listed objects, in listing order, into INDEX tasks (see TaskGrouper). */
export function groupIntoTasks(objects: readonly SourceObject[], aggregationBytes: number): PlannedIndexTask[] {
  const grouper = new TaskGrouper(aggregationBytes);
  const tasks = objects.flatMap((object) => grouper.add(object) ?? []);
  const last = grouper.flush();
  return last ? [...tasks, last] : tasks;
}
