/** The README's opening example must stay true: run it and check every `// →` line. */
import { P2Error } from '@p2/errors';
import { Command } from 'commander';
import { expect, it } from 'vitest';
import { readReadmeExample, runInProcess } from '../../../test-support/readme-example.js';
import * as kit from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(4);
  const printed = await runInProcess(code ?? '', { ...kit, P2Error, Command });
  expect(printed).toEqual(expected);
});
