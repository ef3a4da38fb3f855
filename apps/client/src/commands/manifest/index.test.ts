import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, type Io } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';

function capture(): Io & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    isTTY: false,
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

const repoRoot = new URL('../../../../../', import.meta.url).pathname;
let dir = '';

async function p2(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = capture();
  const code = await runCli(args, { io, cwd: dir });
  return { code, out: io.out, err: io.err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-manifest-cli-'));
  await writeFile(join(dir, 'ok.yaml'), 'id: thepod\n');
  await writeFile(
    join(dir, 'lint.yaml'),
    'id: a/b\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://x/app_1.tar.gz\n    restart_policy: sometimes\n',
  );
  await writeFile(join(dir, 'bad.yaml'), 'id: x\nstatus_port: "8000"\n');
  const hoist = `id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://x/app_${'a'.repeat(40)}.tar.gz\n`;
  await writeFile(
    join(dir, 'yaml11.yaml'),
    `${hoist}    env:\n      Y: on\nconfig:\n  country: NO\n`,
  );
  await writeFile(join(dir, 'collision.yaml'), `${hoist}config:\n  Y: 1\n  y: 2\n`);
  await writeFile(join(dir, 'syntax.yaml'), 'id: [unclosed\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('p2 manifest check', () => {
  it('checks examples/hello.yaml (the quick start) and prints id, launchables and SHA', async () => {
    const r = await p2(['manifest', 'check', join(repoRoot, 'examples/hello.yaml')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toMatch(/^ok {2}/);
    expect(r.out).toContain('pod        hello');
    expect(r.out).toMatch(/sha {8}[0-9a-f]{64}/);
    expect(r.out).toContain('app  hoist  3c021aff048ca8117593f9c71e03b87cf72fd440');
    expect(r.out).toContain('health     http://localhost:8080/_status');
  });

  it('--json prints the same data', async () => {
    const human = await p2(['manifest', 'check', join(repoRoot, 'examples/hello.yaml')]);
    const r = await p2(['manifest', 'check', '--json', join(repoRoot, 'examples/hello.yaml')]);
    expect(r.code).toBe(ExitCode.OK);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({
      valid: true,
      id: 'hello',
      runAs: 'hello',
      signed: false,
      errors: [],
      warnings: [],
    });
    expect(report.launchables).toEqual([
      {
        id: 'app',
        type: 'hoist',
        version: '3c021aff048ca8117593f9c71e03b87cf72fd440',
        location:
          'file:///var/lib/p2/artifacts/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz',
      },
    ]);
    expect(human.out).toContain(report.sha);
  });

  it('reports strict-lint errors and warnings with exit code 3', async () => {
    const r = await p2(['manifest', 'check', 'lint.yaml']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.out).toMatch(/^invalid {2}lint\.yaml/);
    expect(r.out).toContain('error   id: pod id "a/b" contains "/"');
    expect(r.out).toContain('error   launchables.app.restart_policy: restart_policy "sometimes"');
    const json = JSON.parse((await p2(['manifest', 'check', '--json', 'lint.yaml'])).out);
    expect(json.valid).toBe(false);
    expect(json.errors.map((e: { rule: string }) => e.rule)).toEqual([
      'pod-id-slash',
      'restart-policy',
    ]);
  });

  it('warns about YAML 1.1 ambiguities (exit 0) and refuses keys YAML 1.1 merges (exit 3)', async () => {
    const r = await p2(['manifest', 'check', 'yaml11.yaml']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toContain('warning launchables.app.env.Y: key Y is a boolean in YAML 1.1');
    expect(r.out).toContain('quote it ("Y")');
    expect(r.out).toContain('warning launchables.app.env.Y: value on is a boolean in YAML 1.1');
    expect(r.out).toContain(
      'warning config.country: value NO is a boolean in YAML 1.1 and is written to the config file as false',
    );
    const json = JSON.parse((await p2(['manifest', 'check', '--json', 'collision.yaml'])).out);
    expect(json.valid).toBe(false);
    expect(json.errors).toEqual([
      expect.objectContaining({ rule: 'key-collision', path: 'config.y' }),
    ]);
    const human = await p2(['manifest', 'check', 'collision.yaml']);
    expect(human.code).toBe(ExitCode.INVALID_INPUT);
    expect(human.out).toContain(
      'error   config.y: the keys Y, y are one key once read as YAML 1.1',
    );
  });

  it('invalid input: a clear message with the field path and exit code 3', async () => {
    const r = await p2(['manifest', 'check', 'bad.yaml']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.out).toBe('');
    expect(r.err).toContain(
      'error: status_port: expected an integer, found "8000" (line 2, column 14)',
    );
    expect(r.err).toContain('(P2_MANIFEST_WRONG_TYPE)');
    const json = await p2(['manifest', 'check', '--json', 'syntax.yaml']);
    expect(json.code).toBe(ExitCode.INVALID_INPUT);
    expect(JSON.parse(json.out).error.code).toBe('P2_MANIFEST_YAML_SYNTAX');
  });

  it('reads a clearsigned manifest (signature split off, not verified)', async () => {
    const signed = join(
      repoRoot,
      'packages/manifest/test/fixtures/golden/synthetic-signed-test-string/input.yaml',
    );
    const r = await p2(['manifest', 'check', '--json', signed]);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toMatchObject({
      id: 'thepod',
      signed: true,
      sha: '4074e07d511c2266cf90a7d0fbfca1e7bc8fdd59d86a173def21d20209f9934d',
      status: 'https://<node>:8000/_status',
    });
  });

  it('a missing file exits with NOT_FOUND', async () => {
    const r = await p2(['manifest', 'check', 'nope.yaml']);
    expect(r.code).toBe(ExitCode.NOT_FOUND);
    expect(r.err).toContain('no such file: nope.yaml');
  });

  it('a missing argument is a usage error', async () => {
    const r = await p2(['manifest', 'check']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toContain("missing required argument 'file'");
  });
});

describe('p2 manifest digest', () => {
  it("prints P2's SHA of the minimal manifest (appendix vector)", async () => {
    const r = await p2(['manifest', 'digest', 'ok.yaml']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toBe('be6cd2232e8d3c9e6a6f55cb2d4c976db28582149b6789f411dccf2dd390412e\n');
    const json = await p2(['manifest', 'digest', '--json', 'ok.yaml']);
    expect(JSON.parse(json.out)).toEqual({
      id: 'thepod',
      sha: 'be6cd2232e8d3c9e6a6f55cb2d4c976db28582149b6789f411dccf2dd390412e',
    });
  });
});

describe('p2 manifest show', () => {
  it('prints the canonical YAML, or the model with --json', async () => {
    const r = await p2(['manifest', 'show', 'ok.yaml']);
    expect(r.out).toBe('id: thepod\nlaunchables: {}\nconfig: {}\n');
    const json = JSON.parse(
      (await p2(['manifest', 'show', '--json', join(repoRoot, 'examples/hello.yaml')])).out,
    );
    expect(json).toMatchObject({
      id: 'hello',
      config: { port: 8080, greeting: 'hello from p2' },
      status: { port: 8080, path: '/_status', scheme: 'http', localhostOnly: true },
      signed: false,
    });
    expect(json.launchables.app).toMatchObject({
      launchableType: 'hoist',
      restartTimeout: '30s',
      cgroup: { cpus: 1, memory: 268435456 },
      env: { GREETING_STYLE: 'plain' },
    });
  });
});
