/**
 * `--json` (and `-o yaml|wide`) as scripts rely on it: one casing (camelCase) in every command, and
 * every field present — `null` when unknown — so a record with little known has the same keys as
 * one with everything known. Each command runs twice against a real kv-server: on a sparse store and
 * on one where everything is set, and the key paths of the two outputs must be the same.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { HealthStore, PreparerStatusStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type Harness, startHarness } from './test-support.js';

/** Maps whose keys are the user's (labels, config, launchable ids, verdict names): not checked. */
const USER_MAPS = new Set([
  'labels',
  'podLabels',
  'rcLabels',
  'annotations',
  'launchables',
  'versions',
  'verdicts',
  'intentLaunchables',
  'realityLaunchables',
  'config',
]);

/** Every key path of a JSON value ("pods[].status.code"), user maps as one leaf. */
function keyPaths(value: unknown, path = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) keyPaths(v, `${path}[]`, out);
  else if (value !== null && typeof value === 'object')
    for (const [key, v] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      out.add(at);
      if (!USER_MAPS.has(key)) keyPaths(v, at, out);
    }
  return out;
}

const CAMEL = /^[a-z][a-zA-Z0-9]*$/;

let h: Harness;
let sparse: Harness;
const ids: Record<string, Record<string, string>> = {};

async function seed(harness: Harness, full: boolean): Promise<Record<string, string>> {
  const pod = [
    'id: p2t-shape',
    'launchables:',
    '  app:',
    '    launchable_type: hoist',
    '    location: http://127.0.0.1:9/app_abc123.tar.gz',
    '',
  ].join('\n');
  await writeFile(join(harness.dir, 'pod.yaml'), pod);
  await new PreparerStatusStore(harness.store).publish('p2t-n1', {
    pod: 'p2t-shape',
    uniqueKey: '',
    state: full ? 'failed' : 'running',
    updated: '2026-12-01T00:00:00.000Z',
    ...(full ? { sha: 'abc', error: 'boom', code: 'P2_X', attempt: 2 } : {}),
  });
  await harness.p2(['schedule', 'pod.yaml', '--node', 'p2t-n1', '--json']);
  if (full) {
    await harness.store.put('reality/p2t-n1/p2t-shape', pod);
    await new HealthStore(harness.store).put({
      podId: 'p2t-shape',
      node: 'p2t-n1',
      status: 'passing',
      time: new Date('2026-12-01T00:00:00Z'),
    });
    await harness.p2(['label', 'set', 'node', 'p2t-n1', 'role=web']);
  }
  const rc = JSON.parse(
    (
      await harness.p2([
        'rc',
        'create',
        '-m',
        'pod.yaml',
        '-n',
        'role=web',
        '--json',
        ...(full ? ['-r', '2', '-p', 'team=x', '--spread-key', 'zone', '--disabled'] : []),
      ])
    ).out,
  ).id as string;
  const ds = JSON.parse(
    (
      await harness.p2([
        'ds',
        'create',
        '-m',
        'pod.yaml',
        '-n',
        'role=web',
        '--cluster-name',
        'c',
        '--json',
        ...(full ? ['--min-health', '1', '--disabled'] : []),
      ])
    ).out,
  ).id as string;
  return { rc, ds };
}

beforeAll(async () => {
  [h, sparse] = await Promise.all([startHarness('shape-full'), startHarness('shape-sparse')]);
  ids.full = await seed(h, true);
  ids.sparse = await seed(sparse, false);
});
afterAll(async () => {
  await Promise.all([h?.close(), sparse?.close()]);
});

const COMMANDS: Array<{ name: string; args: (id: Record<string, string>) => string[] }> = [
  { name: 'inspect', args: () => ['inspect', '--pod', 'p2t-shape'] },
  { name: 'nodes', args: () => ['nodes'] },
  { name: 'describe', args: () => ['describe', 'p2t-shape'] },
  { name: 'history', args: () => ['history', 'p2t-shape'] },
  { name: 'plan', args: () => ['plan', 'pod.yaml', '--node', 'p2t-n1'] },
  { name: 'label get', args: () => ['label', 'get', 'node', 'p2t-n1'] },
  { name: 'rc get', args: (id) => ['rc', 'get', id.rc ?? ''] },
  { name: 'rc list', args: () => ['rc', 'list'] },
  { name: 'ds get', args: (id) => ['ds', 'get', id.ds ?? ''] },
  { name: 'ds list', args: () => ['ds', 'list'] },
  { name: 'manifest check', args: () => ['manifest', 'check', 'pod.yaml'] },
];

describe('--json', () => {
  it.each(COMMANDS)('$name: camelCase, and the same fields whether known or not', async (c) => {
    const full = await h.p2([...c.args(ids.full ?? {}), '--json']);
    const thin = await sparse.p2([...c.args(ids.sparse ?? {}), '--json']);
    expect(full.code, full.err).toBe(ExitCode.OK);
    expect(thin.code, thin.err).toBe(ExitCode.OK);
    const fullPaths = keyPaths(JSON.parse(full.out));
    const thinPaths = keyPaths(JSON.parse(thin.out));
    const notCamel = [...fullPaths].filter(
      (p) =>
        !p
          .split(/\.|\[\]/)
          .filter((k) => k !== '')
          .every((k) => CAMEL.test(k)),
    );
    expect(notCamel).toEqual([]);
    // What the full store shows, the sparse one shows too (as null or empty) — inside a list too,
    // unless the sparse store's list is empty.
    const listed = (p: string) => {
      const list = p.slice(0, p.lastIndexOf('[]') + 2);
      return !p.includes('[]') || [...thinPaths].some((t) => t.startsWith(`${list}.`));
    };
    expect([...fullPaths].filter((p) => !thinPaths.has(p) && listed(p))).toEqual([]);
  });
});

describe('-o', () => {
  it('yaml is the same data as --json', async () => {
    const json = JSON.parse((await h.p2(['inspect', '--json'])).out);
    const r = await h.p2(['inspect', '-o', 'yaml']);
    expect(r.code).toBe(ExitCode.OK);
    expect(parseYaml(r.out)).toEqual(json);
  });

  it('wide adds columns to the table', async () => {
    const narrow = (await h.p2(['inspect'])).out.split('\n')[0] ?? '';
    const wide = (await h.p2(['inspect', '-o', 'wide'])).out.split('\n')[0] ?? '';
    expect(narrow).not.toContain('VERSIONS');
    expect(wide).toMatch(/VERDICT\s+UPDATED\s+VERSIONS/);
    expect((await h.p2(['inspect', '-o', 'wide'])).out).toContain('app=app_abc123.tar.gz');
  });

  it('json is --json; a usage error under -o yaml is a JSON (so YAML) document', async () => {
    expect((await h.p2(['nodes', '-o', 'json'])).out).toBe((await h.p2(['nodes', '--json'])).out);
    const bad = await h.p2(['nodes', '-o', 'xml']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.err).toContain('Allowed choices are json, yaml, wide');
    const clash = await h.p2(['nodes', '--json', '-o', 'wide']);
    expect(clash.code).toBe(ExitCode.USAGE);
    expect(JSON.parse(clash.out).error.code).toBe('P2_CLI_USAGE');
    const usage = await h.p2(['rc', 'create', '-o', 'yaml']);
    expect(usage.code).toBe(ExitCode.USAGE);
    expect(parseYaml(usage.out).error.code).toBe('P2_CLI_USAGE');
  });
});
