/** The README's opening example must stay true: run it and check every `// →` line. */
import { HealthStore } from '@p2/keyspace';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as kit from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(2);
  const printed = await runInProcess(
    code ?? '',
    { ...kit, createStore, startKvServer, HealthStore },
    { dataDirPrefix: 'p2t-kit-readme-' },
  );
  expect(printed).toEqual(expected);
});
