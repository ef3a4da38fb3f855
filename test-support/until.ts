/**
 * Waits for a condition a test cannot be told about (a file a service writes, a process state):
 * polls `probe` until it gives a value, failing with `what` after `timeoutMs` (tests only).
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `probe`'s first value other than `undefined` (a probe that throws counts as not yet).
 * @throws Error `timed out waiting for <what>` after `timeoutMs` (default 20 s)
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}
