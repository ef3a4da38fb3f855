/** The README's opening example must stay true: run it and check every `// →` line. */
import { LabelStore } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as rc from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(1);
  const printed = await runInProcess(
    code ?? '',
    { ...rc, createStore, startKvServer, parseManifest, LabelStore },
    { dataDirPrefix: 'p2t-rc-readme-' },
  );
  expect(printed).toEqual(expected);
});
