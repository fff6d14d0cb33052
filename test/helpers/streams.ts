import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Feeds `input` through a stream stage in pieces of `pieceBytes` and answers all it passed on. */
export async function throughPieces(stage: Transform, input: Buffer, pieceBytes = 64 * 1024): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; at += pieceBytes) pieces.push(input.subarray(at, at + pieceBytes));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    stage,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        out.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(out);
}
