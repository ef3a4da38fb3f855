/** Keeps the README's opening example true. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LabelStore, parseSelector } from './index.js';
import { startTestStore, type TestStore } from './test-support.js';

let t: TestStore;
beforeAll(async () => {
  t = await startTestStore();
});
afterAll(async () => {
  await t?.cleanup();
});

it('the README example gives what it says', async () => {
  const s = parseSelector('x in (foo,,baz), y, z notin ()');
  expect(s.toString()).toBe('x in (,baz,foo),y,z notin ()');
  expect(s.matches({ x: 'foo', y: '1' })).toBe(true);
  expect(s.matches({ x: 'foo' })).toBe(false);

  expect(() => parseSelector('zone in b')).toThrow(
    `cannot parse label selector "zone in b": expected '(' at position 8, found 'b'`,
  );

  const labels = new LabelStore(t.store);
  await labels.setLabels('node', 'node1', { availability_zone: 'us-west', role: 'web' });
  const stored = (await t.store.get('labels/node/node1')).value!;
  expect(new TextDecoder().decode(stored.value)).toBe(
    '{"availability_zone":"us-west","role":"web"}',
  );
  expect((await labels.select('node', 'role=web')).map((r) => r.id)).toEqual(['node1']);
});
