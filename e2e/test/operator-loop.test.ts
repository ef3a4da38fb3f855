/**
 * Issue 23's ten symptoms, tried again as a new operator would on one quick-start-like host: the
 * built `p2` against a real p2-kv-server and a real p2-preparer (real runit, users, cgroups), with
 * no controllers running. Each `it` replays one symptom and asserts the fixed behaviour. Needs root.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManifestBuilder } from '@p2/manifest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { type BuiltArtifact, buildArtifact, repoRoot } from '../src/artifacts.js';
import { p2Runner, type Run } from '../src/cli.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const CLI = join(repoRoot, 'apps/client/dist/cli.js');
const execFileAsync = promisify(execFile);
let h: TestHost;
let failed = false;
const store = () => `consul://127.0.0.1:${h.kvPort}`;
const { p2, p2Json, killAll } = p2Runner(store);

/** The operator's shell: no P2_STORE, no NO_COLOR; `env` on top. No `--store` is added. */
function bare(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<Run> {
  const { P2_STORE: _s, NO_COLOR: _c, CONSUL_HTTP_ADDR: _a, ...base } = process.env;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** Starts a long-running command, collecting stdout and stderr; `stop()` sends SIGINT (Ctrl-C). */
function follow(command: string, args: string[]) {
  const { NO_COLOR: _c, ...env } = process.env;
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return {
    child,
    out: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface InspectRow {
  node: string;
  pod: string;
  intentSha: string | null;
  realitySha: string | null;
  health: string | null;
  verdict: string;
  status: { state: string; error: string | null } | null;
  exits: Array<{
    launchable: string;
    restarts: number;
    lastExit: { exitCode: number | null; time: string } | null;
  }>;
}
const inspectPod = async (pod: string) =>
  (await p2Json<{ pods: InspectRow[] }>(['inspect', '--pod', pod])).pods[0];

// The app pod every step uses, and a pod whose launch script exits 1 every second.
let app: string;
let appPort: number;
let crash: string;
let crashArtifact: BuiltArtifact;
/** An artifact server that answers every request with 404, after 4 s. */
let slowServer: { url: string; close(): void };
const file = (name: string) => join(h.work, `${name}.yaml`);
const v1 = () => h.manifest(app, h.v1, appPort, 'one');
const v2 = () => h.manifest(app, h.v2, appPort, 'two');

beforeAll(async () => {
  h = await startTestHost();
  const slow = createServer((_req, res) => {
    setTimeout(() => res.writeHead(404).end('not found'), 4_000);
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowServer = {
    url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
    close: () => {
      slow.closeAllConnections();
      slow.close();
    },
  };
  app = h.podId('op');
  appPort = await freePort();
  await writeFile(file('v1'), v1().raw);
  await writeFile(file('v2'), v2().raw);
  const crashDir = join(h.work, 'crash-src');
  await mkdir(join(crashDir, 'bin'), { recursive: true });
  await writeFile(
    join(crashDir, 'bin', 'launch'),
    // runsv starts it again after a second: it exits 1 every second.
    '#!/bin/sh\necho "p2t-crash: starting"\nexit 1\n',
  );
  await chmod(join(crashDir, 'bin', 'launch'), 0o755);
  crashArtifact = await buildArtifact(crashDir, join(h.work, 'artifacts'), 'crash', h.id);
  crash = h.podId('cr');
  // No status port: the pod's verdict is its processes' (it never answers anyway).
  const crashManifest = new ManifestBuilder()
    .setId(crash)
    .setLaunchable('app', {
      launchableType: 'hoist',
      location: `${h.artifacts.url}/${crashArtifact.fileName}`,
      restartTimeout: '5s',
    })
    .build();
  await writeFile(file('crash'), crashManifest.raw);
}, 60_000);
afterEach((context) => {
  if (context.task.result?.state === 'fail' && !context.task.fails) failed = true;
});
afterAll(async () => {
  killAll();
  slowServer?.close();
  await h?.close(failed);
}, 60_000);

describe('issue 23 as a new operator, through the built p2 with a real store and preparer', () => {
  // A preparer with no pod yet is known by its heartbeat (status/nodes/<node>/preparer).
  it('5. a fresh preparer with no pods is listed by p2 nodes (so a first schedule --node is accepted)', async () => {
    const nodes = await p2Json<Array<{ node: string }>>(['nodes']);
    expect(nodes.map((n) => n.node)).toContain(h.node);
  });

  it('1. p2 watch with no flags draws the table on a terminal and keeps running; piped it prints records', async () => {
    // The first pods (no --force: the fresh preparer's heartbeat made its node known): the app,
    // and the crashing pod symptom 2 looks at (scheduled now so that it has crashed a few times by then).
    for (const pod of ['v1', 'crash']) {
      const first = await p2(['schedule', file(pod), '--node', h.node]);
      expect(first.code, first.err).toBe(0);
    }
    const w = follow('script', [
      '-qfc',
      `P2_STORE=${store()} ${process.execPath} ${CLI} watch`,
      '/dev/null',
    ]);
    try {
      await waitFor('the table', async () => w.out().includes(app), 15_000);
      expect(w.out()).toContain('VERDICT');
      expect(w.out()).not.toContain('--count');
      await new Promise((r) => setTimeout(r, 500));
      expect(w.child.exitCode).toBeNull(); // still watching
    } finally {
      await w.stop();
    }
    for (const format of [['--json'], ['-o', 'yaml']]) {
      const piped = follow(process.execPath, [CLI, 'watch', ...format, '--store', store()]);
      try {
        const record = await waitFor(
          `a ${format.join(' ')} record`,
          async () => {
            const text = piped.out();
            if (format[0] === '--json') {
              const line = text.split('\n')[0];
              return text.includes('\n') && line ? JSON.parse(line) : undefined;
            }
            const doc = parseAllDocuments(text)[0];
            return doc && text.includes(app) ? doc.toJS() : undefined;
          },
          15_000,
        );
        expect(record.pods.map((p: { pod: string }) => p.pod)).toContain(app);
        expect(Date.parse(record.time)).toBeGreaterThan(0);
      } finally {
        await piped.stop();
      }
    }
  });

  it('6a. p2 schedule --wait --timeout 60s exits 0 once the pod is healthy', async () => {
    const r = await p2(['schedule', file('v1'), '--node', h.node, '--wait', '--timeout', '60s']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`${app} on ${h.node}: converged, preparer running, health passing`);
    expect(await h.answer(appPort)).toBe('one\n');
  });

  it("3. p2 logs POD prints the app's output; p2 describe POD shows deploy events with times", async () => {
    // Logs are read on the pod's host (no store): this host's roots, not the defaults.
    const logs = await bare([
      'logs',
      app,
      '--pod-root',
      join(h.work, 'pods'),
      '--service-root',
      join(h.work, 'service'),
    ]);
    expect(logs.code, logs.err).toBe(0);
    expect(logs.out).toContain(`hello: listening on 127.0.0.1:${appPort}`);
    const d = await waitFor(
      'a deployed event',
      async () => {
        const r = await p2(['describe', app]);
        return r.code === 0 && /deployed/.test(r.out) ? r : undefined;
      },
      15_000,
    );
    const deployed = d.out.split('\n').find((l) => /\bdeployed\b/.test(l)) ?? '';
    expect(deployed).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/); // when
    expect(deployed).toMatch(/total=\d+ms/); // how long
    expect(deployed).toContain(v1().sha().slice(0, 12));
  });

  it('4. p2 history lists both versions after two schedules; p2 rollback puts v1 back and it runs', async () => {
    const r = await p2(['schedule', file('v2'), '--node', h.node, '--wait', '--timeout', '60s']);
    expect(r.code, r.err).toBe(0);
    expect(await h.answer(appPort)).toBe('two\n');
    const history = await p2(['history', app]);
    expect(history.code, history.err).toBe(0);
    expect(history.out).toContain(v1().sha().slice(0, 12));
    expect(history.out).toContain(v2().sha().slice(0, 12));
    const [n] = await p2Json<Array<{ revisions: Array<{ rev: number; sha: string }> }>>([
      'history',
      app,
    ]);
    expect(n?.revisions.map((x) => x.sha)).toEqual([v1().sha(), v2().sha()]);

    const back = await p2(['rollback', app]);
    expect(back.code, back.err).toBe(0);
    await waitFor(
      'reality to be v1 again',
      async () => (await h.podState(app))?.sha === v1().sha() && (await inspectPod(app)),
      60_000,
    );
    await waitFor('v1 to answer again', async () => (await h.answer(appPort)) === 'one\n', 30_000);
    expect((await inspectPod(app))?.realitySha).toBe(v1().sha());
  });

  it('2. a pod whose launch exits 1 every second is crashlooping, with restarts and the last exit', async () => {
    const row = await waitFor(
      'the crashlooping verdict',
      async () => {
        const p = await inspectPod(crash);
        return p?.verdict === 'crashlooping' ? p : undefined;
      },
      45_000,
      500,
    );
    const exits = row.exits.find((e) => e.launchable === 'app');
    expect(exits?.restarts).toBeGreaterThanOrEqual(1);
    expect(exits?.lastExit?.exitCode).toBe(1);
    const table = await p2(['inspect', '--pod', crash]);
    expect(table.code, table.err).toBe(0);
    const line = table.out.split('\n').find((l) => l.includes(crash) && l.includes(h.node)) ?? '';
    expect(line).toMatch(/\b\d+ \(exit 1\)/); // RESTARTS: count and last exit
    expect(line).toContain('crashlooping');
    expect(table.out).toMatch(/crashlooping .*: app exited \d+ times in 5 min, last exit 1 at/);
  });

  it('5. a node typo is refused with "did you mean"; p2 nodes lists the node; inspect --node nosuch exits 4', async () => {
    const typo = `${h.node.slice(0, -1)}x`;
    const r = await p2(['schedule', file('v1'), '--node', typo]);
    expect(r.code).toBe(4);
    expect(r.err).toContain(`did you mean ${h.node}`);
    expect((await h.store.get(`intent/${typo}/${app}`)).value).toBeUndefined();
    const nodes = await p2Json<Array<{ node: string }>>(['nodes']);
    expect(nodes.map((n) => n.node)).toContain(h.node);
    expect((await p2(['inspect', '--node', 'p2t-nosuch'])).code).toBe(4);
  });

  it('6b. --wait times out with 6; inspect --exit-status exits 1 on failed; health shows for the version still answering', async () => {
    const timeout = await p2([
      'schedule',
      file('crash'),
      '--node',
      h.node,
      '--wait',
      '--timeout',
      '3s',
    ]);
    expect(timeout.code, timeout.err).toBe(6);
    expect(timeout.err).toContain('timed out');

    // A failed update of the app: v3's artifact is not there; v1 keeps answering.
    const missing = `${h.artifacts.url}/hello_missing.tar.gz`;
    await writeFile(file('v3'), h.manifest(app, missing, appPort, 'three').raw);
    const r = await p2(['schedule', file('v3'), '--node', h.node]);
    expect(r.code, r.err).toBe(0);
    const row = await waitFor(
      'the failed verdict',
      async () => {
        const p = await inspectPod(app);
        return p?.verdict === 'failed' ? p : undefined;
      },
      30_000,
    );
    expect(await h.answer(appPort)).toBe('one\n');
    expect(row.realitySha).toBe(v1().sha());
    const status = await p2(['inspect', '--pod', app, '--exit-status']);
    expect(status.code).toBe(1);
    const crashStatus = await p2(['inspect', '--pod', crash, '--exit-status', '--json']);
    expect(crashStatus.code, `${crashStatus.out}${(await p2(['describe', crash])).out}`).toBe(1);
    // Between attempts (the preparer retries), HEALTH is v1's, which still answers.
    await waitFor(
      'health passing while the update has failed',
      async () => {
        const p = await inspectPod(app);
        return p?.verdict === 'failed' && p.health === 'passing';
      },
      15_000,
    );
    // Back to v1.
    const back = await p2(['schedule', file('v1'), '--node', h.node, '--wait', '--timeout', '60s']);
    expect(back.code, back.err).toBe(0);
    expect((await p2(['inspect', '--pod', app, '--exit-status'])).code).toBe(0);
  });

  let duringInstall: InspectRow | undefined;
  it('6c. while a new version installs (its download takes 4 s), the old one answers', async () => {
    const slow = `${slowServer.url}/hello_slow.tar.gz`;
    const v4 = h.manifest(app, slow, appPort, 'four');
    await writeFile(file('v4'), v4.raw);
    expect((await p2(['schedule', file('v4'), '--node', h.node])).code).toBe(0);
    const deploying = async () => {
      const p = await inspectPod(app);
      return p?.intentSha === v4.sha() && p.status?.state === 'deploying' ? p : undefined;
    };
    await waitFor('the v4 deploy to start', deploying, 10_000);
    await new Promise((r) => setTimeout(r, 1_000)); // well inside the 4 s download
    duringInstall = await deploying();
    expect(duringInstall).toBeDefined();
    expect(await h.answer(appPort)).toBe('one\n');
  });

  // The previous version's health stays until it is halted (host-agent's deploy untracks it then).
  it('6c. ...and HEALTH shows its health meanwhile', () => {
    expect(duringInstall?.health).toBe('passing');
  });

  let oldRc: string;
  let newRc: string;
  const role = () => `p2t_op=${h.id}`;

  it('7. p2 rc create with no controller running warns so; p2 rc get takes an 8-char prefix', async () => {
    // v1 again after 6c's update (which never completes).
    const back = await p2(['schedule', file('v1'), '--node', h.node, '--wait', '--timeout', '60s']);
    expect(back.code, back.err).toBe(0);
    const created = await p2(['rc', 'create', '-m', file('v1'), '-n', role(), '-r', '1', '--json']);
    expect(created.code, created.err).toBe(0);
    const rc = JSON.parse(created.out) as { id: string; controller: { warning: string | null } };
    expect(rc.controller.warning).toEqual(expect.stringMatching(/controller/i));
    expect(created.err).toContain('warning:');
    oldRc = rc.id;
    const got = await p2Json<{ id: string }>(['rc', 'get', oldRc.slice(0, 8)]);
    expect(got.id).toBe(oldRc);
    newRc = (
      await p2Json<{ id: string }>(['rc', 'create', '-m', file('v2'), '-n', role(), '--disabled'])
    ).id;
  });

  it('8. surge on the one node that runs the pod is refused with the reason; roll status prints durations', async () => {
    expect((await p2(['label', 'set', 'node', h.node, role()])).code).toBe(0);
    const roll = (command: string, ...extra: string[]) =>
      p2(['roll', command, '--old', oldRc, '--new', newRc, '-d', '1', '--minimum', '0', ...extra]);
    const surge = await roll('start', '--strategy', 'surge');
    expect(surge.code).toBe(3);
    expect(surge.err).toContain(`--strategy surge would replace ${app} in place on ${h.node}`);
    expect((await h.store.get(`rolls/${newRc}`)).value).toBeUndefined();
    // Nothing places the new RC's replica (no controllers): the deadline passes.
    const ran = await roll('run', '--deadline', '2s', '--poll', '200ms');
    expect(ran.code).not.toBe(0);
    const status = await p2(['roll', 'status', newRc]);
    expect(status.code, status.err).toBe(0);
    expect(status.out).toContain('no new replica became healthy for 2s');
    expect(status.out).not.toMatch(/\d+ ms\b/);
    expect(status.out).toContain('HEALTHY/SCHEDULED/DESIRED');
  });

  it('9. help marks required options; label get pod <bad id> exits non-zero', async () => {
    const help = await bare(['rc', 'create', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--manifest', '--node-selector']) {
      const at = help.out.indexOf(flag);
      const option = help.out.slice(at, help.out.indexOf('\n  -', at + 1));
      expect(option, flag).toContain('(required)');
    }
    const bad = await p2(['label', 'get', 'pod', 'no-node-part']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toBe('');
  });

  it('10. --version, completion, CONSUL_HTTP_ADDR, JSON usage errors, -o yaml = --json, camelCase', async () => {
    const version = await bare(['--version']);
    expect(version.code).toBe(0);
    expect(version.out.trim()).toMatch(/^\d+\.\d+\.\d+/);

    const script = join(h.work, 'p2.bash');
    const completion = await bare(['completion', 'bash']);
    expect(completion.code).toBe(0);
    expect(completion.out).toContain('complete');
    await writeFile(script, completion.out);
    await execFileAsync('bash', ['-n', script]); // throws on a syntax error

    const consul = await bare(['inspect', '--pod', app, '--json'], {
      CONSUL_HTTP_ADDR: `http://127.0.0.1:${h.kvPort}`,
    });
    expect(consul.code, consul.err).toBe(0);
    expect(JSON.parse(consul.out).pods[0].pod).toBe(app);

    // These only read: run them side by side.
    const usages = [
      ['inspect', '--format', 'bogus', '--json'],
      ['schedule', '--json'], // missing the manifest argument
      ['inspect', '--no-such-flag', '--json'],
    ];
    for (const [usage, r] of await Promise.all(
      usages.map(async (u) => [u, await p2(u)] as const),
    )) {
      expect(r.code, usage.join(' ')).toBe(2);
      expect(() => JSON.parse(r.out), `${usage.join(' ')}: ${r.out}`).not.toThrow();
      expect(JSON.parse(r.out).error).toMatchObject({ code: 'P2_CLI_USAGE' });
    }

    const same = [
      ['history', app],
      ['rc', 'get', oldRc],
      ['label', 'get', 'node', h.node],
    ];
    await Promise.all(
      same.map(async (args) => {
        const yaml = await p2([...args, '-o', 'yaml']);
        expect(yaml.code, yaml.err).toBe(0);
        expect(parseYaml(yaml.out), args.join(' ')).toEqual(await p2Json(args));
      }),
    );

    // One casing: every key of these documents is camelCase, except the keys of maps whose keys
    // are data (labels, config, launchable ids, deploy step names).
    const dataMaps = new Set([
      'labels',
      'podLabels',
      'rcLabels',
      'config',
      'steps',
      'launchables',
      'intentLaunchables',
      'realityLaunchables',
      'versions',
      'verdicts',
    ]);
    const bad: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (Array.isArray(value)) {
        for (const [i, v] of value.entries()) walk(v, `${path}[${i}]`);
      } else if (value && typeof value === 'object')
        for (const [key, v] of Object.entries(value)) {
          if (!/^[a-z][a-zA-Z0-9]*$/.test(key)) bad.push(`${path}.${key}`);
          if (!dataMaps.has(key)) walk(v, `${path}.${key}`);
        }
    };
    const scheduled = await p2Json(['schedule', file('v1'), '--node', h.node]);
    expect(scheduled).toMatchObject({ podId: app });
    expect(scheduled).toHaveProperty('podUniqueKey');
    const documents = [
      ['inspect'],
      ['nodes'],
      ['describe', app],
      ['history', app],
      ['rc', 'get', oldRc],
      ['rc', 'list'],
      ['roll', 'status', newRc],
    ];
    for (const [args, doc] of await Promise.all(
      documents.map(async (args) => [args, await p2Json(args)] as const),
    ))
      walk(doc, args.join(' '));
    walk(scheduled, 'schedule');
    expect(bad).toEqual([]);
  });

  it('10b. a context names the store (no P2_STORE); rc --wait shows its progress and exits 6 when nothing acts', async () => {
    const env = { P2_CONFIG: join(h.work, 'p2-config.yaml') };
    const set = await bare(['context', 'set', 'local', '--store', store(), '--use'], env);
    expect(set.code, set.err).toBe(0);
    const listed = JSON.parse((await bare(['context', 'list', '--json'], env)).out);
    expect(listed.current).toBe('local');
    const viaContext = await bare(['inspect', '--pod', app, '-o', 'json'], env);
    expect(viaContext.code, viaContext.err).toBe(0);
    expect(JSON.parse(viaContext.out).pods[0].pod).toBe(app);
    // No p2-controllers here: the wait says where it stands, then times out.
    const waited = await bare(
      ['rc', 'create', '-m', file('v1'), '-n', `p2t_none=${h.id}`, '-r', '1', '--timeout', '2s'],
      env,
    );
    expect(waited.code, waited.err).toBe(6);
    expect(waited.err).toMatch(/timed out; last: rc [0-9a-f]{8}: 0\/1 running/);
  });
});
