/** `docs/migrating-from-p2.md` lists every P2 preparer key with what p2 does: kept true here. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { PREPARER_KEYS, PREPARER_PARAMS } from './keys.js';

it("the migration guide's key table says what the key table says, for every P2 key", () => {
  const doc = readFileSync(new URL('../../../docs/migrating-from-p2.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z0-9_.]+)` \| (implemented|ignored: .+) \|$/gm)].map((m) => [
      m[1],
      m[2],
    ]),
  );
  const expected = [
    ...Object.entries(PREPARER_KEYS).map(([key, info]) => [key, info] as const),
    ...Object.entries(PREPARER_PARAMS).map(([key, info]) => [`params.${key}`, info] as const),
  ].filter(([, info]) => info.origin === 'P2');
  expect(expected.length).toBeGreaterThan(40);
  for (const [key, info] of expected)
    expect([key, rows.get(key)]).toEqual([
      key,
      info.status === 'implemented' ? 'implemented' : `ignored: ${info.reason}`,
    ]);
  expect(rows.size).toBe(expected.length);
});
