/**
 * `p2 watch` as an operator runs it: the built binary with no flags, on a pseudo-terminal
 * (util-linux `script`) and piped, stopped by a signal as Ctrl-C would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePreparerStatus, type PreparerPodStatus } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../../dist/cli.js');
const V1 = 'id: p2t-bin\nconfig:\n  v: 1\n';
let h: Harness;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} missing: build @p2/client first`);
  h = await startHarness('watch-bin');
  await h.store.put('intent/b1/p2t-bin', V1);
  await h.store.put('reality/b1/p2t-bin', V1);
});
afterAll(async () => {
  await h?.close();
});

function start(command: string, args: string[]): { child: ChildProcess; out: () => string } {
  // NO_COLOR would also turn the live view off (cli-kit's isTTY): as an operator's shell, unset.
  const { NO_COLOR: _, ...env } = process.env;
  const child = spawn(command, args, {
    env: { ...env, P2_STORE: h.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, out: () => out };
}

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(what()).toBe(true);
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  return done;
}

const status = (updated: string, state: PreparerPodStatus['state'] = 'running') =>
  encodePreparerStatus({ pod: 'p2t-bin', uniqueKey: '', state, updated });

describe('p2 watch (built binary)', () => {
  it('with no flags, on a terminal, draws the table and keeps running until interrupted', async () => {
    const w = start('script', ['-qfc', `${process.execPath} ${BIN} watch`, '/dev/null']);
    try {
      await until(() => w.out().includes('p2t-bin'));
      expect(w.out()).not.toContain('--count');
      expect(w.out()).toContain('\u001b[2J');
      await new Promise((r) => setTimeout(r, 300));
      expect(w.child.exitCode).toBeNull(); // still watching
    } finally {
      await stop(w.child);
    }
  }, 30_000);

  it('piped (and with --json), prints a line per real change, none for a new timestamp', async () => {
    for (const args of [['watch'], ['watch', '--json']]) {
      await h.store.put('status/preparer/b1/p2t-bin', status('2026-01-01T00:00:00.000Z'));
      const w = start(process.execPath, [BIN, ...args, '--node', 'b1']);
      try {
        await until(() => w.out().split('\n').length > 1);
        expect(JSON.parse(w.out().split('\n')[0] as string).pods[0].pod).toBe('p2t-bin');
        // Only the timestamp changes: no line. Then a real change: one line.
        await h.store.put('status/preparer/b1/p2t-bin', status('2026-01-01T00:00:05.000Z'));
        await h.store.put(
          'status/preparer/b1/p2t-bin',
          status('2026-01-01T00:00:06.000Z', 'deploying'),
        );
        await until(() => w.out().trim().split('\n').length >= 2);
        await new Promise((r) => setTimeout(r, 300));
        const lines = w
          .out()
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(lines).toHaveLength(2);
        expect(lines[1].pods[0].status.state).toBe('deploying');
      } finally {
        await stop(w.child);
      }
    }
  }, 30_000);
});
