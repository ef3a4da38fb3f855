import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  distrustAncestors,
  readTrustedFile,
  SecureFsError,
  SecureFsErrorCode,
  writeFileAtomic,
} from '@p2/secure-fs';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { AuthError, AuthErrorCodes } from './errors.js';
import { describeCause, sha256Hex, silentLogger } from './util.js';
import type { ClearsignedInput } from './verify.js';

/** Largest replay state file read back (a few hundred bytes per pod). */
const MAX_STATE_BYTES = 16 * 2 ** 20;

/**
 * Replay protection metadata a signed manifest may carry (beyond P2), as two optional top-level
 * manifest keys. P2 and @p2/manifest ignore unknown top-level keys, so such manifests still parse
 * everywhere and their SHA is unchanged; because the keys sit in the signed text, they cannot be
 * altered without breaking the signature.
 *
 * ```yaml
 * id: hello
 * deploy_serial: 42                      # integer ≥ 0, increases with every deploy of this pod
 * deploy_expires: 2026-12-01T00:00:00Z   # RFC 3339; the host refuses the manifest after this
 * launchables: …
 * ```
 */
export interface DeployMetadata {
  serial?: number;
  expires?: Date;
}

/** What the guard needs from a manifest; @p2/manifest's `Manifest` fits as is. */
export interface ReplayGuardInput {
  readonly id: string;
  /** The signed envelope; its signed text is where the metadata is read from. */
  readonly clearsigned?: ClearsignedInput | undefined;
  /** The manifest bytes, used for unsigned manifests. */
  readonly raw?: Uint8Array;
}

/**
 * Reads `deploy_serial` and `deploy_expires` from the signed text of a manifest (or its raw bytes
 * when unsigned).
 *
 * @throws AuthError `P2_AUTH_DEPLOY_METADATA_INVALID` when present but malformed.
 * @example
 * ```ts
 * readDeployMetadata({ id: 'hello', raw: Buffer.from('id: hello\ndeploy_serial: 7\n') }); // { serial: 7 }
 * ```
 */
export function readDeployMetadata(manifest: ReplayGuardInput): DeployMetadata {
  const bytes = manifest.clearsigned?.signedBytes ?? manifest.raw;
  if (!bytes) return {};
  const text = new TextDecoder().decode(bytes);
  // Cheap pre-check: most manifests carry neither key, and parsing YAML twice per deploy is waste.
  if (!/^deploy_(serial|expires)\s*:/m.test(text)) return {};
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: false });
  } catch (cause) {
    throw metadataError(manifest.id, `manifest is not YAML: ${describeCause(cause)}`, cause);
  }
  const map = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const out: DeployMetadata = {};
  const serial = map.deploy_serial;
  if (serial !== undefined && serial !== null) {
    if (typeof serial !== 'number' || !Number.isSafeInteger(serial) || serial < 0) {
      throw metadataError(
        manifest.id,
        `deploy_serial must be an integer ≥ 0, found ${JSON.stringify(serial)}`,
      );
    }
    out.serial = serial;
  }
  const expires = map.deploy_expires;
  if (expires !== undefined && expires !== null) {
    const date = typeof expires === 'string' ? new Date(expires) : undefined;
    if (
      !date ||
      Number.isNaN(date.getTime()) ||
      !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(expires as string)
    ) {
      throw metadataError(
        manifest.id,
        `deploy_expires must be an RFC 3339 timestamp with a zone (2026-12-01T00:00:00Z), found ${JSON.stringify(expires)}`,
      );
    }
    out.expires = date;
  }
  return out;
}

/**
 * Writes `deploy_serial` / `deploy_expires` into manifest text before it is signed (replacing
 * top-level lines with those keys), leaving every other byte as it was; the result is read back to
 * make sure it carries exactly the values given.
 *
 * @throws AuthError `P2_AUTH_DEPLOY_METADATA_INVALID` for a serial that is not an integer ≥ 0, an
 *   invalid date, or text the keys cannot be appended to (a flow-style or multi-document manifest).
 * @example
 * ```ts
 * stampDeployMetadata('id: hello\nlaunchables: {}\n', { serial: 7, expires: new Date('2030-01-01T00:00:00Z') });
 * // 'id: hello\nlaunchables: {}\ndeploy_serial: 7\ndeploy_expires: "2030-01-01T00:00:00Z"\n'
 * ```
 */
export function stampDeployMetadata(text: string, metadata: DeployMetadata): string {
  const { serial, expires } = metadata;
  if (serial !== undefined && (!Number.isSafeInteger(serial) || serial < 0)) {
    throw stampError(`deploy_serial must be an integer ≥ 0, found ${serial}`);
  }
  if (expires !== undefined && Number.isNaN(expires.getTime())) {
    throw stampError('deploy_expires is not a valid date');
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let out = text;
  const lines: string[] = [];
  if (serial !== undefined) {
    out = out.replace(/^deploy_serial[ \t]*:.*(\r?\n|$)/gm, '');
    lines.push(`deploy_serial: ${serial}`);
  }
  if (expires !== undefined) {
    out = out.replace(/^deploy_expires[ \t]*:.*(\r?\n|$)/gm, '');
    // quoted: a YAML 1.1 reader would otherwise turn it into a timestamp
    lines.push(`deploy_expires: "${expires.toISOString().replace(/\.000Z$/, 'Z')}"`);
  }
  if (lines.length === 0) return text;
  if (out.length > 0 && !out.endsWith('\n')) out += eol;
  out += `${lines.join(eol)}${eol}`;
  let read: DeployMetadata | undefined;
  try {
    read = readDeployMetadata({ id: 'manifest', raw: new TextEncoder().encode(out) });
  } catch {
    read = undefined;
  }
  if (
    !read ||
    (serial !== undefined && read.serial !== serial) ||
    (expires !== undefined && read.expires?.getTime() !== expires.getTime())
  ) {
    throw stampError(
      'deploy_serial / deploy_expires could not be added as top-level keys (is the manifest a block-style YAML map in one document?)',
    );
  }
  return out;
}

/** Options of {@link ReplayGuard.open}. */
export interface ReplayGuardOptions {
  /** Refuse manifests without `deploy_serial`. @default false */
  requireSerial?: boolean;
  /** Clock, for tests. @default () => new Date() */
  now?: () => Date;
  logger?: Logger;
}

interface PodRecord {
  serial: number;
  /** SHA-256 of the signed bytes that carried this serial. */
  digest: string;
  recordedAt: string;
}

interface ReplayState {
  version: 1;
  pods: Record<string, PodRecord>;
}

/**
 * Refuses replays of old signed manifests (beyond P2): an intent entry carrying a lower
 * `deploy_serial` than the last one this host ran for the pod, the same serial with different
 * content, no serial after serials were used, or a `deploy_expires` in the past. The highest serial
 * run per pod is kept in a small JSON state file, written atomically.
 *
 * Call {@link check} after signature verification and {@link record} once the deploy ran.
 *
 * @example
 * ```ts
 * const guard = await ReplayGuard.open('/data/p2/replay-state.json');
 * await guard.check(manifest);   // throws P2_AUTH_REPLAYED_SERIAL or P2_AUTH_MANIFEST_EXPIRED
 * // … install and launch …
 * await guard.record(manifest);
 * ```
 */
export class ReplayGuard {
  private constructor(
    readonly statePath: string,
    private state: ReplayState,
    private readonly options: ReplayGuardOptions,
  ) {}

  /**
   * Loads the state file (missing = empty), creating its directory (mode 0700) when missing.
   *
   * The file decides what this host refuses, so it is trusted only when nobody else could have
   * written it: the file must be a regular file (a symlink is refused, never followed) owned by root
   * or the user running this process and not writable by group or others; its directory and every
   * directory above it must be owned by root or this user and not writable by others (a sticky
   * directory such as `/tmp` is fine above the state directory, not as it).
   *
   * @throws AuthError `P2_AUTH_REPLAY_STATE_INVALID` when it exists but cannot be trusted, read or
   *   parsed (fail closed: a guard that forgot its state would accept replays).
   */
  static async open(statePath: string, options: ReplayGuardOptions = {}): Promise<ReplayGuard> {
    const path = resolve(statePath);
    const dir = dirname(path);
    try {
      // Parents as any directory (0755: other services share /var/lib/p2), the state's own 0700.
      await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw stateError(path, `cannot create its directory ${dir}: ${describeCause(cause)}`, cause);
    }
    await checkTrustedDirectory(path, dir);
    let state: ReplayState = { version: 1, pods: {} };
    const text = await readStateFile(path);
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as ReplayState;
        if (
          parsed?.version !== 1 ||
          typeof parsed.pods !== 'object' ||
          parsed.pods === null ||
          Array.isArray(parsed.pods)
        ) {
          throw new Error('expected {"version": 1, "pods": {…}}');
        }
        state = parsed;
      } catch {
        // JSON.parse quotes the text it choked on: never put a file's content in a message.
        throw stateError(
          path,
          'it is damaged: not the JSON p2 writes ({"version": 1, "pods": {…}})',
        );
      }
    }
    return new ReplayGuard(path, state, options);
  }

  /**
   * Whether the state already holds exactly this manifest (same pod, serial and signed bytes), or
   * it has no serial to record.
   */
  isRecorded(manifest: ReplayGuardInput): boolean {
    const { serial } = readDeployMetadata(manifest);
    if (serial === undefined) return true;
    const last = Object.hasOwn(this.state.pods, manifest.id)
      ? this.state.pods[manifest.id]
      : undefined;
    return last?.serial === serial && last.digest === digestOf(manifest);
  }

  /** The last serial recorded for a pod. */
  lastSerial(podId: string): number | undefined {
    return Object.hasOwn(this.state.pods, podId) ? this.state.pods[podId]?.serial : undefined;
  }

  /**
   * Checks a (verified) manifest against the expiry and the last serial run for its pod.
   * @throws AuthError `P2_AUTH_MANIFEST_EXPIRED`, `P2_AUTH_REPLAYED_SERIAL`,
   *   `P2_AUTH_DEPLOY_METADATA_INVALID`.
   */
  async check(manifest: ReplayGuardInput): Promise<DeployMetadata> {
    const meta = readDeployMetadata(manifest);
    const now = (this.options.now ?? (() => new Date()))();
    if (meta.expires && now.getTime() >= meta.expires.getTime()) {
      throw new AuthError(
        AuthErrorCodes.MANIFEST_EXPIRED,
        `manifest for pod ${manifest.id} expired at ${meta.expires.toISOString()} (now ${now.toISOString()})`,
        {
          hint: 'sign a fresh manifest with a later deploy_expires (and a higher deploy_serial)',
          details: { podId: manifest.id, expires: meta.expires.toISOString() },
        },
      );
    }
    const last = Object.hasOwn(this.state.pods, manifest.id)
      ? this.state.pods[manifest.id]
      : undefined;
    if (meta.serial === undefined) {
      if (last) {
        throw replayed(
          manifest.id,
          `manifest for pod ${manifest.id} has no deploy_serial, but serial ${last.serial} already ran here`,
          last.serial,
        );
      }
      if (this.options.requireSerial) {
        throw metadataError(manifest.id, 'deploy_serial is required on this host but missing');
      }
      return meta;
    }
    if (last && meta.serial < last.serial) {
      throw replayed(
        manifest.id,
        `manifest for pod ${manifest.id} has deploy_serial ${meta.serial}, older than serial ${last.serial} that already ran here`,
        last.serial,
        meta.serial,
      );
    }
    if (last && meta.serial === last.serial && digestOf(manifest) !== last.digest) {
      throw replayed(
        manifest.id,
        `manifest for pod ${manifest.id} reuses deploy_serial ${meta.serial} for different content`,
        last.serial,
        meta.serial,
      );
    }
    return meta;
  }

  /**
   * Records that this manifest ran; the state only ever moves forward.
   * @throws AuthError `P2_AUTH_REPLAY_STATE_INVALID` when the state file cannot be written.
   */
  async record(manifest: ReplayGuardInput): Promise<void> {
    const { serial } = readDeployMetadata(manifest);
    if (serial === undefined) return;
    const last = this.lastSerial(manifest.id);
    if (last !== undefined && serial < last) return;
    const pods = {
      ...this.state.pods,
      [manifest.id]: { serial, digest: digestOf(manifest), recordedAt: new Date().toISOString() },
    };
    const next: ReplayState = { version: 1, pods };
    await writeStateFile(this.statePath, `${JSON.stringify(next, null, 2)}\n`);
    this.state = next;
    (this.options.logger ?? silentLogger).info(
      { podId: manifest.id, serial },
      'deploy serial recorded',
    );
  }
}

function digestOf(manifest: ReplayGuardInput): string {
  const bytes = manifest.clearsigned?.signedBytes ?? manifest.raw ?? new Uint8Array();
  return sha256Hex(bytes);
}

/**
 * The state directory and every directory above it (as given and with symlinks resolved) must be
 * owned by root (or this process's user) and not writable by group or others — except sticky
 * directories above the state directory (see @p2/secure-fs).
 */
async function checkTrustedDirectory(path: string, dir: string): Promise<void> {
  const bad = await distrustAncestors(dir).catch((cause: unknown) => {
    throw stateError(path, `cannot inspect ${dir}: ${describeCause(cause)}`, cause);
  });
  if (bad) throw untrusted(path, `${bad.dir} ${bad.why}`, bad.dir);
}

/** Reads the state file without following a symlink or blocking; `undefined` when it does not exist. */
async function readStateFile(path: string): Promise<string | undefined> {
  try {
    return (await readTrustedFile(path, { maxBytes: MAX_STATE_BYTES }))?.toString('utf8');
  } catch (cause) {
    if (cause instanceof SecureFsError && cause.code === SecureFsErrorCode.UNTRUSTED)
      throw untrusted(path, `it ${String(cause.details.reason)}`, path);
    throw stateError(path, `cannot read it: ${describeCause(cause)}`, cause);
  }
}

/** Temp file (created exclusively, never through a symlink, mode 0600), fsync, rename, fsync dir. */
async function writeStateFile(path: string, content: string): Promise<void> {
  try {
    await writeFileAtomic(path, content, { mode: 0o600, durable: true });
  } catch (cause) {
    throw stateError(path, `cannot write it: ${describeCause(cause)}`, cause);
  }
}

function replayed(podId: string, message: string, lastSerial: number, serial?: number): AuthError {
  return new AuthError(AuthErrorCodes.REPLAYED_SERIAL, message, {
    hint: 'sign the manifest again with a deploy_serial higher than the last one deployed',
    details: { podId, lastSerial, ...(serial === undefined ? {} : { serial }) },
  });
}

function metadataError(podId: string, problem: string, cause?: unknown): AuthError {
  return new AuthError(AuthErrorCodes.DEPLOY_METADATA_INVALID, `pod ${podId}: ${problem}`, {
    cause,
    hint: 'deploy_serial: <integer>, deploy_expires: <RFC 3339 time, e.g. 2026-12-01T00:00:00Z>',
    details: { podId },
  });
}

function untrusted(path: string, problem: string, offender: string): AuthError {
  return new AuthError(
    AuthErrorCodes.REPLAY_STATE_INVALID,
    `replay state ${path}: not trusted: ${problem}`,
    {
      hint: `the state file and its directories must belong to root and be writable only by root (chown root ${offender}; chmod go-w ${offender})`,
      details: { path, offender },
    },
  );
}

function stampError(problem: string): AuthError {
  return new AuthError(
    AuthErrorCodes.DEPLOY_METADATA_INVALID,
    `cannot stamp the manifest: ${problem}`,
    {
      hint: 'deploy_serial: <integer ≥ 0>, deploy_expires: <RFC 3339 time>, added to a block-style YAML manifest before signing',
    },
  );
}

function stateError(path: string, problem: string, cause?: unknown): AuthError {
  return new AuthError(AuthErrorCodes.REPLAY_STATE_INVALID, `replay state ${path}: ${problem}`, {
    cause,
    hint: 'inspect the file; removing it forgets every recorded serial (replays become possible)',
    details: { path },
  });
}
