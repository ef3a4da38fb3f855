/** The preparer's lifecycle hooks: every executable in the hooks directory, run by `@p2/hooks`. */
import { runHooks } from '@p2/hooks';
import type { PodHost } from '@p2/pods';
import type { Logger } from 'pino';
import type { LifecycleHooks } from './deploy.js';

/** Settings of {@link directoryHooks}. */
export interface DirectoryHooksOptions {
  /** P2's `hooks_directory`. */
  hooksDirectory: string;
  node: string;
  podRoot: string;
  /** P2's `hooks_required`: hooks whose failure fails the deploy. */
  required: readonly string[];
  /** Tells hooks whether a pod's installs are read-only. */
  host: Pick<PodHost, 'readOnly'>;
  /** Logs each run (its audit record, output left out). */
  logger: Logger;
  /** The group that reads `HOOKED_POD_MANIFEST`: the hook pod's, unless it runs as root (see `installHookPod`). */
  manifestGroup?: number;
}

/**
 * Lifecycle hooks from a hooks directory, as P2's preparer ran them.
 *
 * @example
 * ```ts
 * const hooks = directoryHooks({ hooksDirectory: '/usr/local/p2hooks.d', node: 'h1',
 *   podRoot: '/data/pods', required: [], host, logger });
 * await hooks.run('before_install', { manifest, layout });
 * ```
 */
export function directoryHooks(options: DirectoryHooksOptions): LifecycleHooks {
  return {
    async run(event, pod) {
      await runHooks({
        event,
        hooksDirectory: options.hooksDirectory,
        node: options.node,
        podRoot: options.podRoot,
        pod: {
          manifest: pod.manifest,
          home: pod.layout.home,
          id: pod.layout.podId,
          ...(pod.layout.uniqueKey ? { uniqueKey: pod.layout.uniqueKey } : {}),
          readOnly: options.host.readOnly(pod.manifest),
        },
        required: options.required,
        ...(options.manifestGroup !== undefined ? { manifestGroup: options.manifestGroup } : {}),
        logger: options.logger.child({ component: 'hooks' }),
        audit: (record) =>
          options.logger.info({ audit: { ...record, output: undefined } }, 'hook ran'),
      });
    },
  };
}
