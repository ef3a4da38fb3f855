/** The README's opening example must stay true: run it and check every `// →` line. */
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as logs from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected).toHaveLength(3);
  const printed = await runInProcess(code ?? '', { ...logs, PassThrough });
  expect(printed).toEqual(expected);
});
