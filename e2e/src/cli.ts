/** The built `p2` client as a child process, for scenarios that drive it as an operator would. */
import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { expect } from 'vitest';
import { repoRoot } from './artifacts.js';

const CLI = join(repoRoot, 'apps/client/dist/cli.js');

/** One finished `p2` run. */
export interface Run {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the built `p2` against one store. Children still running are tracked in `children` so the
 * test's afterAll can kill them after a failure.
 */
export function p2Runner(storeUrl: () => string) {
  const children = new Set<ChildProcess>();
  /** Spawns `p2 …args --store <kv>` and resolves when it exits (killed after `timeoutMs`). */
  const p2 = (args: string[], timeoutMs = 60_000): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args, '--store', storeUrl()], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      children.add(child);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('close', (code) => {
        clearTimeout(timer);
        children.delete(child);
        resolve({ code, out, err: `${err}${code === null ? ' (killed: timed out)' : ''}` });
      });
    });
  /** `p2 …args --json`, asserting exit 0, and its parsed output. */
  const p2Json = async <T = Record<string, unknown>>(args: string[], timeoutMs?: number) => {
    const r = await p2([...args, '--json'], timeoutMs);
    expect(r.code, `p2 ${args.join(' ')}: ${r.out}${r.err}`).toBe(0);
    return JSON.parse(r.out) as T;
  };
  /** Starts a long-running `p2 …args --store <kv>` (e.g. `pc watch`), killed by `killAll`. */
  const start = (args: string[]): ChildProcessByStdio<null, Readable, Readable> => {
    const child = spawn(process.execPath, [CLI, ...args, '--store', storeUrl()], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('close', () => children.delete(child));
    return child;
  };
  return {
    p2,
    p2Json,
    start,
    /** Kills every `p2` still running. */
    killAll() {
      for (const child of children) child.kill('SIGKILL');
    },
  };
}
