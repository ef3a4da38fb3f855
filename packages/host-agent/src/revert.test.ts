import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabelStore, podLabelId } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test-support/host-test.js';
import { REVERT_AFTER_LABEL, revertDeadlineMs } from './revert.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-revert-deadline-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('revertDeadlineMs', () => {
  it("takes the pod's p2.io/revert-after label on this node, else the configured default", async () => {
    const server = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
    const store = createStore(`consul://127.0.0.1:${server.port}`);
    try {
      const labels = new LabelStore(store);
      expect(await revertDeadlineMs(store, 'p2t-n1', 'p2t-web', 60_000)).toBe(60_000);
      await labels.setLabel('pod', podLabelId('p2t-n1', 'p2t-web'), REVERT_AFTER_LABEL, '90s');
      expect(await revertDeadlineMs(store, 'p2t-n1', 'p2t-web', 60_000)).toBe(90_000);
      // Another node's label is not this node's.
      expect(await revertDeadlineMs(store, 'p2t-n2', 'p2t-web', 60_000)).toBe(60_000);
      await labels.setLabel('pod', podLabelId('p2t-n1', 'p2t-web'), REVERT_AFTER_LABEL, '0');
      expect(await revertDeadlineMs(store, 'p2t-n1', 'p2t-web', 60_000)).toBe(0);
      await labels.setLabel('pod', podLabelId('p2t-n1', 'p2t-web'), REVERT_AFTER_LABEL, 'soon');
      expect(await revertDeadlineMs(store, 'p2t-n1', 'p2t-web', 60_000)).toBe(60_000);
    } finally {
      await store.close();
      await server.close();
    }
  });

  it('falls back to the default when the store does not answer', async () => {
    const store = createStore(`consul://127.0.0.1:${await freePort()}`);
    try {
      expect(await revertDeadlineMs(store, 'p2t-n1', 'p2t-web', 45_000)).toBe(45_000);
    } finally {
      await store.close();
    }
  });
});
