/**
 * What happened to my pod (issue 23): `p2 describe`, `p2 history`, `p2 rollback` and `p2 logs`
 * through the built p2, against a real p2-kv-server and a real p2-preparer on real runit, users
 * and cgroups. The pod is deployed as v1 then v2, crashes once, and is rolled back to v1. Needs root.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { PodEvent } from '@p2/keyspace';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { type TestHost, withTestHost } from '../src/test-host.js';

const CLI = join(repoRoot, 'apps/client/dist/cli.js');
let h: TestHost;
const { p2Json, host } = withTestHost();
beforeAll(() => {
  h = host();
});

interface Described {
  nodes: Array<{
    node: string;
    events: PodEvent[];
    revisions: Array<{ rev: number; sha: string }>;
    processes?: Array<{ pid?: number }>;
  }>;
}

describe('p2 describe / history / rollback / logs with a real preparer', () => {
  let pod: string;
  let port: number;
  const pidOf = async () =>
    JSON.parse((await h.answer(port, '/_status')) ?? '{}').pid as number | undefined;
  const localFlags = () => [
    '--pod-root',
    join(h.work, 'pods'),
    '--service-root',
    join(h.work, 'service'),
  ];

  it('records the deploys of v1 and v2, an exit and the restart, and describe shows them', async () => {
    pod = h.podId('ev');
    port = await freePort();
    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v1, port, 'one').raw);
    await waitFor('v1 to answer', async () => (await h.answer(port)) === 'one\n', 60_000);
    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v2, port, 'two').raw);
    await waitFor('v2 to answer', async () => (await h.answer(port)) === 'two\n', 60_000);
    const before = await pidOf();
    await h.answer(port, '/exit/3'); // the app exits with 3; runit starts it again
    await waitFor(
      'a new pid',
      async () => {
        const pid = await pidOf();
        return pid !== undefined && pid !== before;
      },
      30_000,
    );

    const d = await waitFor(
      'the exit and restart events',
      async () => {
        const out = await p2Json<Described>(['describe', pod]);
        const types = out.nodes[0]?.events.map((e) => e.type) ?? [];
        return types.includes('exit') && types.includes('restart') ? out : undefined;
      },
      30_000,
    );
    expect(d.nodes).toHaveLength(1);
    const events = d.nodes[0]?.events ?? [];
    const deployed = events.filter((e) => e.type === 'deployed');
    expect(deployed.map((e) => e.sha)).toEqual([
      h.manifest(pod, h.v1, port, 'one').sha(),
      h.manifest(pod, h.v2, port, 'two').sha(),
    ]);
    for (const e of deployed) {
      expect(Date.parse(e.time)).toBeGreaterThan(0);
      expect(Object.keys(e.steps ?? {}).length).toBeGreaterThan(0);
      expect(Object.values(e.steps ?? {}).every((ms) => typeof ms === 'number')).toBe(true);
      expect(e.totalMs).toBeGreaterThanOrEqual(0);
    }
    expect(events.filter((e) => e.type === 'deploying')).toHaveLength(2);
    expect(events.find((e) => e.type === 'exit')).toMatchObject({ launchable: 'app', exitCode: 3 });
    expect(events.find((e) => e.type === 'restart')).toMatchObject({
      launchable: 'app',
      pid: await pidOf(),
    });
    // The health checker saw the pod pass (its transitions are events too).
    expect(events.some((e) => e.type === 'health' && e.to === 'passing')).toBe(true);
    expect(d.nodes[0]?.revisions.map((r) => r.rev)).toEqual([1, 2]);
  });

  it('p2 history lists both versions; p2 rollback --to 1 brings v1 back, as it was', async () => {
    const v1 = h.manifest(pod, h.v1, port, 'one');
    const history = await p2Json<
      Array<{ node: string; intentSha: string; revisions: Array<{ rev: number; sha: string }> }>
    >(['history', pod]);
    expect(history).toEqual([
      {
        node: h.node,
        intentSha: h.manifest(pod, h.v2, port, 'two').sha(),
        revisions: [
          expect.objectContaining({ rev: 1, sha: v1.sha() }),
          expect.objectContaining({ rev: 2, sha: h.manifest(pod, h.v2, port, 'two').sha() }),
        ],
      },
    ]);
    const rolled = await p2Json(['rollback', pod, '--to', '1']);
    expect(rolled).toEqual({
      pod,
      rolledBack: [{ node: h.node, rev: 1, sha: v1.sha(), signed: false }],
    });
    const intent = (await h.store.get(`intent/${h.node}/${pod}`)).value?.value;
    expect(Buffer.from(intent ?? [])).toEqual(Buffer.from(v1.raw));
    await waitFor('v1 to answer again', async () => (await h.answer(port)) === 'one\n', 60_000);
    const after = await waitFor(
      'revision 3',
      async () => {
        const [n] = await p2Json<typeof history>(['history', pod]);
        return n && n.revisions.length === 3 ? n : undefined;
      },
      30_000,
    );
    expect(after.revisions[2]).toMatchObject({ rev: 3, sha: v1.sha() });
  });

  it("p2 logs prints the app's output, filters by --launchable and --since, and --follow streams a new line", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'logs', pod, ...localFlags(), ...args]);
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.once('close', (code) => resolve({ code, out, err }));
      });
    const listening = `hello: listening on 127.0.0.1:${port}`;
    const all = await run(['--json', '--launchable', 'app']);
    expect(all.code, all.err).toBe(0);
    const { lines } = JSON.parse(all.out) as {
      lines: Array<{ time: string; text: string; launchable: string }>;
    };
    const starts = lines.filter((l) => l.text.startsWith(listening));
    expect(starts.length).toBeGreaterThanOrEqual(4); // v1, v2, the restart, v1 again
    expect(starts.every((l) => l.launchable === 'app' && Date.parse(l.time) > 0)).toBe(true);

    const last = starts.at(-1)?.time as string;
    const since = await run(['--json', '--since', last]);
    const recent = (JSON.parse(since.out) as { lines: Array<{ time: string }> }).lines;
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(lines.length);
    expect(recent.every((l) => l.time >= last)).toBe(true);
    expect((await run(['--launchable', 'nope'])).code).toBe(4);
    // Not root: refused, saying why (this one run as nobody).
    const asNobody = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'logs', pod, ...localFlags()], {
        uid: 65534,
        gid: 65534,
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('close', (code) => resolve({ code, err }));
    });
    expect(asNobody.code).not.toBe(0);
    expect(asNobody.err).toContain('run p2 logs as root');

    const follower = spawn(process.execPath, [CLI, 'logs', pod, ...localFlags(), '--follow']);
    let streamed = '';
    follower.stdout.on('data', (d: Buffer) => (streamed += d.toString()));
    try {
      await waitFor('the existing lines', async () => streamed.includes(listening), 30_000);
      const printed = streamed.split(listening).length;
      const pid = await pidOf();
      await h.answer(port, '/exit/4'); // the restarted app prints a new "listening" line
      await waitFor(
        'a streamed new line',
        async () => streamed.split(listening).length > printed,
        30_000,
      );
      expect(await pidOf()).not.toBe(pid);
    } finally {
      follower.kill('SIGTERM');
    }
  });
});
