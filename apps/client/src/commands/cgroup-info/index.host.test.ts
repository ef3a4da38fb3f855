/**
 * `p2 cgroup-info` on this host's real cgroups (root): launchable cgroups with a process show, in
 * P2's flat form (the default naming) and its nested one, and below `--parent`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  type CgroupHierarchy,
  createCgroup,
  detectCgroups,
  launchableCgroupLocation,
  openCgroup,
  removePodCgroups,
} from '@p2/cgroups';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture } from '../../test-support.js';

const suffix = randomBytes(3).toString('hex');
const node = `p2t-cginfo-${suffix}`;
const parent = `p2t-cginfo-parent-${suffix}`;
const sleepers: ChildProcess[] = [];
let hierarchy: CgroupHierarchy;

async function occupied(naming: { nested?: boolean; parent?: string }, pod: string) {
  const cgroup = await createCgroup(
    hierarchy,
    launchableCgroupLocation(naming, { node, pod, launchable: 'app' }),
  );
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  sleepers.push(sleeper);
  await cgroup.addProcess(sleeper.pid as number);
}

beforeAll(async () => {
  hierarchy = await detectCgroups();
  await createCgroup(hierarchy, { name: parent });
  await occupied({}, 'p2t-flat');
  await occupied({ nested: true }, 'p2t-nested');
  await occupied({ parent }, 'p2t-below');
});

afterAll(async () => {
  for (const sleeper of sleepers) sleeper.kill('SIGKILL');
  for (const name of [`p2/${node}`, parent])
    await openCgroup(hierarchy, { name })
      .remove({ kill: true })
      .catch(() => undefined);
  await removePodCgroups(hierarchy, {}, { node, pod: 'p2t-flat' }).catch(() => undefined);
});

describe('p2 cgroup-info', () => {
  it("lists flat and nested launchable cgroups that have a process, as P2's JSON and as a table", async () => {
    const io = capture();
    expect(await runCli(['cgroup-info', '--json'], { io, env: {} })).toBe(ExitCode.OK);
    const { launchables } = JSON.parse(io.out) as { launchables: unknown[] };
    expect(launchables).toContainEqual({
      node: '',
      pod: 'p2t-flat',
      launchable: 'app',
      cgroup: 'p2t-flat__app',
    });
    expect(launchables).toContainEqual({
      node,
      pod: 'p2t-nested',
      launchable: 'app',
      cgroup: `p2/${node}/p2t-nested/app`,
    });
    expect(JSON.stringify(launchables)).not.toContain('p2t-below');
    const human = capture();
    expect(await runCli(['cgroup-info'], { io: human, env: {} })).toBe(ExitCode.OK);
    expect(human.out).toMatch(/^- +p2t-flat +app +p2t-flat__app$/m);
    expect(human.out).toMatch(
      new RegExp(`^${node} +p2t-nested +app +p2/${node}/p2t-nested/app$`, 'm'),
    );
  });

  it('lists the cgroups below --parent (the preparer’s cgroup_parent)', async () => {
    const io = capture();
    expect(await runCli(['cgroup-info', '--parent', parent, '--json'], { io, env: {} })).toBe(
      ExitCode.OK,
    );
    expect(JSON.parse(io.out)).toEqual({
      launchables: [{ node: '', pod: 'p2t-below', launchable: 'app', cgroup: 'p2t-below__app' }],
    });
  });
});
