/** The README's opening example must stay true: run it and compare with the output it shows. */
import net, { type AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { readReadmeExample, runAsScript } from '../../../test-support/readme-example.js';

it('the README example prints what the README says', async () => {
  const { code, shown } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(code).toBeDefined();
  expect(shown).toBeDefined();
  // Use a free port instead of 43770 so parallel runs cannot collide.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = String((probe.address() as AddressInfo).port);
  await new Promise((r) => probe.close(r));
  const stdout = await runAsScript(code!, 'p2t-health-readme-', (c) => c.replaceAll('43770', port));
  expect(stdout).toBe(shown!.replaceAll('43770', port));
});
