import { readFileSync } from 'node:fs';
import { ExitCode } from '@p2/cli-kit';
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli } from './program.js';
import { capture } from './test-support.js';

const newProgram = () =>
  buildProgram({ io: capture(), setExitCode: () => undefined, cwd: '/', env: {} });

/** Every command of the program with its path (`p2 rc create`). */
const allCommands = (() => {
  const out: [string, ReturnType<typeof newProgram>][] = [];
  const walk = (cmd: ReturnType<typeof newProgram>, path: string) => {
    out.push([path, cmd]);
    for (const sub of cmd.commands) walk(sub, `${path} ${sub.name()}`);
  };
  walk(newProgram(), 'p2');
  return out;
})();

const leafCommands = (() => {
  const program = newProgram();
  const out: string[][] = [];
  const walk = (cmd: typeof program, path: string[]) => {
    for (const sub of cmd.commands) {
      const p = [...path, sub.name()];
      if (sub.commands.length === 0) out.push(p);
      else walk(sub, p);
    }
  };
  walk(program, []);
  return out;
})();

describe('p2 program', () => {
  it('registers every command of the issue', () => {
    const names = leafCommands.map((c) => c.join(' '));
    for (const expected of [
      'schedule',
      'replicate',
      'prestage',
      'unschedule',
      'inspect',
      'watch',
      'describe',
      'history',
      'rollback',
      'logs',
      'plan',
      'launch',
      'hooks run',
      'hooks install',
      'bin2pod',
      'sign',
      'verify',
      'keyring list',
      'keyring add',
      'label get',
      'label set',
      'label rm',
      'label query',
      'kv get',
      'kv put',
      'kv ls',
      'kv rm',
      'manifest check',
      'rc create',
      'rc set-replicas',
      'roll start',
      'roll run',
      'roll status',
      'ds create',
    ]) {
      expect(names).toContain(expected);
    }
  });

  it.each(leafCommands.map((c) => [c.join(' '), c]))(
    '%s --help exits 0 with usage',
    async (_name, path) => {
      const io = capture();
      expect(await runCli([...(path as string[]), '--help'], { io })).toBe(ExitCode.OK);
      expect(io.out).toMatch(/^Usage: p2 /);
    },
  );

  it('exits 2 for an unknown command or flag', async () => {
    const io = capture();
    expect(await runCli(['deploy'], { io })).toBe(ExitCode.USAGE);
    expect(io.err).toContain("unknown command 'deploy'");
    expect(await runCli(['inspect', '--frobnicate'], { io: capture() })).toBe(ExitCode.USAGE);
  });

  it('store commands offer --store and --json', async () => {
    for (const path of [
      ['schedule'],
      ['inspect'],
      ['kv', 'get'],
      ['label', 'query'],
      ['plan'],
      ['rc', 'list'],
    ]) {
      const io = capture();
      await runCli([...path, '--help'], { io });
      expect(io.out).toContain('--store <url>');
      expect(io.out).toContain('--json');
    }
  });

  it('--version prints the client package version', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      const io = capture();
      expect(await runCli([flag], { io })).toBe(ExitCode.OK);
      expect(io.out).toBe(`${version}\n`);
    }
  });

  it('gives each short flag one long meaning across the whole CLI', () => {
    const meanings = new Map<string, Set<string>>();
    for (const [path, cmd] of allCommands)
      for (const option of cmd.options) {
        if (option.short === undefined) continue;
        const seen = meanings.get(option.short) ?? new Set<string>();
        seen.add(`${option.long} (${path})`);
        meanings.set(option.short, seen);
      }
    const clashes = [...meanings]
      .filter(([, uses]) => new Set([...uses].map((use) => use.split(' ')[0])).size > 1)
      .map(([short, uses]) => `${short}: ${[...uses].join(', ')}`);
    expect(clashes).toEqual([]);
    expect(meanings.get('-m')).toContain('--manifest (p2 rc create)');
  });

  it('says "required" in help for every required option', () => {
    const missing: string[] = [];
    let required = 0;
    for (const [path, cmd] of allCommands)
      for (const option of cmd.options.filter((o) => o.mandatory)) {
        required++;
        // What `--help` prints beside the option (wrapped, so not searched in the help text).
        const text = cmd.createHelp().optionDescription(option);
        if (!text.includes('(required)')) missing.push(`${path} ${option.flags}`);
      }
    expect(required).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it('reports a usage error as JSON under --json, with the usage exit code', async () => {
    const io = capture();
    expect(await runCli(['rc', 'create', '-n', 'role=web', '--json'], { io })).toBe(ExitCode.USAGE);
    expect(io.err).toContain("required option '-m, --manifest <file>' not specified");
    const { error } = JSON.parse(io.out) as { error: { code: string; message: string } };
    expect(error.code).toBe('P2_CLI_USAGE');
    expect(error.message).toBe("required option '-m, --manifest <file>' not specified");
  });
});
