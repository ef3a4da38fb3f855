/**
 * Pre-staging (issue 21): a manifest's launchables downloaded, verified and extracted into
 * `installs/` ahead of a deploy, so that the deploy only switches and restarts. A staged install
 * is marked in a root-owned `.staged` file of its launchable root, which pruning respects.
 */
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Manifest } from '@p2/manifest';
import { readTrustedFile, writeFileAtomic } from '@p2/secure-fs';
import { installLaunchables } from './install.js';
import type { PodLayout } from './layout.js';
import type { HostContext, InstallOptions, StageReport } from './types.js';

const STAGED_FILE = '.staged';

/**
 * Stages a manifest (see {@link PodHost.stage}).
 * @internal
 */
export async function stagePod(
  ctx: HostContext,
  manifest: Manifest,
  options: Omit<InstallOptions, 'podId'>,
): Promise<StageReport> {
  const { layout, launchables } = await installLaunchables(ctx, manifest, options);
  // One staged version per launchable: a newer pre-stage replaces the mark of an older one.
  for (const launchable of launchables)
    await writeFileAtomic(
      stagedPath(layout, launchable.launchableId),
      `${basename(launchable.installDir)}\n`,
      { mode: 0o644 },
    );
  ctx.logger.info({ pod: manifest.id, launchables: launchables.length }, 'pod staged');
  return { podHome: layout.home, launchables };
}

/**
 * The install directory staged for a launchable, if any. The launchable root is root's, and the
 * mark is read only as a root-owned regular file nobody else can write; a malformed one is ignored.
 * @internal
 */
export async function stagedInstall(
  layout: PodLayout,
  launchableId: string,
): Promise<string | undefined> {
  const bytes = await readTrustedFile(stagedPath(layout, launchableId), { maxBytes: 4096 });
  const name = bytes?.toString('utf8').trim();
  if (!name || name.includes('/') || name === '.' || name === '..') return undefined;
  return name;
}

/**
 * Forgets a launchable's staged mark once that install is deployed (then `current` keeps it).
 * @internal
 */
export async function consumeStaged(
  layout: PodLayout,
  launchableId: string,
  installDir: string,
): Promise<void> {
  if ((await stagedInstall(layout, launchableId).catch(() => undefined)) === basename(installDir))
    await rm(stagedPath(layout, launchableId), { force: true });
}

function stagedPath(layout: PodLayout, launchableId: string): string {
  return join(layout.launchableRoot(launchableId), STAGED_FILE);
}
