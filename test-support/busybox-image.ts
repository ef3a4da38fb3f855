/**
 * An OCI image layout around the host's static busybox (tests and benches only), built with the
 * real `umoci`: one layer (busybox, its applets, `files`), the process given.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { writeBusyboxRootfs } from './busybox-bundle.js';

const run = promisify(execFile);

/** The image's config (`umoci config --config.*`) and extra files (path below the rootfs → text). */
export interface BusyboxImageOptions {
  entrypoint: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  files?: Record<string, string>;
}

/** Builds the image into `<dir>/layout` (tag `p2t`; `dir` is created) and returns the layout dir. */
export async function writeBusyboxImage(
  dir: string,
  options: BusyboxImageOptions,
): Promise<string> {
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  const ref = `${layout}:p2t`;
  await mkdir(dir, { recursive: true });
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', ref]);
  await run('umoci', ['unpack', '--image', ref, bundle]);
  await writeBusyboxRootfs(join(bundle, 'rootfs'));
  for (const [path, text] of Object.entries(options.files ?? {})) {
    await mkdir(dirname(join(bundle, 'rootfs', path)), { recursive: true });
    await writeFile(join(bundle, 'rootfs', path), text);
  }
  await run('umoci', ['repack', '--image', ref, bundle]);
  const flags = [
    ...options.entrypoint.flatMap((arg) => ['--config.entrypoint', arg]),
    ...(options.cmd ?? []).flatMap((arg) => ['--config.cmd', arg]),
    ...(options.env ?? []).flatMap((entry) => ['--config.env', entry]),
    ...(options.workingDir ? ['--config.workingdir', options.workingDir] : []),
    ...(options.user ? ['--config.user', options.user] : []),
  ];
  await run('umoci', ['config', '--image', ref, ...flags]);
  return layout;
}
