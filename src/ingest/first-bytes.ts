import type { FileHandle } from 'node:fs/promises';

/** The most of a file a look reads: what it looks for, if cut here, is judged on the part it has. */
export const MAX_LOOK = 256 * 1024;
const FIRST_LOOK = 16 * 1024;

/**
 * A file's first bytes: FIRST_LOOK of them, then four times as many at a time up to MAX_LOOK,
 * until `enough` says they hold what the caller looks for (or the file ends). A task looks at
 * up to a thousand files, and a 256 KB buffer for each was most of the time spent looking.
 */
export async function firstBytes(handle: FileHandle, enough: (seen: Buffer) => boolean): Promise<Buffer> {
  let buffer = Buffer.allocUnsafe(FIRST_LOOK);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    length += bytesRead;
    const seen = buffer.subarray(0, length);
    if (bytesRead === 0 || length < buffer.length || buffer.length >= MAX_LOOK || enough(seen)) return seen;
    const grown = Buffer.allocUnsafe(Math.min(buffer.length * 4, MAX_LOOK));
    buffer.copy(grown, 0, 0, length);
    buffer = grown;
  }
}
