import { copyFileSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Puts objects straight into s3rver's storage directory (`<dir>/<bucket>/<key>._S3rver_object`),
 * because uploading 100,000 objects over HTTP would measure s3rver, not Inlet.
 */
export function seedObject(s3Dir: string, bucket: string, key: string, content: { file: string } | { text: string }): void {
  const objectPath = path.join(s3Dir, bucket, `${key}._S3rver_object`);
  mkdirSync(path.dirname(objectPath), { recursive: true });
  if ('file' in content) {
    try {
      linkSync(content.file, objectPath);
    } catch {
      copyFileSync(content.file, objectPath);
    }
  } else {
    writeFileSync(objectPath, content.text);
  }
  // s3rver computes a missing MD5 (the ETag) on every listing; any hex string will do here.
  writeFileSync(`${objectPath}.md5`, '00000000000000000000000000000000');
}
