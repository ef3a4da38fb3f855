/**
 * The README's opening example must stay true: run it as written (root, real runit; it makes and
 * removes its own temporary service root) and check every `// →` line.
 */
import { expect, it } from 'vitest';
import {
  importScope,
  readReadmeExample,
  runInProcess,
} from '../../../test-support/readme-example.js';
import * as runit from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(1);
  const scope = await importScope(code!, { name: '@p2/runit', module: runit });
  expect(await runInProcess(code!, scope)).toEqual(expected);
}, 60_000);
