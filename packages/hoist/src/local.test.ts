import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, readFile, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigestFile } from './digest.js';
import { HoistErrorCodes } from './errors.js';
import { downloadArtifact, fetchBytes } from './fetch.js';
import { type ArtifactToVerify, installArtifact } from './install.js';
import { makeArchive, tempDir } from './test-support.js';

const run = promisify(execFile);
const SECRET = 'root:$6$SECRETHASH$abcdefghijklmnop:19000:0:99999:7:::';
let work: { dir: string; cleanup: () => Promise<void> };
/** The allowed directory, and one beside it that is not allowed. */
let allowed: string;
let outside: string;
const fifos: string[] = [];

beforeEach(async () => {
  work = await tempDir('p2t-hoist-local-');
  allowed = join(work.dir, 'artifacts');
  outside = join(work.dir, 'private');
  await mkdir(allowed, { mode: 0o755 });
  await mkdir(outside, { mode: 0o755 });
  await writeFile(join(outside, 'shadow'), `${SECRET}\n`);
});
afterEach(async () => {
  // A reader blocked on a FIFO (a regression) would pin a thread forever: give it a writer.
  for (const fifo of fifos.splice(0)) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader was waiting
    }
  }
  await work.cleanup();
});

/** Settles with the promise's outcome, or fails after `ms` instead of hanging the suite. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function failure(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  const error = await within(2000, promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Record<string, unknown>;
}

/** Everything an error carries that could reach a log or a status record. */
function everything(error: Record<string, unknown>): string {
  return `${String(error.message)} ${String(error.hint)} ${JSON.stringify(error.details)} ${JSON.stringify(error)}`;
}

describe('local locations are refused unless they lie in localRoots', () => {
  it('refuses every local location when no localRoots are given (secure by default)', async () => {
    await writeFile(join(allowed, 'app.digest'), 'x');
    for (const attempt of [
      () => fetchBytes(join(allowed, 'app.digest')),
      () => fetchBytes(`file://${join(allowed, 'app.digest')}`, { localRoots: [] }),
      () => downloadArtifact(join(allowed, 'app.digest'), join(work.dir, 'dl')),
    ]) {
      const error = await failure(attempt());
      expect(error).toMatchObject({
        code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
        message: expect.stringContaining('none are allowed'),
        hint: expect.stringContaining('local_artifact_dirs'),
      });
      expect(error.message).toContain(join(allowed, 'app.digest'));
    }
  });

  it('refuses a path outside the allowed directories, naming it and them, without reading it', async () => {
    const location = join(outside, 'shadow');
    const error = await failure(fetchBytes(location, { localRoots: [allowed] }));
    expect(error).toMatchObject({
      code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
      message: `local location ${location} is refused: it is outside the allowed directories (allowed: ${allowed})`,
      details: { location, allowed: [allowed] },
    });
    expect(everything(error)).not.toContain('SECRETHASH');
    // The same answer whether or not the file exists: no probing of other directories.
    const missing = await failure(fetchBytes(join(outside, 'nope'), { localRoots: [allowed] }));
    expect(missing).toMatchObject({ code: HoistErrorCodes.LOCAL_LOCATION_REFUSED });
  });

  it('refuses ".." that walks out of an allowed directory', async () => {
    const location = `${allowed}/../private/shadow`;
    for (const attempt of [
      () => fetchBytes(location, { localRoots: [allowed] }),
      () => fetchBytes(`file://${location}`, { localRoots: [allowed] }),
    ]) {
      const error = await failure(attempt());
      expect(error).toMatchObject({ code: HoistErrorCodes.LOCAL_LOCATION_REFUSED });
      expect(everything(error)).not.toContain('SECRETHASH');
    }
  });

  it('refuses a symlink inside an allowed directory that points outside it', async () => {
    await symlink(join(outside, 'shadow'), join(allowed, 'app.digest'));
    await mkdir(join(allowed, 'sub'));
    await symlink(outside, join(allowed, 'sub', 'dir')); // a directory link on the way
    for (const location of [join(allowed, 'app.digest'), join(allowed, 'sub/dir/shadow')]) {
      const error = await failure(fetchBytes(location, { localRoots: [allowed] }));
      expect(error).toMatchObject({
        code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
        message: expect.stringContaining('resolves (through a symlink'),
      });
      expect(everything(error)).not.toContain('SECRETHASH');
    }
  });

  it('follows a symlink that stays inside an allowed directory', async () => {
    await writeFile(join(allowed, 'real.digest'), 'content');
    await symlink('real.digest', join(allowed, 'link.digest'));
    const bytes = await fetchBytes(join(allowed, 'link.digest'), { localRoots: [allowed] });
    expect(bytes.toString()).toBe('content');
  });

  it('refuses a relative allowed directory', async () => {
    await writeFile(join(allowed, 'a'), 'x');
    const error = await failure(fetchBytes(join(allowed, 'a'), { localRoots: ['artifacts'] }));
    expect(error).toMatchObject({
      code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
      message: expect.stringContaining('"artifacts" is not absolute'),
    });
  });

  it('says a missing file inside an allowed directory does not exist', async () => {
    await expect(
      fetchBytes(join(allowed, 'nope.digest'), { localRoots: [allowed] }),
    ).rejects.toMatchObject({ code: HoistErrorCodes.ARTIFACT_NOT_FOUND });
  });
});

describe('only regular files are read, without blocking', () => {
  it('refuses a FIFO at once for documents, downloads and installs', async () => {
    const fifo = join(allowed, 'app_1.tar.gz');
    await run('mkfifo', [fifo]);
    fifos.push(fifo);
    const started = performance.now();
    for (const attempt of [
      () => fetchBytes(fifo, { localRoots: [allowed] }),
      () => downloadArtifact(fifo, join(work.dir, 'dl'), { localRoots: [allowed] }),
      () =>
        installArtifact({
          launchableRoot: join(work.dir, 'pod', 'app'),
          launchableId: 'app',
          location: `file://${fifo}`,
          localRoots: [allowed],
        }),
    ]) {
      const error = await failure(attempt());
      expect(error).toMatchObject({
        code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
        message: expect.stringContaining('is not a regular file (a FIFO)'),
      });
    }
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses a directory', async () => {
    await mkdir(join(allowed, 'app.digest'));
    const error = await failure(fetchBytes(join(allowed, 'app.digest'), { localRoots: [allowed] }));
    expect(error).toMatchObject({
      code: HoistErrorCodes.LOCAL_LOCATION_REFUSED,
      message: expect.stringContaining('is not a regular file (a directory)'),
    });
  });
});

describe('documents are bounded', () => {
  it('refuses a digest or signature past maxDocumentBytes, and the default 4 MiB', async () => {
    const path = join(allowed, 'app.digest');
    await writeFile(path, 'x'.repeat(100));
    expect((await fetchBytes(path, { localRoots: [allowed], maxDocumentBytes: 100 })).length).toBe(
      100,
    );
    await expect(
      fetchBytes(path, { localRoots: [allowed], maxDocumentBytes: 99 }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.FETCH_TOO_LARGE,
      details: { limit: 99 },
    });
    await truncate(path, 4 * 1024 * 1024 + 1); // sparse: cheap to make
    await expect(fetchBytes(path, { localRoots: [allowed] })).rejects.toMatchObject({
      code: HoistErrorCodes.FETCH_TOO_LARGE,
      details: { limit: 4 * 1024 * 1024 },
    });
  });

  it('reads an empty file', async () => {
    await writeFile(join(allowed, 'empty'), '');
    expect((await fetchBytes(join(allowed, 'empty'), { localRoots: [allowed] })).length).toBe(0);
  });
});

describe('no message quotes a file', () => {
  it('digest errors name the source, line and expectation, never the content', async () => {
    const location = join(allowed, 'app.digest');
    const hex = 'a'.repeat(64);
    const cases = [
      `${SECRET}\n`,
      `${hex}  ok\n${SECRET.padEnd(80, 'x')}\n`,
      `${hex}  /etc/SECRETHASH\n`,
      `${hex}  ../SECRETHASH\n`,
      `${hex}  SECRETHASH\n${hex} *./SECRETHASH\n`,
    ];
    for (const text of cases) {
      await writeFile(location, text);
      const bytes = await fetchBytes(location, { localRoots: [allowed] });
      let error: Record<string, unknown> | undefined;
      try {
        parseDigestFile(bytes.toString('utf8'), location);
      } catch (e) {
        error = e as Record<string, unknown>;
      }
      expect(error).toMatchObject({
        code: HoistErrorCodes.DIGEST_FILE_INVALID,
        message: expect.stringMatching(new RegExp(`^${location} line \\d`)),
        details: { source: location, line: expect.any(Number) },
      });
      expect(everything(error!)).not.toContain('SECRETHASH');
      expect(everything(error!)).not.toContain('root:');
    }
  });
});

describe('local artifacts are read through one descriptor', () => {
  it('verifies and extracts the bytes it hashed, even when the name is swapped meanwhile', async () => {
    const good = await makeArchive([{ header: { name: 'bin/launch' }, content: 'good' }]);
    const evil = await makeArchive([{ header: { name: 'bin/launch' }, content: 'evil' }]);
    const location = join(allowed, 'app_1.tar.gz');
    await writeFile(location, good);
    const seen: string[] = [];
    const result = await installArtifact({
      launchableRoot: join(work.dir, 'pod', 'app'),
      launchableId: 'app',
      location,
      version: 'v1',
      localRoots: [allowed],
      verifier: {
        async verify(candidate: ArtifactToVerify) {
          await writeFile(`${location}.new`, evil);
          await rename(`${location}.new`, location);
          seen.push(
            createHash('sha256')
              .update(await readFile(candidate.path))
              .digest('hex'),
          );
        },
      },
    });
    expect(seen).toEqual([createHash('sha256').update(good).digest('hex')]);
    expect(result.sha256).toBe(seen[0]);
    expect(await readFile(join(result.installDir, 'bin/launch'), 'utf8')).toBe('good');
  });
});
