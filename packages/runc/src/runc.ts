/**
 * A small wrapper around the `runc` binary: `runc --root R run|kill|delete|list|state`. Every
 * container id is checked before it reaches an argv or a path.
 */
import { execFile } from 'node:child_process';
import { RuncError, RuncErrorCodes } from './errors.js';

/** Where runc is and where it keeps its state. */
export interface RuncOptions {
  /** The runc binary. @default 'runc' (found on the PATH) */
  runcPath?: string;
  /** runc's state directory (`--root`); root's alone. @default '/run/p2/runc' */
  root?: string;
}

/** What runc reports about a container (`runc state`, `runc list`). */
export interface ContainerState {
  id: string;
  /** The container's init process on the host (0 once stopped). */
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped' | string;
  bundle: string;
}

/** runc's default state directory for p2's containers. */
export const DEFAULT_RUNC_ROOT = '/run/p2/runc';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

/**
 * Throws unless `id` is a container id runc and p2 accept (`[A-Za-z0-9][A-Za-z0-9_.+-]*`, ≤ 128).
 * @throws RuncError `P2_RUNC_INVALID_INPUT`
 */
export function assertContainerId(id: string): string {
  if (!ID.test(id))
    throw new RuncError(
      RuncErrorCodes.INVALID_INPUT,
      `${JSON.stringify(id)} is not a container id`,
      {
        details: { field: 'id' },
      },
    );
  return id;
}

/**
 * The argv that runs a container in the foreground (for a runit `run` script: runc forwards the
 * signals runit sends to the container's init, and exits with its status).
 * @example runArgv({ runcPath: '/usr/sbin/runc' }, '/var/lib/p2/containers/web__app', 'web__app')
 * // ['/usr/sbin/runc', '--root', '/run/p2/runc', 'run', '--bundle', '/var/lib/p2/containers/web__app', 'web__app']
 */
export function runArgv(options: RuncOptions, bundle: string, id: string): string[] {
  return [...base(options), 'run', '--bundle', bundle, assertContainerId(id)];
}

function base(options: RuncOptions): string[] {
  return [options.runcPath ?? 'runc', '--root', options.root ?? DEFAULT_RUNC_ROOT];
}

/**
 * Runs `runc --root R <args>` and returns its stdout.
 * @throws RuncError `P2_RUNC_COMMAND_FAILED`
 */
export function runc(options: RuncOptions, args: readonly string[]): Promise<string> {
  const [file, ...head] = base(options);
  return new Promise((resolve, reject) => {
    execFile(
      file as string,
      [...head, ...args],
      { maxBuffer: 16 * 2 ** 20 },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        reject(
          new RuncError(
            RuncErrorCodes.COMMAND_FAILED,
            `runc ${args[0] ?? ''} failed: ${(stderr || error.message).trim().slice(0, 500)}`,
            { cause: error, details: { args: [...args] } },
          ),
        );
      },
    );
  });
}

function isMissing(error: unknown): boolean {
  return error instanceof RuncError && /does not exist|not exist/.test(error.message);
}

/** Every container in runc's state directory (none when it does not exist yet). */
export async function listContainers(options: RuncOptions = {}): Promise<ContainerState[]> {
  const out = await runc(options, ['list', '--format', 'json']);
  const list = JSON.parse(out.trim() || 'null') as ContainerState[] | null;
  return (list ?? []).map(({ id, pid, status, bundle }) => ({ id, pid, status, bundle }));
}

/** A container's state, or `undefined` when runc has no such container. */
export async function containerState(
  options: RuncOptions,
  id: string,
): Promise<ContainerState | undefined> {
  try {
    const state = JSON.parse(
      await runc(options, ['state', assertContainerId(id)]),
    ) as ContainerState;
    return { id: state.id, pid: state.pid, status: state.status, bundle: state.bundle };
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/**
 * Sends a signal to a container's init (with `all`, to every process in it). A container that is
 * gone or already stopped is no error.
 */
export async function killContainer(
  options: RuncOptions,
  id: string,
  signal = 'TERM',
  { all = false }: { all?: boolean } = {},
): Promise<void> {
  try {
    await runc(options, ['kill', ...(all ? ['--all'] : []), assertContainerId(id), signal]);
  } catch (error) {
    if (
      isMissing(error) ||
      /not running|process already finished/.test(String((error as Error).message))
    )
      return;
    throw error;
  }
}

/** Deletes a container (with `force`, killing it first); one that does not exist is no error. */
export async function deleteContainer(
  options: RuncOptions,
  id: string,
  { force = false }: { force?: boolean } = {},
): Promise<void> {
  try {
    await runc(options, ['delete', ...(force ? ['--force'] : []), assertContainerId(id)]);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}
