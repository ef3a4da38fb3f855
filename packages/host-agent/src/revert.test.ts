import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabelStore, podLabelId } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test-support/host-test.js';
import {
  podLabelsWithin,
  REVERT_AFTER_LABEL,
  RevertMemory,
  RevertWaits,
  revertDeadlineMs,
} from './revert.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-revert-deadline-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('revertDeadlineMs with podLabelsWithin', () => {
  it("takes the pod's p2.io/revert-after label on this node, else the configured default", async () => {
    const server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
    const store = createStore(`consul://127.0.0.1:${server.port}`);
    try {
      const labels = new LabelStore(store);
      expect(revertDeadlineMs(await podLabelsWithin(store, 'p2t-n1', 'p2t-web'), 60_000)).toBe(
        60_000,
      );
      await labels.setLabel('pod', podLabelId('p2t-n1', 'p2t-web'), REVERT_AFTER_LABEL, '90s');
      expect(revertDeadlineMs(await podLabelsWithin(store, 'p2t-n1', 'p2t-web'), 60_000)).toBe(
        90_000,
      );
      // Another node's label is not this node's.
      expect(revertDeadlineMs(await podLabelsWithin(store, 'p2t-n2', 'p2t-web'), 60_000)).toBe(
        60_000,
      );
      await labels.setLabel('pod', podLabelId('p2t-n1', 'p2t-web'), REVERT_AFTER_LABEL, '0');
      expect(revertDeadlineMs(await podLabelsWithin(store, 'p2t-n1', 'p2t-web'), 60_000)).toBe(0);
      await labels.setLabel('pod', podLabelId('p2t-n1', 'p2t-web'), REVERT_AFTER_LABEL, 'soon');
      expect(revertDeadlineMs(await podLabelsWithin(store, 'p2t-n1', 'p2t-web'), 60_000)).toBe(
        60_000,
      );
    } finally {
      await store.close();
      await server.close();
    }
  });

  it('falls back to the default when the store does not answer', async () => {
    const store = createStore(`consul://127.0.0.1:${await freePort()}`);
    try {
      expect(revertDeadlineMs(await podLabelsWithin(store, 'p2t-n1', 'p2t-web'), 45_000)).toBe(
        45_000,
      );
    } finally {
      await store.close();
    }
  });
});

describe('RevertWaits', () => {
  it('lives beside the state file, and concurrent writes leave the last state on disk', async () => {
    const file = join(dir, 'waits', 'reverted.json');
    const waits = new RevertWaits(file);
    const wait = (i: number) => ({ sha: String(i).repeat(64), previous: 'aWQ6IHgK', deadline: i });
    // Twenty pod workers start their waits at once, then half of them end theirs at once.
    await Promise.all(Array.from({ length: 20 }, (_, i) => waits.set(`p2t-w${i}`, wait(i))));
    const ends = Array.from({ length: 10 }, (_, i) => waits.set(`p2t-w${i}`, undefined));
    const more = waits.set('p2t-late', wait(99));
    await Promise.all([...ends, more]);
    const onDisk = JSON.parse(await readFile(`${file}.waits`, 'utf8'));
    expect(Object.keys(onDisk).sort()).toEqual(
      [...Array.from({ length: 10 }, (_, i) => `p2t-w${i + 10}`), 'p2t-late'].sort(),
    );
    const again = new RevertWaits(file);
    await again.load();
    expect(again.get('p2t-w15')).toEqual(wait(15));
    expect(again.get('p2t-w5')).toBeUndefined();
    // An entry that is not a wait is ignored.
    await writeFile(`${file}.waits`, JSON.stringify({ a: { sha: 1 }, b: wait(2) }));
    const third = new RevertWaits(file);
    await third.load();
    expect([third.get('a'), third.get('b')]).toEqual([undefined, wait(2)]);
  });
});

describe('RevertMemory', () => {
  it('keeps reverted SHAs in a root-only file across instances, and forgets them', async () => {
    const file = join(dir, 'state', 'reverted.json');
    const memory = new RevertMemory(file);
    const entry = { sha: 'a'.repeat(64), to: 'b'.repeat(64), reason: 'HTTP 500', time: 'x' };
    await memory.set('p2t-web', entry);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = new RevertMemory(file);
    await again.load();
    expect(again.get('p2t-web')).toEqual(entry);
    await again.set('p2t-web', undefined);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({});
  });

  it('refuses a state directory others can write, and a state file that is a symlink', async () => {
    const open = join(dir, 'open');
    await mkdir(open, { mode: 0o777 });
    await chmod(open, 0o777);
    const entry = { sha: 'a'.repeat(64), to: 'b'.repeat(64), reason: 'HTTP 500', time: 'x' };
    await expect(
      new RevertMemory(join(open, 'reverted.json')).set('p2t-web', entry),
    ).rejects.toThrow(/writable/);
    const safe = join(dir, 'safe');
    await mkdir(safe, { mode: 0o700 });
    await writeFile(join(dir, 'elsewhere.json'), '{}');
    await symlink(join(dir, 'elsewhere.json'), join(safe, 'reverted.json'));
    await expect(new RevertMemory(join(safe, 'reverted.json')).load()).rejects.toThrow();
  });
});
