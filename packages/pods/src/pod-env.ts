/**
 * A pod's environment as p2 writes it (its env dirs) and as a container gets it, computed from the
 * manifest alone: root never reads it back from a file the pod's user owns.
 */
import { join } from 'node:path';
import { installDirName } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import type { PodLayout } from './layout.js';

/** The pod's config files (name and text) and its env, for a manifest with `readOnly` applied. */
export interface PodEnvironment {
  files: Array<{ name: string; text: string; variable: string }>;
  /** The pod env dir's variables. */
  pod: Record<string, string>;
  /** A launchable env dir's variables. */
  launchable(launchableId: string): Record<string, string>;
}

/** What p2 writes into a pod's config and env dirs (see {@link PodEnvironment}). @internal */
export function podEnvironment(
  manifest: Manifest,
  layout: PodLayout,
  readOnly: boolean,
): PodEnvironment {
  // Config files are named with the SHA after the read-only default was applied, as P2 did
  // (spec 01 §1.8.4); intent and reality are still compared with the original SHA.
  const config = manifest.withReadonlyDefault(readOnly).configFiles();
  const files = [
    { name: config.configFileName, text: config.config, variable: 'CONFIG_PATH' },
    { name: config.platformFileName, text: config.platform, variable: 'PLATFORM_CONFIG_PATH' },
  ];
  if (config.resourceLimitsFileName && config.resourceLimits !== undefined)
    files.push({
      name: config.resourceLimitsFileName,
      text: config.resourceLimits,
      variable: 'RESOURCE_LIMIT_PATH',
    });
  const pod: Record<string, string> = {
    POD_HOME: layout.home,
    POD_ID: manifest.id,
    POD_UNIQUE_KEY: layout.uniqueKey,
    // The pod's one writable place (p2: the home itself is root's); read-only pods have none.
    ...(readOnly ? { HOME: layout.home } : { HOME: layout.dataDir, POD_DATA_DIR: layout.dataDir }),
  };
  for (const file of files) pod[file.variable] = join(layout.configDir, file.name);
  return {
    files,
    pod,
    launchable: (launchableId) => {
      const stanza = manifest.launchables[launchableId];
      return {
        LAUNCHABLE_ID: launchableId,
        LAUNCHABLE_ROOT: join(
          layout.installsDir(launchableId),
          installDirName(launchableId, manifest.launchableVersion(launchableId)),
        ),
        RESTART_TIMEOUT: String(manifest.restartTimeoutSeconds(launchableId)),
        ...stanza?.env,
      };
    },
  };
}
