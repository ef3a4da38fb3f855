/** Keeps the README's opening example true. */
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as runc from './index.js';

it('the README example gives what it says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected).toHaveLength(4);
  expect(await runInProcess(code ?? '', { ...runc })).toEqual(expected);
});
