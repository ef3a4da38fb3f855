/**
 * The store conformance suite: the contract cases of spec 04 §3 that concern what p2 uses, written
 * against the {@link Store} interface so every backend runs the same cases.
 *
 * Usage (in a backend's test file):
 * ```ts
 * import { defineStoreConformance } from './conformance.js';
 * defineStoreConformance('consul → p2-kv-server', async () => { ... return { store, cleanup }; });
 * ```
 * Not exported from the package entry (it imports vitest); import it by path.
 */

import { isP2Error } from '@p2/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KvErrorCodes } from './errors.js';
import { acquireLock, manageSession, startSession } from './session.js';
import { Transaction } from './txn.js';
import type { KvEntry, Store, TxnOp } from './types.js';
import { sleep, watchKey, watchPrefix } from './watch.js';

/** What a backend under test can do beyond the common contract. */
interface StoreCapabilities {
  /** Consul lock-delay after invalidation. @default true */
  lockDelay?: boolean;
  /** Session behaviour `release`. @default true */
  releaseBehavior?: boolean;
  /** A byte-identical write keeps ModifyIndex (Consul ≥ 1.6). @default true */
  idempotentWrites?: boolean;
  /** Shortest session TTL the backend accepts, for expiry tests. @default 10_000 (skips expiry tests) */
  minSessionTtlMs?: number;
  /** Reaps every tombstone now (for index-goes-backwards cases). */
  reapTombstones?: () => Promise<void>;
}

/** A fresh, empty store per test. */
export interface StoreUnderTest {
  store: Store;
  capabilities?: StoreCapabilities;
  cleanup?: () => Promise<void>;
}

const text = (entry: KvEntry | undefined) =>
  entry ? new TextDecoder().decode(entry.value) : undefined;

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isP2Error(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as Error;
}

/** Defines the conformance suite for one backend. `factory` must return an empty store each time. */
export function defineStoreConformance(name: string, factory: () => Promise<StoreUnderTest>): void {
  describe(`store conformance: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: Store;
    let caps: Required<Omit<StoreCapabilities, 'reapTombstones'>> &
      Pick<StoreCapabilities, 'reapTombstones'>;

    beforeEach(async () => {
      subject = await factory();
      store = subject.store;
      caps = {
        lockDelay: true,
        releaseBehavior: true,
        idempotentWrites: true,
        minSessionTtlMs: 10_000,
        ...subject.capabilities,
      };
    });
    afterEach(async () => {
      await store.close();
      await subject.cleanup?.();
    });

    describe('A: KV basics', () => {
      it('A1 get of a missing key → undefined with an index ≥ 1', async () => {
        const { value, index } = await store.get('missing');
        expect(value).toBeUndefined();
        expect(index).toBeGreaterThanOrEqual(1);
      });

      it('A2 a key beginning with "/" is refused before sending', async () => {
        const error = await expectCode(store.put('/test', 'x'), KvErrorCodes.INVALID_KEY);
        expect(error.message).toContain("must not begin with a '/'");
      });

      it('A3 put then get: value, flags, index == ModifyIndex', async () => {
        await store.put('k', 'test', { flags: 42 });
        const { value, index } = await store.get('k');
        expect(text(value)).toBe('test');
        expect(value?.flags).toBe(42);
        expect(index).toBe(value?.modifyIndex);
      });

      it('A4 delete removes the key', async () => {
        await store.put('k', 'test');
        await store.delete('k');
        expect((await store.get('k')).value).toBeUndefined();
      });

      it('A5/A6 list, keys and delete-tree over 100 keys', async () => {
        const keys = Array.from(
          { length: 100 },
          (_, i) => `P/${String(i).padStart(3, '0')}-${Math.random()}`,
        );
        await Promise.all(keys.map((k) => store.put(k, 'test')));
        const listed = await store.list('P');
        expect(listed.value).toHaveLength(100);
        expect(listed.value.every((e) => text(e) === 'test')).toBe(true);
        expect(listed.value.map((e) => e.key)).toEqual([...keys].sort());
        expect((await store.keys('P')).value).toEqual([...keys].sort());
        await store.deleteTree('P');
        expect((await store.list('P')).value).toEqual([]);
        expect((await store.keys('P')).value).toEqual([]);
      });

      it('A8 keys with a separator cut after the first separator past the prefix', async () => {
        for (const k of [
          'foo',
          'foo/bar',
          'foo/bar/baz',
          'foo/bar/zip',
          'foo/bar/zip/zam',
          'foo/bar/zip/zorp',
          'some/other/prefix',
        ]) {
          await store.put(k, 'x');
        }
        const cut = await store.keys('foo/bar/', { separator: '/' });
        expect(cut.value).toEqual(['foo/bar/baz', 'foo/bar/zip', 'foo/bar/zip/']);
        const zorp = await store.get('foo/bar/zip/zorp');
        expect(cut.index).toBe(zorp.value?.modifyIndex);
        expect((await store.keys('foo')).value).toHaveLength(6);
        expect((await store.keys('')).value).toHaveLength(7);
        expect((await store.keys('', { separator: '/' })).value).toEqual(['foo', 'foo/', 'some/']);
      });

      it('A9 list of the root is sorted by key; delete-tree of the root empties the store', async () => {
        for (const k of ['zip', 'foo/sub2', 'bar', 'foo/sub1', 'baz']) await store.put(k, k);
        expect((await store.list('')).value.map((e) => e.key)).toEqual([
          'bar',
          'baz',
          'foo/sub1',
          'foo/sub2',
          'zip',
        ]);
        await store.deleteTree('');
        expect((await store.list('')).value).toEqual([]);
      });

      it('A13 a value over 512 KiB is refused; exactly 512 KiB is stored', async () => {
        await expectCode(
          store.put('big', new Uint8Array(512 * 1024 + 1)),
          KvErrorCodes.VALUE_TOO_LARGE,
        );
        await store.put('big', new Uint8Array(512 * 1024).fill(7));
        expect((await store.get('big')).value?.value.length).toBe(512 * 1024);
      });

      it('A15 deleting a missing key succeeds and does not move the index', async () => {
        await store.put('a', '1');
        const before = (await store.get('missing')).index;
        await store.delete('missing');
        expect((await store.get('missing')).index).toBe(before);
      });

      it('A16 a plain put resets flags to 0', async () => {
        await store.put('k', 'x', { flags: 50 });
        await store.put('k', 'y');
        expect((await store.get('k')).value?.flags).toBe(0);
      });

      it('keys with characters that need escaping on the wire round-trip', async () => {
        const keys = [
          'odd/a b',
          'odd/q?x=1',
          'odd/hash#1',
          'odd/100%',
          'odd/plus+sign',
          'odd/ünïcødé',
        ];
        for (const key of keys) await store.put(key, key);
        expect((await store.keys('odd/')).value).toEqual([...keys].sort());
        for (const key of keys) expect(text((await store.get(key)).value)).toBe(key);
      });

      it('stores binary values byte for byte', async () => {
        const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
        await store.put('bin', bytes);
        expect(
          Buffer.from((await store.get('bin')).value?.value ?? []).equals(Buffer.from(bytes)),
        ).toBe(true);
        await store.put('empty', '');
        expect((await store.get('empty')).value?.value.length).toBe(0);
      });
    });

    describe('B: check-and-set', () => {
      it('B1/B2 cas 0 creates only when absent', async () => {
        expect(await store.cas('k', 'a', 0)).toBe(true);
        expect(await store.cas('k', 'b', 0)).toBe(false);
        expect(text((await store.get('k')).value)).toBe('a');
      });

      it('B3/B4 cas with a stale index fails; with the current one succeeds', async () => {
        await store.cas('k', 'a', 0);
        const current = (await store.get('k')).value as KvEntry;
        expect(await store.cas('k', 'stale', current.modifyIndex - 1)).toBe(false);
        expect(await store.cas('k', 'zip', current.modifyIndex, { flags: 42 })).toBe(true);
        const after = (await store.get('k')).value;
        expect(text(after)).toBe('zip');
        expect(after?.flags).toBe(42);
      });

      it('B5 cas with a non-zero index on a missing key fails and stores nothing', async () => {
        expect(await store.cas('k', 'a', 1)).toBe(false);
        expect((await store.get('k')).value).toBeUndefined();
      });

      it('B6/B7 delete-cas: stale fails, current succeeds, missing key succeeds', async () => {
        await store.cas('k', 'a', 0);
        const { index } = await store.get('k');
        expect(await store.deleteCas('k', index - 1)).toBe(false);
        expect(await store.deleteCas('k', 0)).toBe(false);
        expect(await store.deleteCas('k', index)).toBe(true);
        expect((await store.get('k')).value).toBeUndefined();
        expect(await store.deleteCas('k', 12345)).toBe(true);
      });

      it('B8/B9 cas and plain writes on a locked key keep the lock holder', async () => {
        const session = await store.createSession({ lockDelayMs: 0 });
        expect(await store.acquire('k', 'mine', session)).toBe(true);
        const locked = (await store.get('k')).value as KvEntry;
        expect(await store.cas('k', 'cas', locked.modifyIndex)).toBe(true);
        expect((await store.get('k')).value?.session).toBe(session);
        await store.put('k', 'stoleit');
        const after = (await store.get('k')).value as KvEntry;
        expect(text(after)).toBe('stoleit');
        expect(after.session).toBe(session);
        expect(after.createIndex).toBe(locked.createIndex);
      });
    });

    describe('C: indexes', () => {
      it('C1 create and modify indexes', async () => {
        await store.put('k', '1');
        const first = (await store.get('k')).value as KvEntry;
        expect(first.createIndex).toBe(first.modifyIndex);
        await store.put('k', '2');
        const second = (await store.get('k')).value as KvEntry;
        expect(second.createIndex).toBe(first.createIndex);
        expect(second.modifyIndex).toBeGreaterThan(first.modifyIndex);
      });

      it('C2 a missing key reports the table index, never 0', async () => {
        await store.put('a', '1');
        await store.put('b', '2');
        const b = (await store.get('b')).value as KvEntry;
        expect((await store.get('missing')).index).toBeGreaterThanOrEqual(b.modifyIndex);
      });

      it('C3 a list reports the highest ModifyIndex under the prefix', async () => {
        await store.put('foo/a', '1');
        await store.put('foo/b', '2');
        await store.put('other', '3');
        const b = (await store.get('foo/b')).value as KvEntry;
        expect((await store.list('foo/')).index).toBe(b.modifyIndex);
      });

      it('C4 a delete leaves a tombstone: the prefix index is the delete index', async () => {
        await store.put('foo/a', '1');
        await store.put('foo/b', '2');
        await store.delete('foo/b');
        const afterDelete = (await store.list('foo/')).index;
        expect(afterDelete).toBeGreaterThan((await store.get('foo/a')).index);
        await store.put('some/other/key', 'x');
        expect((await store.list('foo/')).index).toBe(afterDelete);
      });

      it('C5 reaping tombstones can move a prefix index backwards', async (ctx) => {
        if (!caps.reapTombstones) return ctx.skip('this backend cannot reap tombstones on demand');
        await store.put('foo/a', '1');
        await store.put('foo/b', '2');
        const a = (await store.get('foo/a')).value as KvEntry;
        await store.delete('foo/b');
        expect((await store.list('foo/')).index).toBeGreaterThan(a.modifyIndex);
        await caps.reapTombstones();
        expect((await store.list('foo/')).index).toBe(a.modifyIndex);
      });

      it('C6 a tree delete matching nothing moves no index; one that deletes moves the prefix index', async () => {
        await store.put('foo/bar/x', '1');
        await store.put('foo/keep', '2');
        const before = (await store.get('missing')).index;
        await store.deleteTree('nothing/');
        expect((await store.get('missing')).index).toBe(before);
        await store.deleteTree('foo/bar');
        const after = (await store.list('foo')).index;
        expect(after).toBeGreaterThan(before);
        expect((await store.list('foo')).value.map((e) => e.key)).toEqual(['foo/keep']);
      });

      it('C7 a byte-identical write keeps ModifyIndex', async (ctx) => {
        if (!caps.idempotentWrites) return ctx.skip('every write gets a new index on this backend');
        await store.put('k', 'same');
        const first = (await store.get('k')).value as KvEntry;
        await store.put('k', 'same');
        expect((await store.get('k')).value?.modifyIndex).toBe(first.modifyIndex);
      });

      it('C8 every key written by one transaction shares one ModifyIndex', async () => {
        const result = await store.txn([
          { verb: 'set', key: 'a', value: '1' },
          { verb: 'set', key: 'b', value: '2' },
        ]);
        expect(result.committed).toBe(true);
        const a = (await store.get('a')).value as KvEntry;
        const b = (await store.get('b')).value as KvEntry;
        expect(a.modifyIndex).toBe(b.modifyIndex);
      });
    });

    describe('D: blocking queries and watches', () => {
      it('D1 a blocking get on a missing key returns after the write', async () => {
        const { index } = await store.get('k');
        const started = Date.now();
        const write = sleep(100).then(() => store.put('k', 'test', { flags: 42 }));
        const answer = await store.get('k', { index, waitMs: 10_000 });
        await write;
        expect(Date.now() - started).toBeGreaterThanOrEqual(90);
        expect(text(answer.value)).toBe('test');
        expect(answer.value?.flags).toBe(42);
        expect(answer.index).toBeGreaterThan(index);
      });

      it('D2 a blocking list returns after a write under the prefix', async () => {
        const { index } = await store.list('pre/');
        const write = sleep(50).then(() => store.put('pre/x', 'v'));
        const answer = await store.list('pre/', { index, waitMs: 10_000 });
        await write;
        expect(answer.value.map((e) => e.key)).toEqual(['pre/x']);
        expect(answer.index).toBeGreaterThan(index);
      });

      it('D3/D8 a blocking query times out with the same index; unrelated writes do not wake it', async () => {
        await store.put('pre/x', 'v');
        const { index } = await store.list('pre/');
        const started = Date.now();
        const write = sleep(30).then(() => store.put('elsewhere', 'v'));
        const answer = await store.list('pre/', { index, waitMs: 300 });
        await write;
        expect(Date.now() - started).toBeGreaterThanOrEqual(280);
        expect(answer.index).toBe(index);
        expect(answer.value.map((e) => e.key)).toEqual(['pre/x']);
      });

      it('D5 a blocking query on a future index waits for the timeout', async () => {
        await store.put('k', 'v');
        const { index } = await store.get('k');
        const started = Date.now();
        const answer = await store.get('k', { index: index + 1000, waitMs: 200 });
        expect(Date.now() - started).toBeGreaterThanOrEqual(180);
        expect(answer.index).toBe(index);
      });

      it('watchKey yields the initial state and every change, and stops on abort', async () => {
        const controller = new AbortController();
        const seen: (string | undefined)[] = [];
        const done = (async () => {
          for await (const { value } of watchKey(store, 'w', {
            signal: controller.signal,
            waitMs: 5_000,
          })) {
            seen.push(text(value));
            if (seen.length === 4) controller.abort();
          }
        })();
        await waitFor(() => seen.length === 1);
        await store.put('w', '1');
        await waitFor(() => seen.length === 2);
        await store.put('w', '2');
        await waitFor(() => seen.length === 3);
        await store.delete('w');
        await done;
        expect(seen).toEqual([undefined, '1', '2', undefined]);
      });

      it('watchPrefix yields lists and is cancellable mid-wait', async () => {
        const controller = new AbortController();
        const lists: string[][] = [];
        const done = (async () => {
          for await (const { value } of watchPrefix(store, 'wp/', {
            signal: controller.signal,
            waitMs: 30_000,
          })) {
            lists.push(value.map((e) => e.key));
          }
        })();
        await waitFor(() => lists.length === 1);
        await store.put('wp/a', '1');
        await waitFor(() => lists.length === 2);
        const started = Date.now();
        controller.abort();
        await done;
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(lists).toEqual([[], ['wp/a']]);
      });
    });

    describe('E: sessions', () => {
      it('E1/E2/E3 create, renew, destroy; renew after destroy → undefined', async () => {
        const id = await store.createSession({
          ttlMs: Math.max(caps.minSessionTtlMs, 10_000),
          behavior: 'delete',
        });
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
        const renewed = await store.renewSession(id);
        expect(renewed?.id).toBe(id);
        expect(renewed?.ttlMs).toBe(Math.max(caps.minSessionTtlMs, 10_000));
        await store.destroySession(id);
        expect(await store.renewSession(id)).toBeUndefined();
      });

      it('E11/E12 info of an unknown session → undefined; destroy of one → ok', async () => {
        expect(await store.sessionInfo('0f8fad5b-d9cb-469f-a165-70867728950e')).toBeUndefined();
        await store.destroySession('0f8fad5b-d9cb-469f-a165-70867728950e');
      });

      it('E7 info of a session created as P2 does (no checks)', async () => {
        const id = await store.createSession({
          name: 'p2-test',
          lockDelayMs: 5_000,
          behavior: 'delete',
        });
        const info = await store.sessionInfo(id);
        expect(info).toMatchObject({
          id,
          name: 'p2-test',
          behavior: 'delete',
          lockDelayMs: 5_000,
          ttlMs: 0,
        });
      });

      it('E13 a TTL below the minimum is refused', async () => {
        await expectCode(store.createSession({ ttlMs: 1 }), KvErrorCodes.SESSION_INVALID);
      });

      it('E14 an unrenewed session expires (after TTL…2×TTL) and its keys go', async (ctx) => {
        if (caps.minSessionTtlMs > 5_000)
          return ctx.skip('the minimum session TTL is too long for a test');
        const ttlMs = caps.minSessionTtlMs;
        const deleting = await store.createSession({ ttlMs, behavior: 'delete', lockDelayMs: 0 });
        expect(await store.acquire('lk/del', 'x', deleting)).toBe(true);
        let releasing: string | undefined;
        if (caps.releaseBehavior) {
          releasing = await store.createSession({ ttlMs, behavior: 'release', lockDelayMs: 0 });
          expect(await store.acquire('lk/rel', 'y', releasing)).toBe(true);
        }
        await sleep(ttlMs * 0.8);
        expect((await store.get('lk/del')).value?.session).toBe(deleting);
        await waitFor(async () => (await store.get('lk/del')).value === undefined, ttlMs * 3);
        expect(await store.sessionInfo(deleting)).toBeUndefined();
        if (releasing) {
          await waitFor(
            async () => (await store.get('lk/rel')).value?.session === undefined,
            ttlMs * 3,
          );
          expect(text((await store.get('lk/rel')).value)).toBe('y');
        }
      });

      it('E4 a managed session on a dead session reports the loss', async () => {
        const id = await store.createSession({});
        await store.destroySession(id);
        const managed = manageSession(store, id, { ttlMs: 10_000, renewEveryMs: 50 });
        await waitFor(() => managed.lost.aborted, 2_000);
        expect(isP2Error(managed.lost.reason, KvErrorCodes.SESSION_INVALID)).toBe(true);
      });

      it('E5 a managed session keeps renewing; destroy() ends it and removes the session', async () => {
        const managed = await startSession(store, {
          ttlMs: 10_000,
          renewEveryMs: 30,
          behavior: 'delete',
        });
        await sleep(120);
        expect(managed.lost.aborted).toBe(false);
        expect(await store.sessionInfo(managed.id)).toBeDefined();
        await managed.destroy();
        expect(await store.sessionInfo(managed.id)).toBeUndefined();
        expect(managed.lost.aborted).toBe(true);
      });
    });

    describe('F: locks', () => {
      it('F1/F2 acquire without a session or with an unknown one is an error', async () => {
        await expectCode(store.acquire('k', 'x', ''), KvErrorCodes.SESSION_INVALID);
        await expectCode(
          store.acquire('k', 'x', '0f8fad5b-d9cb-469f-a165-70867728950e'),
          KvErrorCodes.SESSION_INVALID,
        );
      });

      it('F3–F7 acquire creates, re-acquire keeps LockIndex, release clears, next acquire increments', async () => {
        const s = await store.createSession({ lockDelayMs: 0 });
        expect(await store.acquire('foo', 'v1', s)).toBe(true);
        let e = (await store.get('foo')).value as KvEntry;
        expect([e.lockIndex, e.session, text(e), e.createIndex === e.modifyIndex]).toEqual([
          1,
          s,
          'v1',
          true,
        ]);
        expect(await store.acquire('foo', 'v2', s)).toBe(true);
        e = (await store.get('foo')).value as KvEntry;
        expect([e.lockIndex, text(e)]).toEqual([1, 'v2']);
        expect(await store.release('foo', 'released', s)).toBe(true);
        e = (await store.get('foo')).value as KvEntry;
        expect([e.lockIndex, e.session, text(e)]).toEqual([1, undefined, 'released']);
        expect(await store.acquire('foo', 'v3', s)).toBe(true);
        expect((await store.get('foo')).value?.lockIndex).toBe(2);
        await store.put('bar', 'plain');
        const created = (await store.get('bar')).value as KvEntry;
        expect(await store.acquire('bar', 'x', s)).toBe(true);
        e = (await store.get('bar')).value as KvEntry;
        expect([e.lockIndex, e.createIndex]).toEqual([1, created.createIndex]);
      });

      it('F8/F9 contention and release failures', async () => {
        const s1 = await store.createSession({ lockDelayMs: 0 });
        const s2 = await store.createSession({ lockDelayMs: 0 });
        expect(await store.acquire('k', 'one', s1)).toBe(true);
        const held = (await store.get('k')).value as KvEntry;
        expect(await store.acquire('k', 'two', s2)).toBe(false);
        expect((await store.get('k')).value).toEqual(held);
        expect(await store.release('k', '', s2)).toBe(false);
        expect(await store.release('absent', '', s1)).toBe(false);
        expect(await store.release('k', '', s1)).toBe(true);
        expect(await store.release('k', '', s1)).toBe(false);
      });

      it('F10/F11 lock-delay after invalidation, none after a voluntary release', async (ctx) => {
        if (!caps.lockDelay) return ctx.skip('this backend has no lock-delay');
        const s1 = await store.createSession({ lockDelayMs: 1_000 });
        const s2 = await store.createSession({ lockDelayMs: 0 });
        expect(await store.acquire('ld', 'x', s1)).toBe(true);
        await store.destroySession(s1);
        expect(await store.acquire('ld', 'y', s2)).toBe(false);
        const txn = await store.txn([{ verb: 'lock', key: 'ld', value: 'y', session: s2 }]);
        expect(txn.committed === false && txn.errors[0]?.what).toBe(
          'failed to lock key "ld" due to lock delay',
        );
        await waitFor(() => store.acquire('ld', 'y', s2), 3_000);
        const s3 = await store.createSession({ lockDelayMs: 10_000 });
        expect(await store.acquire('free', 'x', s3)).toBe(true);
        expect(await store.release('free', 'x', s3)).toBe(true);
        expect(await store.acquire('free', 'x', s2)).toBe(true);
      });

      it('F13 destroying a delete-behaviour session deletes its keys', async () => {
        const s = await store.createSession({ behavior: 'delete', lockDelayMs: 0 });
        expect(await store.acquire('lock', 'x', s)).toBe(true);
        await store.destroySession(s);
        expect((await store.get('lock')).value).toBeUndefined();
      });

      it('G1/G2 lock helper: held, contended, lost visibly when the session dies', async () => {
        const a = await startSession(store, { ttlMs: 10_000, behavior: 'delete', lockDelayMs: 0 });
        const b = await startSession(store, { ttlMs: 10_000, behavior: 'delete', lockDelayMs: 0 });
        const lock = await acquireLock(store, 'lock/x', { session: a, value: 'a' });
        expect(lock.lost.aborted).toBe(false);
        const error = await expectCode(
          acquireLock(store, 'lock/x', { session: b }),
          KvErrorCodes.LOCK_HELD,
        );
        expect((error as unknown as { details: { holder: string } }).details.holder).toBe(a.id);
        await store.destroySession(a.id);
        await waitFor(() => lock.lost.aborted, 2_000);
        expect(isP2Error(lock.lost.reason, KvErrorCodes.LOCK_LOST)).toBe(true);
        const second = await acquireLock(store, 'lock/x', { session: b, waitMs: 2_000 });
        await second.release();
        expect((await store.get('lock/x')).value).toBeUndefined();
        await b.destroy();
        a.abandon();
      });

      it('G4 three contenders on one key each get the lock in turn', async () => {
        const sessions = await Promise.all(
          [0, 1, 2].map(() => store.createSession({ lockDelayMs: 0 })),
        );
        const order: string[] = [];
        await Promise.all(
          sessions.map(async (session) => {
            const lock = await acquireLock(store, 'lock/contended', {
              session,
              waitMs: 10_000,
              retryMs: 50,
            });
            order.push(session);
            expect((await store.get('lock/contended')).value?.session).toBe(session);
            await sleep(30);
            await lock.release();
          }),
        );
        expect([...order].sort()).toEqual([...sessions].sort());
      });

      it('G9 a bounded wait gives up after about waitMs with P2_KV_LOCK_HELD', async () => {
        const holder = await store.createSession({ lockDelayMs: 0 });
        const other = await store.createSession({ lockDelayMs: 0 });
        await acquireLock(store, 'lock/busy', { session: holder });
        const started = Date.now();
        await expectCode(
          acquireLock(store, 'lock/busy', { session: other, waitMs: 250 }),
          KvErrorCodes.LOCK_HELD,
        );
        const waited = Date.now() - started;
        expect(waited).toBeGreaterThanOrEqual(240);
        expect(waited).toBeLessThan(2_000);
      });

      it('G3 lock helper: deleting the key loses the lock; a waiter gets it when freed', async () => {
        const a = await store.createSession({ lockDelayMs: 0 });
        const b = await store.createSession({ lockDelayMs: 0 });
        const lock = await acquireLock(store, 'lock/y', { session: a });
        const waiting = acquireLock(store, 'lock/y', { session: b, waitMs: 5_000 });
        await sleep(50);
        await store.delete('lock/y');
        await waitFor(() => lock.lost.aborted, 2_000);
        const got = await waiting;
        expect((await store.get('lock/y')).value?.session).toBe(b);
        await got.release();
      });
    });

    describe('I: transactions', () => {
      it('I1/I2/I3 lock without a session rolls back with every error; with one it commits', async () => {
        const ops: TxnOp[] = [
          { verb: 'lock', key: 'k', value: 'test', session: '' },
          { verb: 'get', key: 'k' },
        ];
        const failed = await store.txn(ops);
        expect(failed.committed).toBe(false);
        if (!failed.committed) {
          expect(failed.errors.map((e) => e.opIndex)).toEqual([0, 1]);
          expect(failed.errors[0]?.what).toContain('missing session');
          expect(failed.errors[1]?.what).toContain("doesn't exist");
        }
        const s = await store.createSession({ lockDelayMs: 0 });
        const ok = await store.txn([
          { verb: 'lock', key: 'k', value: 'test', session: s },
          { verb: 'get', key: 'k' },
        ]);
        expect(ok.committed).toBe(true);
        if (ok.committed) {
          expect(ok.results.map((r) => [r.key, r.session, r.lockIndex])).toEqual([
            ['k', s, 1],
            ['k', s, 1],
          ]);
          expect(ok.results[0]?.value.length).toBe(0);
          expect(text(ok.results[1])).toBe('test');
        }
      });

      it('I5 at most 64 operations: 64 commit, 65 are refused before sending', async () => {
        const ops = Array.from(
          { length: 64 },
          (_, i): TxnOp => ({ verb: 'set', key: `t/${i}`, value: 'x' }),
        );
        expect((await store.txn(ops)).committed).toBe(true);
        await expectCode(
          store.txn([...ops, { verb: 'set', key: 't/64', value: 'x' }]),
          KvErrorCodes.TXN_TOO_LARGE,
        );
        expect(() => new Transaction(ops).add({ verb: 'delete', key: 'x' })).toThrow(/at most 64/);
      });

      it('I6–I11/I14 error texts for cas, delete-cas, check-index, check-session, lock, unlock', async () => {
        await store.put('k', 'v');
        const { index } = await store.get('k');
        const s1 = await store.createSession({ lockDelayMs: 0 });
        const s2 = await store.createSession({ lockDelayMs: 0 });
        await store.acquire('held', 'x', s1);
        const result = await store.txn([
          { verb: 'cas', key: 'k', value: 'n', index: index - 1 },
          { verb: 'delete-cas', key: 'k', index: index - 1 },
          { verb: 'check-index', key: 'k', index: index - 1 },
          { verb: 'check-index', key: 'nope', index: 1 },
          { verb: 'check-session', key: 'held', session: s2 },
          { verb: 'check-session', key: 'nope', session: s2 },
          { verb: 'check-not-exists', key: 'k' },
          { verb: 'lock', key: 'held', value: '', session: s2 },
          { verb: 'unlock', key: 'held', value: '', session: s2 },
        ]);
        expect(result.committed).toBe(false);
        if (!result.committed) {
          expect(result.errors).toEqual([
            { opIndex: 0, what: 'failed to set key "k", index is stale' },
            { opIndex: 1, what: 'failed to delete key "k", index is stale' },
            {
              opIndex: 2,
              what: `failed index check for key "k", current modify index ${index} != ${index - 1}`,
            },
            { opIndex: 3, what: 'failed to check index, key "nope" doesn\'t exist' },
            {
              opIndex: 4,
              what: `failed session check for key "held", current session "${s1}" != "${s2}"`,
            },
            { opIndex: 5, what: 'failed to check session, key "nope" doesn\'t exist' },
            { opIndex: 6, what: 'key "k" exists' },
            { opIndex: 7, what: 'failed to lock key "held", lock is already held' },
            {
              opIndex: 8,
              what: 'failed to unlock key "held", lock isn\'t held, or is held by another session',
            },
          ]);
        }
      });

      it("I9/I13 check-session passes for the holder; deletes yield no results; P2's txn unlock", async () => {
        const s = await store.createSession({ lockDelayMs: 0 });
        await store.acquire('lock/a', '', s);
        await store.put('gone', 'x');
        const result = await store.txn([
          { verb: 'check-session', key: 'lock/a', session: s },
          { verb: 'delete', key: 'gone' },
          { verb: 'check-not-exists', key: 'gone' },
          { verb: 'delete', key: 'lock/a' },
        ]);
        expect(result.committed).toBe(true);
        if (result.committed) expect(result.results.map((r) => r.key)).toEqual(['lock/a']);
        expect((await store.get('lock/a')).value).toBeUndefined();
      });

      it('I15/I17 later ops see earlier ones; a failing op applies nothing', async () => {
        const seq = await store.txn([
          { verb: 'set', key: 'a', value: '1' },
          { verb: 'get', key: 'a' },
        ]);
        expect(seq.committed && text(seq.results[1])).toBe('1');
        const before = (await store.get('a')).value;
        const atomic = await store.txn([
          { verb: 'set', key: 'a', value: 'x' },
          { verb: 'cas', key: 'b', value: 'y', index: 999_999 },
        ]);
        expect(atomic.committed).toBe(false);
        expect((await store.get('a')).value).toEqual(before);
        expect((await store.get('b')).value).toBeUndefined();
      });

      it("P2's lock-if-absent: delete-cas 0 then lock", async () => {
        const s = await store.createSession({ lockDelayMs: 0 });
        const lockIfAbsent = () =>
          store.txn([
            { verb: 'delete-cas', key: 'once', index: 0 },
            { verb: 'lock', key: 'once', value: '', session: s },
          ]);
        expect((await lockIfAbsent()).committed).toBe(true);
        expect((await lockIfAbsent()).committed).toBe(false);
      });
    });
  });
}

/** Polls `condition` every 20 ms until it holds. @internal */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}
