/**
 * Strict checks for people writing new manifests (`p2 manifest check`, `p2 schedule`). Reading
 * what is stored stays lenient, as P2 was; writing something new should not repeat P2's footguns.
 */
import { parseGoDuration } from '@p2/go';
import { ManifestError, ManifestErrorCode } from './errors.js';
import { yaml11Findings } from './lint-yaml11.js';
import type { Manifest } from './manifest.js';
import { pathJoin } from './yaml11.js';

/** One finding of {@link lintManifest}. */
export interface LintIssue {
  /** Stable identifier of the rule, e.g. `pod-id-uuid`. */
  rule: string;
  /** Dotted field path. */
  path: string;
  message: string;
}

/** Findings of {@link lintManifest}: errors should block a deploy, warnings should be read. */
export interface LintResult {
  errors: LintIssue[];
  warnings: LintIssue[];
}

const UUID_FORMS = [
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  /^[0-9a-f]{32}$/i,
  /^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$/i,
  /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
];

/** True when `text` parses as a UUID in any form P2 recognised (so it would be taken for a uuid pod key). */
export function isUuidShaped(text: string): boolean {
  return UUID_FORMS.some((form) => form.test(text));
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const KNOWN_TYPES = new Set(['hoist', 'opencontainer', 'docker']);
const RESTART_POLICIES = new Set(['', 'always', 'never']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkName(
  kind: string,
  name: string,
  path: string,
  errors: LintIssue[],
  warnings: LintIssue[],
): void {
  const rule = kind === 'pod id' ? 'pod-id' : 'launchable-id';
  if (name.includes('/'))
    errors.push({
      rule: `${rule}-slash`,
      path,
      message: `${kind} ${JSON.stringify(name)} contains "/"; it is used as a store key segment and a directory name`,
    });
  else if (/[\s\u0000-\u001f]/.test(name))
    errors.push({
      rule: `${rule}-whitespace`,
      path,
      message: `${kind} ${JSON.stringify(name)} contains whitespace or control characters`,
    });
  else if (name === '.' || name === '..' || name.startsWith('.'))
    errors.push({
      rule: `${rule}-dot`,
      path,
      message: `${kind} ${JSON.stringify(name)} starts with "."; it would be a hidden or parent directory`,
    });
  else if (name.includes('__'))
    errors.push({
      rule: `${rule}-double-underscore`,
      path,
      message: `${kind} ${JSON.stringify(name)} contains "__", the separator of runit service names`,
    });
  else if (!SAFE_NAME.test(name))
    warnings.push({
      rule: `${rule}-charset`,
      path,
      message: `${kind} ${JSON.stringify(name)} uses characters other than letters, digits, ".", "_" and "-"`,
    });
  if (kind === 'pod id' && isUuidShaped(name)) {
    errors.push({
      rule: 'pod-id-uuid',
      path,
      message: `pod id ${JSON.stringify(name)} looks like a UUID; P2 would mistake its intent key for a uuid pod`,
    });
  }
}

/**
 * Checks a manifest the way a careful reviewer would before it is scheduled: names that break
 * paths or keys, values P2 silently ignored (unparseable durations, unknown restart policies,
 * unknown keys), duplicate keys (P2 kept the last one silently), and YAML 1.1 ambiguities: scalars
 * such as `Y`, `on`, `~`, `010` or `1.0` where text was probably meant, and differently written
 * keys that P2's typed decoding made one (`Y` and `y` in `config`, `1` and `"1"` in `env`).
 *
 * @example
 * ```ts
 * const { errors, warnings } = lintManifest(parseManifest(text));
 * for (const e of errors) console.error(`${e.path}: ${e.message}`);
 * ```
 */
export function lintManifest(manifest: Manifest): LintResult {
  const errors: LintIssue[] = [];
  const warnings: LintIssue[] = [];
  const d = manifest.data;
  checkName('pod id', manifest.id, 'id', errors, warnings);
  if (d.runAs !== '' && !UNIX_USER.test(d.runAs)) {
    warnings.push({
      rule: 'run-as-user',
      path: 'run_as',
      message: `run_as ${JSON.stringify(d.runAs)} is not a portable Unix user name (lower case, at most 32 characters)`,
    });
  } else if (d.runAs === '' && !UNIX_USER.test(manifest.id)) {
    warnings.push({
      rule: 'run-as-default',
      path: 'id',
      message: `the pod runs as user ${JSON.stringify(manifest.id)} (its id), which is not a portable Unix user name; set run_as`,
    });
  }
  if (manifest.runAs === 'root') {
    warnings.push({ rule: 'run-as-root', path: 'run_as', message: 'the pod runs as root' });
  }
  for (const path of manifest.diagnostics?.duplicateKeys ?? []) {
    errors.push({
      rule: 'duplicate-key',
      path,
      message: `${path} is given more than once; only the last one counts`,
    });
  }
  const yaml11 = yaml11Findings(manifest.diagnostics);
  errors.push(...yaml11.errors);
  warnings.push(...yaml11.warnings);
  if ((manifest.diagnostics?.documents ?? 1) > 1) {
    warnings.push({
      rule: 'extra-documents',
      path: '',
      message: 'the file holds several YAML documents; only the first is read',
    });
  }
  for (const key of Object.keys(manifest.extra)) {
    warnings.push({
      rule: 'unknown-key',
      path: pathJoin('', key),
      message: `unknown key ${JSON.stringify(key)} is ignored`,
    });
  }
  if (d.statusPort !== 0) {
    warnings.push({
      rule: 'legacy-status-port',
      path: 'status_port',
      message: 'status_port is the legacy form; use status.port',
    });
  }
  const port = d.statusPort || d.status.port;
  if (port < 0 || port > 65535) {
    errors.push({
      rule: 'status-port-range',
      path: d.statusPort ? 'status_port' : 'status.port',
      message: `status port ${port} is not a TCP port (1-65535)`,
    });
  }
  if (Object.keys(manifest.launchables).length === 0) {
    warnings.push({
      rule: 'no-launchables',
      path: 'launchables',
      message: 'the pod has no launchables; it runs nothing',
    });
  }
  for (const [lid, l] of Object.entries(manifest.launchables)) {
    const at = pathJoin('launchables', lid);
    checkName('launchable id', lid, at, errors, warnings);
    if (!KNOWN_TYPES.has(l.launchableType)) {
      errors.push({
        rule: 'launchable-type',
        path: `${at}.launchable_type`,
        message: `launchable_type ${JSON.stringify(l.launchableType)} is not hoist, opencontainer or docker`,
      });
    }
    if (!RESTART_POLICIES.has(l.restartPolicy)) {
      errors.push({
        rule: 'restart-policy',
        path: `${at}.restart_policy`,
        message: `restart_policy ${JSON.stringify(l.restartPolicy)} is not "always" or "never" (P2 treated it as never)`,
      });
    }
    if (l.restartTimeout !== '') {
      const ms = parseGoDuration(l.restartTimeout);
      if (ms === undefined)
        errors.push({
          rule: 'restart-timeout',
          path: `${at}.restart_timeout`,
          message: `restart_timeout ${JSON.stringify(l.restartTimeout)} is not a duration such as 90s or 1m30s (P2 used 60s)`,
        });
      else if (ms < 0)
        errors.push({
          rule: 'restart-timeout',
          path: `${at}.restart_timeout`,
          message: `restart_timeout ${JSON.stringify(l.restartTimeout)} is negative`,
        });
    }
    for (const [i, entry] of l.entryPoints.entries()) {
      if (entry.startsWith('/') || entry.split('/').includes('..') || entry === '') {
        errors.push({
          rule: 'entry-point-path',
          path: `${at}.entry_points[${i}]`,
          message: `entry point ${JSON.stringify(entry)} must be a relative path inside the artifact`,
        });
      }
    }
    for (const name of Object.keys(l.env)) {
      if (!ENV_NAME.test(name))
        errors.push({
          rule: 'env-name',
          path: pathJoin(`${at}.env`, name),
          message: `${JSON.stringify(name)} is not an environment variable name`,
        });
    }
    for (const [field, value] of [
      ['location', l.location],
      ['digest_location', l.digestLocation],
      ['digest_signature_location', l.digestSignatureLocation],
    ] as const) {
      if (value !== '' && !/^(https?|file):\/\//.test(value)) {
        warnings.push({
          rule: 'url',
          path: `${at}.${field}`,
          message: `${field} ${JSON.stringify(value)} is not an http(s):// or file:// URL`,
        });
      }
    }
    if (l.digestSignatureLocation !== '' && l.digestLocation === '') {
      warnings.push({
        rule: 'digest-signature-alone',
        path: `${at}.digest_signature_location`,
        message: 'digest_signature_location without digest_location is never checked',
      });
    }
    if (l.cgroup.cpus < 0 || l.cgroup.memory < 0) {
      errors.push({
        rule: 'cgroup-negative',
        path: `${at}.cgroup`,
        message: 'cgroup cpus and memory must not be negative',
      });
    }
    for (const key of Object.keys(l.extra)) {
      warnings.push({
        rule: 'unknown-key',
        path: pathJoin(at, key),
        message: `unknown key ${JSON.stringify(key)} is ignored`,
      });
    }
  }
  if (d.resourceLimits && (d.resourceLimits.cpus < 0 || d.resourceLimits.memory < 0)) {
    errors.push({
      rule: 'cgroup-negative',
      path: 'resource_limits.cgroup',
      message: 'cgroup cpus and memory must not be negative',
    });
  }
  if (d.artifactRegistry !== '' && !/^https?:\/\//.test(d.artifactRegistry)) {
    warnings.push({
      rule: 'url',
      path: 'artifact_registry',
      message: `artifact_registry ${JSON.stringify(d.artifactRegistry)} is not an http(s) URL (P2 ignored it)`,
    });
  }
  return { errors, warnings };
}

/**
 * Throws when {@link lintManifest} finds errors.
 * @throws ManifestError `P2_MANIFEST_LINT` with `details.errors` and `details.warnings`
 * @internal
 */
export function assertLintClean(manifest: Manifest): void {
  const { errors, warnings } = lintManifest(manifest);
  const first = errors[0];
  if (first === undefined) return;
  throw new ManifestError(
    ManifestErrorCode.LINT,
    `${first.path}: ${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`,
    {
      hint: 'fix the manifest before scheduling it; `p2 manifest check FILE` lists every problem',
      details: {
        path: first.path,
        errors,
        warnings,
        ...(manifest.source ? { source: manifest.source } : {}),
      },
    },
  );
}

/** A manifest summarised for the person about to schedule it (what `p2 manifest check` prints). */
export interface ManifestCheck {
  /** No lint errors. */
  valid: boolean;
  id: string;
  runAs: string;
  /** The P2 SHA. */
  sha: string;
  /** Clearsigned (the signature is not verified here). */
  signed: boolean;
  launchables: Array<{ id: string; type: string; version: string; location: string }>;
  /** The health check URL (`<node>` for the node's name), or null without one. */
  status: string | null;
  errors: LintIssue[];
  warnings: LintIssue[];
}

/**
 * {@link lintManifest}'s findings with what a reviewer checks next to them: id, run-as user, SHA,
 * whether it is signed, its launchables and versions, and where its health is checked.
 *
 * @example
 * ```ts
 * const check = checkManifest(parseManifest('id: web\nstatus_port: 8080\nstatus_http: true\n'));
 * check.status; // 'http://<node>:8080/_status'
 * ```
 */
export function checkManifest(manifest: Manifest): ManifestCheck {
  const { errors, warnings } = lintManifest(manifest);
  const status = manifest.statusCheck();
  return {
    valid: errors.length === 0,
    id: manifest.id,
    runAs: manifest.runAs,
    sha: manifest.sha(),
    signed: manifest.clearsigned !== undefined,
    launchables: Object.entries(manifest.launchables).map(([id, l]) => ({
      id,
      type: l.launchableType,
      version: manifest.launchableVersion(id),
      location: l.location,
    })),
    status: status
      ? `${status.scheme}://${status.localhostOnly ? 'localhost' : '<node>'}:${status.port}${status.path}`
      : null,
    errors,
    warnings,
  };
}
