/**
 * openpgp.js, loaded on first use: a host whose manifests and artifacts are not signed never pays
 * for it (≈ 6 MiB of a process's memory: its 2.3 MB source and what it builds at load).
 */
import type * as Openpgp from 'openpgp';

let loaded: Promise<typeof Openpgp> | undefined;

/** The openpgp module (imported once, then shared). @internal */
export function loadOpenpgp(): Promise<typeof Openpgp> {
  loaded ??= import('openpgp');
  return loaded;
}
