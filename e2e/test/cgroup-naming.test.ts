/**
 * Pod cgroup naming through the real preparer (the built p2-preparer and p2-kv-server as
 * processes, real runit, users and cgroup v1): a host that ran with `params.nested_cgroups` (as
 * earlier p2 always did) restarts with P2's flat default. The running pod keeps its nested cgroup
 * and limits; its next deploy moves it to `<pod>__app` and removes the nested one; removing it
 * from intent leaves no cgroup of it in either form. Needs root; names start with p2t-.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroups, findPodCgroups } from '@p2/cgroups';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

let h: TestHost;
let failed = false;
let pod: string;

beforeAll(async () => {
  h = await startTestHost({ extraConfig: ['  params: {nested_cgroups: "t"}'] });
  pod = h.podId('cg');
});
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});
afterAll(async () => {
  await h?.close(failed);
});

const memoryCgroup = async (pid: number) =>
  (await readFile(`/proc/${pid}/cgroup`, 'utf8'))
    .split('\n')
    .find((line) => /^\d+:memory:/.test(line))
    ?.replace(/^\d+:memory:/, '');

describe.runIf(existsSync('/sys/fs/cgroup/memory'))('pod cgroups through the preparer', () => {
  it('moves a pod from nested to flat cgroups at its next deploy, and removes both at uninstall', async () => {
    const port = await freePort();
    const withLimits = (artifact: typeof h.v1, greeting: string) =>
      h
        .manifest(pod, artifact, port, greeting)
        .toBuilder()
        .setLaunchable('app', {
          launchableType: 'hoist',
          location: `${h.artifacts.url}/${artifact.fileName}`,
          restartTimeout: '5s',
          cgroup: { cpus: 1, memory: 256 * 2 ** 20 },
        })
        .build();
    const pid = async (previous?: number) =>
      waitFor('the pod to answer', async () => {
        const status = JSON.parse((await h.answer(port, '/_status')) ?? '{}') as { pid?: number };
        return status.pid !== undefined && status.pid !== previous ? status.pid : undefined;
      });
    const nested = `p2/${h.node}/${pod}/app`;
    await h.store.put(`intent/${h.node}/${pod}`, withLimits(h.v1, 'one').raw);
    const first = await pid();
    expect(await memoryCgroup(first)).toBe(`/${nested}`);

    // The preparer restarts with P2's default naming: nothing is redeployed, nothing moves.
    const config = await readFile(h.configPath, 'utf8');
    await writeFile(h.configPath, config.replace('  params: {nested_cgroups: "t"}\n', ''));
    await h.preparer.stop();
    await h.startPreparer('preparer-flat');
    await waitFor(
      'the pod reported running',
      async () => (await h.podState(pod))?.state === 'running',
    );
    await sleep(1500);
    expect(await pid()).toBe(first);
    expect(await memoryCgroup(first)).toBe(`/${nested}`);
    expect(await readFile(`/sys/fs/cgroup/cpu/${nested}/cpu.cfs_quota_us`, 'utf8')).toBe(
      '1000000\n',
    );

    // Its next deploy: the new version runs in <pod>__app with the limits; the nested group is gone.
    await h.store.put(`intent/${h.node}/${pod}`, withLimits(h.v2, 'two').raw);
    await waitFor('version two', async () => (await h.answer(port)) === 'two\n', 60_000);
    const second = await pid(first);
    expect(await memoryCgroup(second)).toBe(`/${pod}__app`);
    expect(await readFile(`/sys/fs/cgroup/cpu/${pod}__app/cpu.cfs_quota_us`, 'utf8')).toBe(
      '1000000\n',
    );
    expect(existsSync(`/sys/fs/cgroup/cpu/p2/${h.node}/${pod}`)).toBe(false);
    expect(existsSync(`/sys/fs/cgroup/memory/p2/${h.node}/${pod}`)).toBe(false);

    await h.store.delete(`intent/${h.node}/${pod}`);
    await waitFor('the pod uninstalled', async () => (await h.answer(port)) === undefined);
    await waitFor(
      'no cgroup of the pod in either form',
      async () =>
        (await findPodCgroups(await detectCgroups(), {}, { node: h.node, pod })).length === 0,
    );
  });
});
