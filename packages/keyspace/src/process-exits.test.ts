import type { Store } from '@p2/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePodStatus, type ProcessExit, StatusStore, withProcessExits } from './status.js';
import { startTestStore } from './test-support.js';

const exit = (code: number, time = '2026-12-04T10:00:00Z'): ProcessExit => ({
  launchable_id: 'app',
  entry_point: 'bin/launch',
  last_exit: { time, exit_code: code, exit_status: 0 },
});

describe('withProcessExits', () => {
  it('records an exit per launchable and entry point; the latest wins (P2 only ever kept the first)', () => {
    const launched = { process_status: null, status: 'launched' as const, manifest: 'id: x\n' };
    const first = withProcessExits(launched, [exit(3)]);
    expect(first?.process_status).toEqual([exit(3)]);
    const second = withProcessExits(first!, [exit(7, '2026-12-04T10:01:00Z')]);
    expect(second?.process_status).toEqual([exit(7, '2026-12-04T10:01:00Z')]);
    const other = { ...exit(1), entry_point: 'bin/worker' };
    expect(withProcessExits(second!, [other])?.process_status).toHaveLength(2);
    expect(withProcessExits(second!, [exit(7, '2026-12-04T10:01:00Z')])).toBeUndefined();
  });
});

describe('StatusStore.recordProcessExits', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ store, cleanup } = await startTestStore());
  });
  afterAll(async () => cleanup());

  it("updates status/pods/<uuid>/preparer by CAS, keeping the launch's fields, and never creates it", async () => {
    const uuid = '0d1c3a54-8a4b-4f4e-9a57-1b2c3d4e5f60';
    const statuses = new StatusStore(store);
    expect(await statuses.recordProcessExits(uuid, [exit(3)])).toBe('absent');
    expect((await store.get(`status/pods/${uuid}/preparer`)).value).toBeUndefined();

    await store.put(
      `status/pods/${uuid}/preparer`,
      encodePodStatus({ process_status: [], status: 'launched', manifest: 'id: x\n' }),
    );
    expect(await statuses.recordProcessExits(uuid, [exit(3)])).toBe('recorded');
    expect(await statuses.recordProcessExits(uuid, [exit(3)])).toBe('unchanged');
    const { value } = await store.get(`status/pods/${uuid}/preparer`);
    // P2's wire format: Go field order, as P2's reporter wrote it.
    expect(Buffer.from(value!.value).toString()).toBe(
      '{"process_status":[{"launchable_id":"app","entry_point":"bin/launch","last_exit":{"time":"2026-12-04T10:00:00Z","exit_code":3,"exit_status":0}}],"status":"launched","manifest":"id: x\\n"}',
    );
  });
});
