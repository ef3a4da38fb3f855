/**
 * Pre-staging (issue 21, a p2 extension): `prestage/<node>/<pod>` asks a node's preparer to
 * download and verify a manifest's artifacts ahead of a deploy (the manifest's raw bytes, signed
 * as intent is); `status/prestage/<node>/<pod>` is the preparer's answer.
 */
import {
  assertSegment,
  type Indexed,
  KvError,
  KvErrorCodes,
  type Store,
  watchPrefix,
} from '@p2/kv';
import { type Manifest, parseManifest } from '@p2/manifest';
import { asObject } from './json.js';
import { idFromKey, Prefix } from './keys.js';

/** `prestage/<node>/`. */
function requestPrefix(node: string): string {
  return `${Prefix.prestage}${node}/`;
}

/** `status/prestage/<node>/`. */
function reportPrefix(node: string): string {
  return `${Prefix.status}prestage/${node}/`;
}

/** A pre-stage request as stored. */
export interface PrestageRequest {
  podId: string;
  /** The store index of the request's last write: a rewrite (same bytes or not) is a new request. */
  modifyIndex: number;
  /** The manifest bytes exactly as stored (authorized by the preparer before any download). */
  raw: Uint8Array;
  /** Parses `raw`. @throws ManifestError */
  manifest(): Manifest;
}

/** A preparer's answer to a pre-stage request. */
export interface PrestageReport {
  /** The SHA of the manifest the report is about. */
  sha: string;
  /** `staging` while downloading; `staged` once every launchable is on disk; `failed` with a reason. */
  state: 'staging' | 'staged' | 'failed';
  reason?: string;
  /** RFC 3339. */
  updated: string;
}

const STATES = new Set(['staging', 'staged', 'failed']);

/**
 * Pre-stage requests and reports.
 *
 * @example
 * ```ts
 * const prestage = new PrestageStore(store);
 * await prestage.request('node1', manifest);        // PUT prestage/node1/<id> = raw bytes
 * (await prestage.report('node1', manifest.id))?.state; // 'staged' once the preparer is done
 * ```
 */
export class PrestageStore {
  constructor(private readonly store: Store) {}

  /**
   * Asks `node` to pre-stage `manifest` (its raw bytes, signature kept). The previous answer is
   * removed first, so any answer read afterwards is about this request (even for the same SHA).
   * @throws KvError `P2_KV_INVALID_KEY` for a bad node name or pod id
   */
  async request(node: string, manifest: Manifest): Promise<void> {
    const key = this.requestKey(node, manifest.id);
    await this.store.delete(this.reportKey(node, manifest.id));
    await this.store.put(key, manifest.raw);
  }

  /** Withdraws a request (and its report). */
  async cancel(node: string, podId: string): Promise<void> {
    await this.store.delete(this.requestKey(node, podId));
    await this.store.delete(this.reportKey(node, podId));
  }

  /** Watches a node's requests; yields every request on each change. */
  async *watchNode(
    node: string,
    options: Parameters<typeof watchPrefix>[2] = {},
  ): AsyncGenerator<Indexed<PrestageRequest[]>, void, undefined> {
    assertSegment('node name', node);
    const prefix = requestPrefix(node);
    for await (const { value: entries, index } of watchPrefix(this.store, prefix, options)) {
      const requests: PrestageRequest[] = [];
      for (const entry of entries) {
        const podId = idFromKey(prefix, entry.key);
        if (podId === undefined) continue;
        let parsed: Manifest | undefined;
        requests.push({
          podId,
          modifyIndex: entry.modifyIndex,
          raw: entry.value,
          manifest: () => {
            parsed ??= parseManifest(entry.value, { source: entry.key });
            return parsed;
          },
        });
      }
      yield { value: requests, index };
    }
  }

  /** Records the preparer's answer. */
  async setReport(node: string, podId: string, report: PrestageReport): Promise<void> {
    await this.store.put(this.reportKey(node, podId), JSON.stringify(report));
  }

  /**
   * The preparer's answer, or undefined when there is none.
   * @throws KvError `P2_KV_BAD_RECORD` when the record is malformed
   */
  async report(node: string, podId: string): Promise<PrestageReport | undefined> {
    const entry = (await this.store.get(this.reportKey(node, podId))).value;
    if (entry === undefined) return undefined;
    const object = asObject(entry);
    if (typeof object.sha !== 'string' || !STATES.has(object.state as string))
      throw new KvError(KvErrorCodes.BAD_RECORD, `${entry.key} is not a pre-stage report`);
    return {
      sha: object.sha,
      state: object.state as PrestageReport['state'],
      ...(typeof object.reason === 'string' ? { reason: object.reason } : {}),
      updated: typeof object.updated === 'string' ? object.updated : '',
    };
  }

  private requestKey(node: string, podId: string): string {
    assertSegment('node name', node);
    assertSegment('pod id', podId);
    return `${requestPrefix(node)}${podId}`;
  }

  private reportKey(node: string, podId: string): string {
    assertSegment('node name', node);
    assertSegment('pod id', podId);
    return `${reportPrefix(node)}${podId}`;
  }
}
