/**
 * Host-local auto-revert (issue 21): after a pod is updated, the preparer checks the new version's
 * health itself — locally, so a dead store changes nothing — and when it does not pass within the
 * deadline, switches back to the previous version (still installed: it is `last`), and refuses that
 * intent SHA until intent changes. The SHAs it refused are kept in memory and in a root-only state
 * file, so a restarted preparer does not try the bad version again; so are the waits under way
 * (`<state file>.waits`), so a preparer restarted during one finishes it.
 *
 * Threat model: the deadline comes from the preparer config or from a pod label, which only
 * operators write (through the store); a pod cannot set it. The reason recorded names the HTTP
 * status or the transport error code only — never text the pod answered.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseGoDuration } from '@p2/go';
import { checkPodHealth, healthTarget } from '@p2/health';
import { LabelStore, podLabelId } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import { distrustAncestors, readTrustedFile, writeFileAtomic } from '@p2/secure-fs';

/** The pod label that overrides the preparer's deadline for one pod on one node (`0` turns it off). */
export const REVERT_AFTER_LABEL = 'p2.io/revert-after';

/** How the preparer reverts a version that does not get healthy (preparer config `auto_revert`). */
export interface AutoRevertSettings {
  /** How long a new version has to pass its status check; 0 turns auto-revert off. */
  afterMs: number;
  /** Where refused SHAs are kept across restarts (root-only). Absent: in memory only. */
  stateFile?: string;
  /** Host name health checks connect to. */
  checkHost: string;
  /** Pause between checks. @default 1000 */
  intervalMs?: number;
  /** One check's timeout. @default 5000 */
  timeoutMs?: number;
}

/** A version the preparer reverted, per worker key. */
export interface RevertedVersion {
  sha: string;
  /** The SHA it went back to. */
  to: string;
  reason: string;
  /** ISO 8601. */
  time: string;
}

/**
 * An update whose health wait is under way, kept so that a preparer restarted during the wait
 * finishes it (a bad version would otherwise keep running). Per worker key.
 */
export interface RevertWait {
  /** The new version's SHA. */
  sha: string;
  /** The previous version's manifest, its raw bytes in base64: what the revert deploys again. */
  previous: string;
  /** When the wait ends (epoch ms). */
  deadline: number;
}

const MAX_STATE_BYTES = 1024 * 1024;

/** Entries per worker key, mirrored to a root-only JSON file when one is configured. */
class StateFileMemory<T> {
  private readonly entries = new Map<string, T>();
  /** The last write: writes run one after another, each with the entries as they are then. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string | undefined,
    private readonly valid: (value: unknown) => value is T,
    private readonly durable: boolean,
  ) {}

  /** Reads the state file (missing: nothing kept; unreadable: logged by the caller). */
  async load(): Promise<void> {
    if (!this.file) return;
    const bytes = await readTrustedFile(this.file, { maxBytes: MAX_STATE_BYTES });
    if (!bytes) return;
    const parsed = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    for (const [key, value] of Object.entries(parsed))
      if (this.valid(value)) this.entries.set(key, value);
  }

  get(key: string): T | undefined {
    return this.entries.get(key);
  }

  /**
   * Sets or drops one entry and writes the file. Concurrent calls (one per pod worker) write one at
   * a time, each what the entries are when it starts: two snapshots renamed in the wrong order
   * would bring back an entry already dropped.
   */
  set(key: string, value: T | undefined): Promise<void> {
    if (value) this.entries.set(key, value);
    else if (!this.entries.delete(key)) return Promise.resolve();
    const file = this.file;
    if (!file) return Promise.resolve();
    const write = this.writing.then(() => this.write(file));
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async write(file: string): Promise<void> {
    // A missing directory is made root-only; an existing one is used as it is (never chmodded:
    // it may be shared), but only when nobody but root could have prepared it.
    const dir = dirname(file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const bad = await distrustAncestors(dir);
    if (bad) throw new Error(`${bad.dir} ${bad.why}`);
    await writeFileAtomic(file, JSON.stringify(Object.fromEntries(this.entries)), {
      mode: 0o600,
      durable: this.durable,
    });
  }
}

const isReverted = (v: unknown): v is RevertedVersion =>
  typeof (v as RevertedVersion)?.sha === 'string' &&
  typeof (v as RevertedVersion).reason === 'string';

const isWait = (v: unknown): v is RevertWait =>
  typeof (v as RevertWait)?.sha === 'string' &&
  typeof (v as RevertWait).previous === 'string' &&
  typeof (v as RevertWait).deadline === 'number';

/** The reverted SHAs per pod, mirrored to a state file (written durably) when one is configured. @internal */
export class RevertMemory extends StateFileMemory<RevertedVersion> {
  constructor(file: string | undefined) {
    super(file, isReverted, true);
  }
}

/**
 * The health waits under way per pod, in `<state file>.waits` beside the reverted SHAs. Written
 * atomically but not synced: a wait outlives a restart of the preparer, not a power cut (then the
 * new version is not reverted by itself). @internal
 */
export class RevertWaits extends StateFileMemory<RevertWait> {
  constructor(stateFile: string | undefined) {
    super(stateFile === undefined ? undefined : `${stateFile}.waits`, isWait, false);
  }
}

/**
 * A pod's labels on this node, when the store answers within `withinMs` (else undefined): read once
 * per deploy, while the store that just gave the intent answers, for the revert deadline and the
 * metric gate.
 */
export async function podLabelsWithin(
  store: Store,
  node: string,
  podId: string,
  withinMs = 2000,
): Promise<Record<string, string> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const labels = await Promise.race([
    new LabelStore(store).get('pod', podLabelId(node, podId)).catch(() => undefined),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), withinMs);
    }),
  ]);
  clearTimeout(timer);
  return labels?.labels;
}

/**
 * The deadline for one pod: its `p2.io/revert-after` label when it is a duration, else the
 * configured default.
 */
export function revertDeadlineMs(
  labels: Record<string, string> | undefined,
  defaultMs: number,
): number {
  const text = labels?.[REVERT_AFTER_LABEL];
  if (text === undefined) return defaultMs;
  const ms = text.trim() === '0' ? 0 : parseGoDuration(text.trim());
  return ms === undefined || ms < 0 ? defaultMs : ms;
}

/**
 * Checks `manifest`'s status endpoint until it passes (`healthy`), the deadline passes (the reason
 * of the last failure), or `stillWanted` says intent moved on / the preparer stops (`abandoned`).
 */
export async function awaitHealthy(
  manifest: Manifest,
  settings: AutoRevertSettings,
  deadlineMs: number,
  stillWanted: () => boolean,
): Promise<
  { outcome: 'healthy' } | { outcome: 'abandoned' } | { outcome: 'unhealthy'; reason: string }
> {
  const target = healthTarget(manifest, settings.checkHost);
  const deadline = Date.now() + deadlineMs;
  let last = 'no check ran';
  for (;;) {
    if (!stillWanted()) return { outcome: 'abandoned' };
    const result = await checkPodHealth(target, { timeoutMs: settings.timeoutMs ?? 5000 });
    if (result.status === 'passing') return { outcome: 'healthy' };
    // Only what p2 itself knows: never the text the pod answered.
    last = result.httpStatus
      ? `HTTP ${result.httpStatus}`
      : (result.errorCode ?? `status ${result.status}`);
    if (Date.now() >= deadline)
      return {
        outcome: 'unhealthy',
        reason: `not healthy within ${Math.round(deadlineMs / 1000)}s (last check: ${last})`,
      };
    await new Promise((resolve) => setTimeout(resolve, settings.intervalMs ?? 1000));
  }
}
