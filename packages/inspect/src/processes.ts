/**
 * Restarts, last exits and crash loops per launchable, from what the preparer publishes: the last
 * exit of each service in its status record (`status/preparer/<node>/<pod>`, polled every few
 * seconds) and one `exit` event per exit it noticed in the pod's event ring (`events/<node>/<pod>`,
 * the last 50 events).
 */
import type { PodEvent, PreparerPodStatus } from '@p2/keyspace';

/** A pod is `crashlooping` when one launchable exited at least this many times… */
export const CRASHLOOP_EXITS = 3;
/** …within this window (5 minutes) before the inspection. */
export const CRASHLOOP_WINDOW_MS = 5 * 60_000;

/** One launchable's exits, as `p2 inspect` shows them. */
export interface LaunchableExits {
  launchable: string;
  /**
   * Exits the preparer noticed since this version was deployed on the node (a lower bound: it
   * polls every few seconds, so quicker exits count once, and the event ring keeps 50 events). A
   * redeploy of the same version (the preparer relaunching a pod it found down) does not reset it.
   */
  restarts: number;
  /** Exits within the last {@link CRASHLOOP_WINDOW_MS}. */
  recentExits: number;
  /** The latest exit: the code, or the signal that killed it (null for the other). */
  lastExit?: { time: string; exitCode: number | null; signal: number | null };
}

type Exit = NonNullable<LaunchableExits['lastExit']>;
const later = (a: Exit | undefined, b: Exit) =>
  !a || Date.parse(b.time) > Date.parse(a.time) ? b : a;

/**
 * The index of the `deployed` event that started the running version: the last one whose SHA
 * differs from the `deployed` before it (-1 when there is none). A crash-looping pod is often
 * found down between two runs, and the preparer then deploys the same SHA again: its exits go on
 * counting.
 */
function versionStart(events: readonly PodEvent[]): number {
  let start = -1;
  let sha: string | undefined;
  events.forEach((e, i) => {
    if (e.type !== 'deployed') return;
    if (start === -1 || e.sha !== sha) start = i;
    sha = e.sha;
  });
  return start;
}

/**
 * Each launchable's restarts, recent exits and last exit (sorted by launchable), and whether one of
 * them crash-loops ({@link CRASHLOOP_EXITS} exits within {@link CRASHLOOP_WINDOW_MS} of `now`).
 *
 * @example launchableExits(status, events, new Date()).crashlooping
 */
export function launchableExits(
  status: PreparerPodStatus | undefined,
  events: readonly PodEvent[],
  now: Date,
): { launchables: LaunchableExits[]; crashlooping: boolean } {
  const byId = new Map<string, LaunchableExits>();
  const entry = (launchable: string) => {
    let e = byId.get(launchable);
    if (!e) {
      e = { launchable, restarts: 0, recentExits: 0 };
      byId.set(launchable, e);
    }
    return e;
  };
  const deployed = versionStart(events);
  const since = now.getTime() - CRASHLOOP_WINDOW_MS;
  for (const event of events.slice(deployed + 1)) {
    if (event.type !== 'exit' || !event.launchable) continue;
    const e = entry(event.launchable);
    e.restarts++;
    if (Date.parse(event.time) >= since) e.recentExits++;
    const exit = {
      time: event.time,
      exitCode: event.exitCode ?? null,
      signal: event.signal ?? null,
    };
    e.lastExit = later(e.lastExit, exit);
  }
  for (const p of status?.processes ?? []) {
    const e = entry(p.launchable);
    if (p.lastExit) e.lastExit = later(e.lastExit, p.lastExit);
  }
  const launchables = [...byId.values()]
    .filter((e) => e.lastExit !== undefined || e.restarts > 0)
    .sort((a, b) => a.launchable.localeCompare(b.launchable));
  return { launchables, crashlooping: launchables.some((e) => e.recentExits >= CRASHLOOP_EXITS) };
}
