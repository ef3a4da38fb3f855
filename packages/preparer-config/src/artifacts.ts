/** How a host configured by this file downloads and verifies artifacts (`artifact_auth`, TLS, local dirs). */
import { createArtifactVerifier, withCompanionFiles } from '@p2/auth';
import { type ArtifactVerifier, type FetchOptions, fetchBytes } from '@p2/hoist';
import type { PreparerConfig } from './config.js';
import { readClientTlsFiles } from './tls.js';

/** Download settings and the artifact verifier of a preparer configuration. */
export interface ArtifactPolicy {
  /**
   * `ca_file`, `cert_file`, `key_file` (read as root may trust them), `local_artifact_dirs` and
   * `artifact_idle_timeout`.
   */
  fetch: Pick<FetchOptions, 'ca' | 'cert' | 'key' | 'localRoots' | 'timeouts'>;
  /**
   * `artifact_auth` (build signature, signed build manifest or either, against its keyring), its
   * companion files fetched with the same settings; undefined for `none`.
   */
  verifier?: ArtifactVerifier;
}

/**
 * The artifact policy a preparer with this configuration applies — to its pods, its hook pod, and
 * to `p2 hooks install` on its host.
 *
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID` for an untrusted TLS file; AuthError
 *   when the `artifact_auth` keyring cannot be read
 * @example
 * ```ts
 * const { fetch, verifier } = await artifactPolicy(config);
 * new PodHost({ …, fetch, ...(verifier ? { artifactVerifier: verifier } : {}) });
 * ```
 */
export async function artifactPolicy(
  config: Pick<
    PreparerConfig,
    'artifactAuth' | 'localArtifactDirs' | 'caFile' | 'certFile' | 'keyFile'
  > &
    Partial<Pick<PreparerConfig, 'artifactIdleTimeoutMs'>>,
): Promise<ArtifactPolicy> {
  // ca_file, cert_file and key_file for downloads (the key must be root's, mode 600); local
  // artifact, digest and signature locations only from local_artifact_dirs (see @p2/hoist).
  // artifact_idle_timeout: a server that stalls mid-body ends the attempt, which is retried.
  const fetch = {
    ...(await readClientTlsFiles(config)),
    localRoots: config.localArtifactDirs,
    ...(config.artifactIdleTimeoutMs === undefined
      ? {}
      : { timeouts: { idleMs: config.artifactIdleTimeoutMs } }),
  };
  if (config.artifactAuth.type === 'none') return { fetch };
  const verifier = withCompanionFiles(
    await createArtifactVerifier(
      config.artifactAuth.type,
      config.artifactAuth.keyring ? { keyring: config.artifactAuth.keyring } : {},
    ),
    (url) => fetchBytes(url, fetch).then((bytes) => new Uint8Array(bytes)),
  );
  return { fetch, verifier };
}
