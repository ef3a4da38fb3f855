/** The README's opening example must stay true: run it and check every `// →` line. */
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as scheduler from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(2);
  const printed = await runInProcess(code ?? '', { ...scheduler });
  expect(printed).toEqual(expected);
});
