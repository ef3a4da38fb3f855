/** `p2 cgroup-info` on this host's real cgroups (root): a launchable cgroup with a process shows. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cgroupName, createCgroup, detectCgroups, openCgroup } from '@p2/cgroups';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture } from '../../test-support.js';

const node = `p2t-cginfo-${randomBytes(3).toString('hex')}`;
let sleeper: ChildProcess | undefined;

beforeAll(async () => {
  const hierarchy = await detectCgroups();
  const cgroup = await createCgroup(
    hierarchy,
    { name: cgroupName({ node, pod: 'p2t-hello', launchable: 'app' }) },
    {},
  );
  sleeper = spawn('sleep', ['60']);
  await cgroup.addProcess(sleeper.pid as number);
});

afterAll(async () => {
  sleeper?.kill('SIGKILL');
  await openCgroup(await detectCgroups(), { name: `p2/${node}` })
    .remove({ kill: true })
    .catch(() => undefined);
});

describe('p2 cgroup-info', () => {
  it("lists the launchable cgroup that has a process, as P2's JSON and as a table", async () => {
    const io = capture();
    expect(await runCli(['cgroup-info', '--json'], { io, env: {} })).toBe(ExitCode.OK);
    const { launchables } = JSON.parse(io.out) as { launchables: unknown[] };
    expect(launchables).toContainEqual({
      node,
      pod: 'p2t-hello',
      launchable: 'app',
      cgroup: `p2/${node}/p2t-hello/app`,
    });
    const human = capture();
    expect(await runCli(['cgroup-info'], { io: human, env: {} })).toBe(ExitCode.OK);
    expect(human.out).toMatch(
      new RegExp(`^${node} +p2t-hello +app +p2/${node}/p2t-hello/app$`, 'm'),
    );
  });
});
