/**
 * Property: for any archive — valid, hostile or absurd — extraction never creates anything outside
 * its staging directory, and a refused archive leaves no staging debris.
 */
import { lstat, mkdir, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HoistError } from './errors.js';
import { extractArchive } from './extract.js';
import { makeArchive, type TestEntry, tempDir } from './test-support.js';
import { walk } from './walk.js';

let sandbox: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  sandbox = await tempDir('p2t-hoist-prop-');
});
afterAll(async () => {
  await sandbox.cleanup();
});

const component = fc.constantFrom('a', 'b', 'bin', 'launch', '.', '..', '', 'x y', 'ü');
const relativePath = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));

function pathArb(outside: string) {
  return fc.oneof(
    { weight: 8, arbitrary: relativePath },
    { weight: 1, arbitrary: relativePath.map((p) => `${outside}/${p}`) },
    { weight: 1, arbitrary: relativePath.map((p) => `./${p}/`) },
  );
}

function entryArb(outside: string): fc.Arbitrary<TestEntry> {
  const name = pathArb(outside);
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .record({
          name,
          mode: fc.integer({ min: 0, max: 0o7777 }),
          content: fc.string({ maxLength: 40 }),
        })
        .map(({ name, mode, content }) => ({ header: { name, mode: mode | 0o600 }, content })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({ name, mode: fc.integer({ min: 0, max: 0o7777 }) })
        .map(({ name, mode }) => ({
          header: { name, type: 'directory' as const, mode: mode | 0o700 },
        })),
    },
    {
      weight: 3,
      arbitrary: fc.record({ name, target: pathArb(outside) }).map(({ name, target }) => ({
        header: { name, type: 'symlink' as const, linkname: target },
      })),
    },
    {
      weight: 2,
      arbitrary: fc.record({ name, target: pathArb(outside) }).map(({ name, target }) => ({
        header: { name, type: 'link' as const, linkname: target },
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          name,
          type: fc.constantFrom(
            'fifo' as const,
            'character-device' as const,
            'block-device' as const,
          ),
        })
        .map(({ name, type }) => ({ header: { name, type } })),
    },
  );
}

/** Everything in the sandbox except the staging directory's contents. */
async function snapshotOutside(root: string, staging: string): Promise<string[]> {
  return (await walk(root))
    .map((item) => item.relative)
    .filter((relative) => {
      const path = join(root, relative);
      return path !== staging && !path.startsWith(`${staging}/`);
    })
    .sort();
}

describe('extraction property (fast-check)', () => {
  it('never writes outside the staging directory and leaves no debris on failure', async () => {
    const root = join(sandbox.dir, 'r');
    const outside = join(root, 'outside');
    const stageParent = join(root, 'p', 'q', 'stage-parent');
    const staging = join(stageParent, 'staging');
    await mkdir(outside, { recursive: true });
    await mkdir(stageParent, { recursive: true });
    await writeFile(join(outside, 'sentinel'), 'do not touch');
    const archivePath = join(sandbox.dir, 'archive.tar.gz');
    const before = await snapshotOutside(root, staging);
    let refused = 0;
    let installed = 0;

    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb(outside), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (entries, gzip) => {
          await writeFile(archivePath, await makeArchive(entries, { gzip }));
          await rm(staging, { recursive: true, force: true }); // a failed earlier run must not leak state
          try {
            await extractArchive(archivePath, staging);
            installed++;
            for (const { relative, entry } of await walk(staging)) {
              const path = join(staging, relative);
              if (entry.isSymbolicLink()) {
                const resolved = await realpath(path).catch(() => undefined);
                if (resolved !== undefined) expect(resolved.startsWith(staging)).toBe(true);
              } else {
                expect((await lstat(path)).mode & 0o6000).toBe(0);
              }
              expect(entry.isFIFO() || entry.isCharacterDevice() || entry.isBlockDevice()).toBe(
                false,
              );
            }
          } catch (error) {
            if (!(error instanceof HoistError)) throw error;
            refused++;
            expect(await readdir(stageParent)).toEqual([]);
          }
          expect(await snapshotOutside(root, staging)).toEqual(before);
          await rm(staging, { recursive: true, force: true });
        },
      ),
      { numRuns: 2000 },
    );
    // Both outcomes must actually have been exercised.
    expect(installed).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  }, 120_000);
});
