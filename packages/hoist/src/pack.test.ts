import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractArchive } from './extract.js';
import { packArtifact } from './pack.js';
import { describeTree, tempDir } from './test-support.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('p2t-pack-'));
});
afterEach(() => cleanup());

/** The headers of a tar (not gzipped), in order. */
async function headers(bytes: Buffer): Promise<tar.Header[]> {
  const extract = tar.extract();
  const out: tar.Header[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      out.push(entry.header);
      entry.resume();
    }
  })();
  extract.end(bytes);
  await done;
  return out;
}

describe('packArtifact', () => {
  it('packs entries into a gzipped tar that hoist extracts, with default modes', async () => {
    const bytes = await packArtifact([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/launch', mode: 0o755, content: '#!/bin/sh\necho hi\n' },
      { name: 'README', content: 'hello' },
      { name: 'bin/start', type: 'symlink', linkname: 'launch' },
    ]);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const archive = join(dir, 'a.tar.gz');
    await writeFile(archive, bytes);
    await extractArchive(archive, join(dir, 'x'));
    expect(await describeTree(join(dir, 'x'))).toEqual([
      'README file 644 5 links=1 68656c6c6f',
      'bin dir 755',
      'bin/launch file 755 18 links=1 23212f62696e2f73680a6563686f2068',
      'bin/start symlink launch',
    ]);
  });

  it('is deterministic: root owner, epoch mtime, entry order kept', async () => {
    const entries = [
      { name: 'b', content: 'x' },
      { name: 'a', content: 'y' },
    ];
    const first = await packArtifact(entries);
    expect(await packArtifact(entries)).toEqual(first);
    const list = await headers(gunzipSync(first));
    expect(list.map((h) => [h.name, h.uid, h.gid, h.mtime?.getTime()])).toEqual([
      ['b', 0, 0, 0],
      ['a', 0, 0, 0],
    ]);
  });

  it('writes a plain tar with gzip: false, and honours mtime', async () => {
    const mtime = new Date(1_600_000_000_000);
    const bytes = await packArtifact([{ name: 'a', content: 'x' }], { gzip: false, mtime });
    const [header] = await headers(bytes);
    expect(header?.mtime).toEqual(mtime);
  });

  it('packs a directory like `tar -C dir .`: ./ root, sorted paths, modes and symlinks from disk', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'bin'), { recursive: true, mode: 0o750 });
    await writeFile(join(src, 'bin', 'launch'), '#!/bin/sh\n', { mode: 0o700 });
    await writeFile(join(src, 'a.txt'), 'a', { mode: 0o600 });
    await symlink('a.txt', join(src, 'link'));
    const bytes = await packArtifact(src, { gzip: false });
    const list = await headers(bytes);
    expect(list.map((h) => [h.name, h.type, (h.mode ?? 0) & 0o777, h.linkname ?? null])).toEqual([
      ['./', 'directory', (await stat(src)).mode & 0o777, null],
      ['./a.txt', 'file', 0o600, null],
      ['./bin/', 'directory', (await stat(join(src, 'bin'))).mode & 0o777, null],
      ['./bin/launch', 'file', 0o700, null],
      ['./link', 'symlink', 0o777, 'a.txt'],
    ]);
    expect(await packArtifact(src, { gzip: false })).toEqual(bytes);
  });

  it('writes output through a rename, mode 0644, and returns the same bytes', async () => {
    const output = join(dir, 'hello_1.tar.gz');
    const bytes = await packArtifact([{ name: 'bin/launch', content: 'x' }], { output });
    expect(await readFile(output)).toEqual(bytes);
    expect((await stat(output)).mode & 0o777).toBe(0o644);
  });
});
