import { describeError } from '@p2/errors';
import { type HookEnv, readHookEnv } from './env.js';
import type { HookEvent } from './events.js';

/** Handlers by event; events without one are ignored (the hook exits 0, like P2's `ExitUnlessEvent`). */
export type HookHandlers = Partial<Record<HookEvent, (env: HookEnv) => void | Promise<void>>>;

/** Options of {@link defineHook}. */
export interface DefineHookOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Where failures are reported. @default process.stderr */
  stderr?: { write(text: string): unknown };
  /** Sets the exit code. @default sets `process.exitCode` (lets output flush, unlike `process.exit`) */
  setExitCode?: (code: number) => void;
}

/**
 * Writes a hook as a Node script: reads the typed environment, runs the handler for the event, and
 * exits 0 when it succeeds or has nothing to do for the event, 1 (with the reason on stderr) when
 * the environment is wrong or the handler throws. Every hook runs for every event (P2's single
 * flat hooks directory), so this filtering matters.
 *
 * @returns the exit code it set
 * @example
 * ```ts
 * #!/usr/bin/env node
 * import { defineHook } from '@p2/hooks';
 * await defineHook({
 *   after_install: async (env) => { console.log(`installed ${env.podId} (${env.manifest.sha()})`); },
 * });
 * ```
 */
export async function defineHook(
  handlers: HookHandlers,
  options: DefineHookOptions = {},
): Promise<number> {
  const stderr = options.stderr ?? process.stderr;
  const setExitCode =
    options.setExitCode ??
    ((code: number) => {
      process.exitCode = code;
    });
  let code = 0;
  try {
    const env = readHookEnv(options.env ?? process.env);
    const handler = handlers[env.event];
    if (handler !== undefined) await handler(env);
  } catch (error) {
    stderr.write(`hook failed: ${describeError(error)}\n`);
    code = 1;
  }
  setExitCode(code);
  return code;
}

/**
 * True when the hook should act: the event is one of `events`. For hooks that do not use {@link defineHook}.
 *
 * @example if (!shouldHandle(env, 'after_install', 'before_launch')) process.exit(0);
 */
export function shouldHandle(env: { event: HookEvent }, ...events: HookEvent[]): boolean {
  return events.includes(env.event);
}
