/** The README's etcd example must stay true: run it against a real etcd and check every `// →`. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EtcdCluster, startEtcd } from './etcd-test-support.js';
import * as kv from './index.js';

let etcd: EtcdCluster | undefined;
beforeAll(async () => {
  etcd = await startEtcd(1);
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

it('the README etcd example prints what the README says', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## The etcd backend'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const expected = [...code.matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(4);
  const body = code.replace(/^import .*$/gm, '').replace(/console\.log\(/g, 'print(');
  const printed: string[] = [];
  const print = (value: unknown) =>
    printed.push(value === undefined ? 'undefined' : JSON.stringify(value));
  const AsyncFunction = (async () => undefined).constructor as new (
    ...args: string[]
  ) => (...a: unknown[]) => Promise<void>;
  const run = new AsyncFunction('print', 'endpoints', ...Object.keys(kv), body);
  await run(print, etcd?.endpoints, ...Object.values(kv));
  expect(printed).toEqual(expected);
});
