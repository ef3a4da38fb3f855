/** The README's opening example must stay true: run it and compare with the output it shows. */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readReadmeExample, runAsScript } from '../../../test-support/readme-example.js';

it('the README example prints what the README says', async () => {
  const { code, shown } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(code).toBeDefined();
  expect(shown).toBeDefined();
  const stdout = await runAsScript(code!, 'p2t-ui-readme-', (c, dir) =>
    c.replaceAll('/tmp/p2-ui-example', join(dir, 'kv')),
  );
  expect(stdout).toBe(shown);
});
