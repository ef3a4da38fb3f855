import { P2Error, type P2ErrorOptions } from '@p2/errors';

/**
 * Stable codes of every error `@p2/manifest` throws. Scripts match on these; never renumber or
 * rename one.
 */
export const ManifestErrorCode = {
  /** The input is larger than the allowed maximum (default 512 KiB, Consul's value limit). */
  TOO_LARGE: 'P2_MANIFEST_TOO_LARGE',
  /** The input is not text: invalid UTF-8, NUL or other control bytes. */
  ENCODING: 'P2_MANIFEST_ENCODING',
  /** The YAML itself cannot be read (syntax error). P2: "Could not read pod manifest: …". */
  YAML_SYNTAX: 'P2_MANIFEST_YAML_SYNTAX',
  /** The document is a bare scalar or a sequence instead of a mapping. */
  NOT_A_MAPPING: 'P2_MANIFEST_NOT_A_MAPPING',
  /** A field has the wrong type (`status_port: "8000"`, `config: [1, 2]`, `location: 42`). */
  WRONG_TYPE: 'P2_MANIFEST_WRONG_TYPE',
  /** A field's value is malformed (`memory: lots`, `id:` with an explicit `!!int` tag on text). */
  INVALID_VALUE: 'P2_MANIFEST_INVALID_VALUE',
  /** Anchors and aliases nest too deeply or expand to too many nodes ("billion laughs"). */
  TOO_COMPLEX: 'P2_MANIFEST_TOO_COMPLEX',
  /** P2 rule: the manifest has no `id`. */
  MISSING_ID: 'P2_MANIFEST_MISSING_ID',
  /** P2 rule: a launchable has no `launchable_type`. */
  MISSING_LAUNCHABLE_TYPE: 'P2_MANIFEST_MISSING_LAUNCHABLE_TYPE',
  /** P2 rule: a hoist/opencontainer launchable has neither `location` nor `version.id`. */
  MISSING_LOCATION: 'P2_MANIFEST_MISSING_LOCATION',
  /** P2 rule: a hoist/opencontainer launchable has both `location` and `version.id`. */
  LOCATION_AND_VERSION: 'P2_MANIFEST_LOCATION_AND_VERSION',
  /** P2 rule: a docker launchable has no `image.name`. */
  DOCKER_MISSING_IMAGE: 'P2_MANIFEST_DOCKER_MISSING_IMAGE',
  /** P2 rule: a docker launchable has no `image.sha256`. */
  DOCKER_MISSING_SHA256: 'P2_MANIFEST_DOCKER_MISSING_SHA256',
  /** Strict checks for newly written manifests failed (see {@link lintManifest}). */
  LINT: 'P2_MANIFEST_LINT',
  /** A launchable id that the manifest does not contain was asked for. */
  NO_SUCH_LAUNCHABLE: 'P2_MANIFEST_NO_SUCH_LAUNCHABLE',
  /** A builder was given something that cannot be put in a manifest. */
  BUILDER: 'P2_MANIFEST_BUILDER',
} as const;

/** One of the {@link ManifestErrorCode} values. */
export type ManifestErrorCode = (typeof ManifestErrorCode)[keyof typeof ManifestErrorCode];

/** Structured data carried by a {@link ManifestError}. */
export interface ManifestErrorDetails extends Record<string, unknown> {
  /** Dotted path of the offending field, e.g. `launchables.app.location`. */
  path?: string;
  /** What was expected there, in words. */
  expected?: string;
  /** What was found there, as it would be written in YAML. */
  found?: string;
  /** Where the input came from (file name, store key), when the caller said so. */
  source?: string;
  /** 1-based line and column in the YAML text, when known. */
  line?: number;
  column?: number;
}

/**
 * The one error class of `@p2/manifest`. `code` is one of {@link ManifestErrorCode}; `details.path`
 * names the field.
 */
export class ManifestError extends P2Error<ManifestErrorCode> {
  declare readonly details: ManifestErrorDetails;

  constructor(
    code: ManifestErrorCode,
    message: string,
    options: P2ErrorOptions & { details?: ManifestErrorDetails } = {},
  ) {
    super(code, message, options);
  }
}
