/** The README's opening example must stay true: run it and check every `// →` line. */
import { HealthStore, PodTree } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as replicate from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBe(2);
  const printed = await runInProcess(
    code ?? '',
    { ...replicate, createStore, startKvServer, parseManifest, HealthStore, PodTree },
    { dataDirPrefix: 'p2t-replicate-readme-' },
  );
  expect(printed).toEqual(expected);
});
