/** The README's opening example must stay true: run it and check every `// →` line. */
import { startKvServer } from '@p2/kv-server';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as kv from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(4);
  const printed = await runInProcess(
    code ?? '',
    { ...kv, startKvServer },
    { dataDirPrefix: 'p2t-kv-readme-' },
  );
  expect(printed).toEqual(expected);
});
