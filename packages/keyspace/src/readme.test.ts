/** The README's opening example must stay true: run it and check every `// →` line. */
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as keyspace from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(4);
  const printed = await runInProcess(
    code ?? '',
    { ...keyspace, createStore, startKvServer, parseManifest },
    { dataDirPrefix: 'p2t-keyspace-readme-' },
  );
  expect(printed).toEqual(expected);
});
