/**
 * Pre-staging on a node (issue 21): the preparer watches `prestage/<node>/`, authorizes each
 * requested manifest exactly as it authorizes intent (deployer policy, then the host's run_as
 * policy) and only then downloads, verifies and extracts its launchables into `installs/`
 * (`PodHost.stage`), never touching what runs. Its answer goes to `status/prestage/<node>/<pod>`:
 * the manifest SHA and `staging`, `staged` or `failed` with the reason. The intent that follows
 * finds the installs on disk and downloads nothing; once that version is deployed here, the request
 * and its answer are removed (they are used up). A request withdrawn before (`p2 prestage --cancel`)
 * drops the staged mark, so pruning may reclaim the install.
 */
import { describeError } from '@p2/errors';
import { type PrestageRequest, PrestageStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import type { PodHost, StageReport } from '@p2/pods';
import type { Logger } from 'pino';
import type { Authorize } from './deploy.js';

/** What a {@link Prestager} needs: the preparer's store, host, policy and logger. */
export interface PrestagerOptions {
  node: string;
  store: Store;
  host: PodHost;
  /** The deployer policy intent is checked with. */
  authorize: Authorize;
  logger: Logger;
}

/**
 * Acts on a node's pre-stage requests until `signal` aborts.
 *
 * @example
 * ```ts
 * const prestager = new Prestager({ node: 'h1', store, host, authorize, logger });
 * await prestager.run(controller.signal);
 * ```
 */
export class Prestager {
  /** The request version (store index) each pod was last handled at. */
  private readonly handled = new Map<string, number>();
  /** What each pod's current request staged (its SHA and installs). */
  private readonly staged = new Map<string, { sha: string; report: StageReport }>();
  private readonly prestage: PrestageStore;

  constructor(private readonly options: PrestagerOptions) {
    this.prestage = new PrestageStore(options.store);
  }

  /** Watches `prestage/<node>/` and handles each new or rewritten request, one at a time. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      for await (const { value: requests } of this.prestage.watchNode(this.options.node, {
        signal,
        onError: (error) =>
          this.options.logger.warn(
            { err: describeError(error) },
            'prestage watch failed; retrying',
          ),
      })) {
        const present = new Set(requests.map((r) => r.podId));
        for (const podId of this.handled.keys()) {
          if (present.has(podId)) continue;
          this.handled.delete(podId);
          await this.withdrawn(podId);
        }
        for (const request of requests) {
          if (signal.aborted) return;
          if (this.handled.get(request.podId) === request.modifyIndex) continue;
          this.handled.set(request.podId, request.modifyIndex);
          await this.handle(request, signal);
        }
      }
    } catch (error) {
      if (!signal.aborted)
        this.options.logger.error({ err: describeError(error) }, 'prestage watch ended');
    }
  }

  /** Authorizes, then stages one request; the outcome is reported, never thrown. */
  async handle(request: PrestageRequest, signal?: AbortSignal): Promise<void> {
    const { node, host, logger } = this.options;
    let manifest: Manifest;
    try {
      manifest = request.manifest();
    } catch (error) {
      await this.answer(request.podId, '', 'failed', `manifest: ${describeError(error)}`);
      return;
    }
    const sha = manifest.sha();
    if (manifest.id !== request.podId) {
      await this.answer(request.podId, sha, 'failed', 'the manifest id differs from the key');
      return;
    }
    try {
      await this.options.authorize(manifest);
      await host.checkRunAs(manifest);
    } catch (error) {
      logger.warn({ pod: manifest.id, sha, err: describeError(error) }, 'prestage refused');
      await this.answer(request.podId, sha, 'failed', `not authorized: ${describeError(error)}`);
      return;
    }
    await this.answer(request.podId, sha, 'staging');
    try {
      const report = await host.stage(manifest, signal ? { signal } : {});
      logger.info(
        {
          pod: manifest.id,
          sha,
          node,
          downloaded: report.launchables.filter((l) => !l.alreadyInstalled).length,
        },
        'prestaged',
      );
      this.staged.set(request.podId, { sha, report });
      await this.answer(request.podId, sha, 'staged');
    } catch (error) {
      logger.warn({ pod: manifest.id, sha, err: describeError(error) }, 'prestage failed');
      await this.answer(request.podId, sha, 'failed', describeError(error));
    }
  }

  /**
   * Told that `manifest` now runs here: a pre-stage request for that very version is used up, so
   * the request and its answer are removed (the deploy already took over the staged installs).
   */
  async deployed(manifest: Manifest): Promise<void> {
    const staged = this.staged.get(manifest.id);
    if (staged?.sha !== manifest.sha()) return;
    this.staged.delete(manifest.id);
    await this.prestage
      .cancel(this.options.node, manifest.id)
      .catch((error: unknown) =>
        this.options.logger.warn(
          { pod: manifest.id, err: describeError(error) },
          'cannot remove the used-up prestage request',
        ),
      );
  }

  /** A request was withdrawn: its staged installs lose their mark (pruning may take them). */
  private async withdrawn(podId: string): Promise<void> {
    const staged = this.staged.get(podId);
    if (!staged) return;
    this.staged.delete(podId);
    await this.options.host
      .unstage(podId, staged.report)
      .catch((error: unknown) =>
        this.options.logger.warn(
          { pod: podId, err: describeError(error) },
          'cannot drop the staged mark of a withdrawn prestage',
        ),
      );
  }

  private async answer(
    podId: string,
    sha: string,
    state: 'staging' | 'staged' | 'failed',
    reason?: string,
  ): Promise<void> {
    await this.prestage
      .setReport(this.options.node, podId, {
        sha,
        state,
        ...(reason === undefined ? {} : { reason }),
        updated: new Date().toISOString(),
      })
      .catch((error: unknown) =>
        this.options.logger.warn(
          { pod: podId, err: describeError(error) },
          'cannot record the prestage outcome',
        ),
      );
  }
}
