/** The README's opening example must stay true: run it and check every `// →` line. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as kvPackage from '@p2/kv';
import * as kvServer from '@p2/kv-server';
import * as manifestPackage from '@p2/manifest';
import { expect, it } from 'vitest';
import * as keyspace from './index.js';

it('the README example prints what the README says', async () => {
  const readme = await import('node:fs').then((fs) =>
    fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8'),
  );
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const expected = [...code.matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(4);
  const body = code.replace(/^import .*$/gm, '').replace(/console\.log\(/g, 'print(');
  const printed: string[] = [];
  const print = (value: unknown) => printed.push(JSON.stringify(value));
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-keyspace-readme-'));
  try {
    const AsyncFunction = (async () => undefined).constructor as new (
      ...args: string[]
    ) => (...a: unknown[]) => Promise<void>;
    const names = [
      'print',
      'dataDirForTheExample',
      ...Object.keys(keyspace),
      'createStore',
      'startKvServer',
      'parseManifest',
    ];
    const run = new AsyncFunction(...names, body);
    await run(
      print,
      dataDir,
      ...Object.values(keyspace),
      kvPackage.createStore,
      kvServer.startKvServer,
      manifestPackage.parseManifest,
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  expect(printed).toEqual(expected);
});
