/** Test helpers: a real `@p2/kv-server` on loopback and a `@p2/kv` store talking to it over HTTP. @internal */
import {
  startTestServer as startKvTestServer,
  startTestStore as startKvTestStore,
  type TestStore,
} from '../../kv/src/test-support.js';

export type { TestStore };

export function startTestStore(): Promise<TestStore> {
  return startKvTestStore('keyspace');
}

/** A bare `@p2/kv-server` on loopback (the typed-store tests connect their own store to `address`). */
export async function startTestServer(): Promise<{
  address: string;
  cleanup: () => Promise<void>;
}> {
  const { address, cleanup } = await startKvTestServer({}, 'keyspace');
  return { address, cleanup };
}

/** The stored value at `key` as text, `undefined` when absent: what a test compares byte for byte. */
export async function rawValue(
  store: TestStore['store'],
  key: string,
): Promise<string | undefined> {
  const e = (await store.get(key)).value;
  return e ? new TextDecoder().decode(e.value) : undefined;
}
