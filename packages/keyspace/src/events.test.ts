import { ConsulStore, type Store } from '@p2/kv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodePodEvents,
  EVENTS_PER_POD,
  PodEventStore,
  PodHistoryStore,
  REVISIONS_PER_POD,
} from './events.js';
import { startTestServer } from './test-support.js';

describe('pod events and history on a real @p2/kv-server', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    const started = await startTestServer();
    cleanup = started.cleanup;
    store = new ConsulStore({ address: started.address });
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  it('keeps the last EVENTS_PER_POD events at events/<node>/<pod>, one write per batch', async () => {
    const events = new PodEventStore(store);
    expect(await events.list('n1', 'web')).toEqual([]);
    for (let i = 0; i < EVENTS_PER_POD + 5; i += 5) {
      const batch = Array.from({ length: 5 }, (_, j) => ({
        time: new Date(0).toISOString(),
        type: 'exit' as const,
        exitCode: i + j,
      }));
      expect(await events.append('n1', 'web', batch)).toBe(true);
    }
    const kept = await events.list('n1', 'web');
    expect(kept).toHaveLength(EVENTS_PER_POD);
    expect(kept[0]?.exitCode).toBe(5);
    expect(kept.at(-1)?.exitCode).toBe(EVENTS_PER_POD + 4);
    const raw = (await store.get('events/n1/web')).value;
    expect(decodePodEvents(raw?.value ?? new Uint8Array())).toEqual(kept);
    expect(await events.list('n1', 'web2')).toEqual([]);
  });

  it('appends concurrent batches without losing any (CAS)', async () => {
    const events = new PodEventStore(store);
    await Promise.all(
      [1, 2, 3].map((n) =>
        events.append('n1', 'web', [{ time: 't', type: 'hook', message: `h${n}` }]),
      ),
    );
    const messages = (await events.list('n1', 'web')).map((e) => e.message).sort();
    expect(messages).toEqual(['h1', 'h2', 'h3']);
  });

  it('replaces an unreadable value and refuses bad segments', async () => {
    await store.put('events/n1/web', 'not json');
    const events = new PodEventStore(store);
    await expect(events.list('n1', 'web')).rejects.toMatchObject({ code: 'P2_KV_BAD_RECORD' });
    await events.append('n1', 'web', [{ time: 't', type: 'removed' }]);
    expect(await events.list('n1', 'web')).toEqual([{ time: 't', type: 'removed' }]);
    expect(() => events.key('n1', '../x')).toThrow();
  });

  it('numbers deployed manifests, skips a re-record of the latest, keeps REVISIONS_PER_POD', async () => {
    const history = new PodHistoryStore(store);
    await history.record('n1', 'web', { sha: 'a', manifest: 'id: web\n' });
    await history.record('n1', 'web', { sha: 'a', manifest: 'id: web\n' });
    expect((await history.list('n1', 'web')).map((r) => r.rev)).toEqual([1]);
    for (let i = 0; i < REVISIONS_PER_POD + 2; i++)
      await history.record('n1', 'web', { sha: `s${i}`, manifest: `id: web\n# ${i}\n` });
    const revs = await history.list('n1', 'web');
    expect(revs).toHaveLength(REVISIONS_PER_POD);
    expect(revs.at(-1)).toMatchObject({
      rev: REVISIONS_PER_POD + 3,
      sha: `s${REVISIONS_PER_POD + 1}`,
    });
    expect(revs[0]?.rev).toBe(4);
  });

  it('trims a history that would exceed 256 KiB, always keeping the newest', async () => {
    const history = new PodHistoryStore(store);
    const big = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 4; i++)
      await history.record('n1', 'big', { sha: `${i}`, manifest: big + i });
    expect((await history.list('n1', 'big')).map((r) => r.rev)).toEqual([3, 4]);
  });
});
