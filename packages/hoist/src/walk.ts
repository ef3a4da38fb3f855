import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every entry below `dir` as a path relative to it, depth first, never following symlinks
 * (Node 20's `readdir({ recursive: true })` descends into symlinked directories).
 * @internal
 */
export async function walk(dir: string): Promise<Array<{ relative: string; entry: Dirent }>> {
  const found: Array<{ relative: string; entry: Dirent }> = [];
  const pending = [''];
  while (pending.length > 0) {
    const relative = pending.pop()!;
    const entries = await readdir(relative === '' ? dir : join(dir, relative), {
      withFileTypes: true,
    });
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      found.push({ relative: child, entry });
      if (entry.isDirectory()) pending.push(child);
    }
  }
  return found;
}
