/** Test helpers: a real `@p2/kv-server` on loopback and a `@p2/kv` store talking to it. @internal */
import { startTestStore as startKvTestStore, type TestStore } from '../../kv/src/test-support.js';

export type { TestStore };

export function startTestStore(): Promise<TestStore> {
  return startKvTestStore('inspect');
}
