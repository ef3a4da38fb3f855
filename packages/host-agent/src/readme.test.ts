/** The README's opening example must stay true: run it and compare with the output it shows. */
import { expect, it } from 'vitest';
import { readReadmeExample, runAsScript } from '../../../test-support/readme-example.js';

it('the README example prints what the README says', async () => {
  const { code, shown } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(code).toBeDefined();
  expect(shown).toBeDefined();
  const stdout = await runAsScript(code!, 'p2t-host-agent-readme-');
  expect(stdout).toBe(shown!);
});
