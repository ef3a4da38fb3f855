/**
 * The README's opening example must stay true: run it as written (root, real runit, a real user and
 * cgroups) and check every `// →` line. The example removes what it makes (temporary pod root,
 * service root and artifact directory, user `p2t-hello`, cgroup `p2t-hello__app`); should it
 * fail before its own cleanup, the user and cgroup are removed here.
 */
import { detectCgroups, openCgroup } from '@p2/cgroups';
import { removeUser } from '@p2/users';
import { expect, it } from 'vitest';
import {
  importScope,
  readReadmeExample,
  runInProcess,
} from '../../../test-support/readme-example.js';
import * as pods from './index.js';

it('the README example prints what the README says', async () => {
  const { code, expected } = readReadmeExample(new URL('../README.md', import.meta.url));
  expect(expected.length).toBeGreaterThan(1);
  const scope = await importScope(code!, { name: '@p2/pods', module: pods });
  try {
    expect(await runInProcess(code!, scope)).toEqual(expected);
  } finally {
    await openCgroup(await detectCgroups(), { name: 'p2t-hello__app' }).remove({ kill: true });
    await removeUser('p2t-hello');
  }
}, 60_000);
