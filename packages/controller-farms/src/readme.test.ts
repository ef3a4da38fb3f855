/** The README's opening example must stay true: run it and check every `// →` line. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabelStore } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { expect, it } from 'vitest';
import * as farms from './index.js';

it('the README example prints what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const expected = [...code.matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(1);
  const body = code.replace(/^import .*$/gm, '').replace(/console\.log\(/g, 'print(');
  const printed: string[] = [];
  const print = (value: unknown) => printed.push(JSON.stringify(value));
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-farms-readme-'));
  try {
    const AsyncFunction = (async () => undefined).constructor as new (
      ...args: string[]
    ) => (...a: unknown[]) => Promise<void>;
    const extra = { createStore, startKvServer, parseManifest, LabelStore, RcStore };
    const names = ['print', 'dataDirForTheExample', ...Object.keys(farms), ...Object.keys(extra)];
    const run = new AsyncFunction(...names, body);
    await run(print, dataDir, ...Object.values(farms), ...Object.values(extra));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  expect(printed).toEqual(expected);
});
