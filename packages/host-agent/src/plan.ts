/**
 * A host-level dry run: what a preparer on `node` will do when `manifest` lands in its intent,
 * compared with what the store says it runs now (`reality/<node>/<pod>`) and, when the pod root is
 * on this machine, with what is installed. Nothing is written. Whether the pod is installed,
 * updated or left alone is decided by the deploy's own {@link deploySteps}.
 */
import { existsSync } from 'node:fs';
import { describeError, isP2Error, redactUrl } from '@p2/errors';
import { type OsRelease, readOsRelease } from '@p2/hoist';
import type { Manifest } from '@p2/manifest';
import {
  discoverLaunchable,
  isRegistryLaunchable,
  PodLayout,
  type RegistrySettings,
  registryFor,
} from '@p2/pods';
import { deploySteps } from './deploy.js';

/** Where the artifact registry says a `version:` launchable's artifact is, or why it cannot say. */
export interface RegistryResolution {
  /** The registry asked (the manifest's `artifact_registry`, else the host's), credentials redacted. */
  registry?: string;
  /** The artifact's location, credentials redacted. */
  location?: string;
  /** Why the location is unknown: no registry, no OS release file, the registry's refusal… */
  error?: { code: string; message: string; hint?: string };
}

/** One launchable's fate. */
export interface LaunchablePlan {
  id: string;
  /** `launchable_type`: `hoist`, or `opencontainer` (an OCI bundle run by runc). */
  type: string;
  version: string;
  location: string;
  /** `new` (not in reality), `changed` (version or stanza differs), `unchanged`, `removed`. */
  change: 'new' | 'changed' | 'unchanged' | 'removed';
  /** The versioned install directory on the host. */
  installDir: string;
  /** Whether that directory exists; `null` when the pod root is not on this machine. */
  installed: boolean | null;
  /** Whether the preparer will fetch the artifact. */
  download: boolean;
  /** `start` (new service), `restart` (relaunched because the pod changed), `stop`, or `none`. */
  service: 'start' | 'restart' | 'stop' | 'none';
  /** A `version:` launchable, when {@link PlanInput.registry} is given: what the registry says. */
  resolved?: RegistryResolution;
}

/** A difference between the running manifest and the new one, by dotted path. */
export interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
}

/** What {@link planDeploy} reports: the pod's fate, each launchable's, and the manifest's changes. */
export interface PodPlan {
  pod: string;
  node: string;
  /** `install` (not running there), `update` (a different manifest runs), `none` (same SHA). */
  action: 'install' | 'update' | 'none';
  sha: string;
  realitySha: string | null;
  intentSha: string | null;
  launchables: LaunchablePlan[];
  changes: FieldChange[];
}

function jsonView(manifest: Manifest): Record<string, unknown> {
  const view = JSON.parse(
    JSON.stringify(manifest.toJSON(), (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    ),
  ) as Record<string, unknown>;
  delete view.sha;
  delete view.signed;
  return view;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Leaf-level differences between two JSON values.
 * @example diffJson({ a: 1 }, { a: 2 }) // [{ path: 'a', from: 1, to: 2 }]
 */
export function diffJson(from: unknown, to: unknown, path = ''): FieldChange[] {
  if (isObject(from) && isObject(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    return keys.flatMap((k) => diffJson(from[k], to[k], path ? `${path}.${k}` : k));
  }
  if (JSON.stringify(from) === JSON.stringify(to)) return [];
  return [{ path, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) }];
}

/** What {@link planDeploy} compares. */
export interface PlanInput {
  manifest: Manifest;
  node: string;
  reality: Manifest | undefined;
  intent: Manifest | undefined;
  /** The pod root to look for installs in, when it is on this machine. */
  podRoot: string | undefined;
  /**
   * How `version:` launchables are resolved here (registry, OS release file, client settings).
   * When given, each one is looked up and the plan says where its artifact is or why it cannot
   * be found; otherwise the registry is not asked.
   */
  registry?: RegistrySettings;
}

/** Asks the registry about one launchable, turning a failure into its reason. */
async function resolveThroughRegistry(
  manifest: Manifest,
  launchableId: string,
  settings: RegistrySettings,
  os: () => Promise<OsRelease>,
): Promise<RegistryResolution> {
  const registry = registryFor(manifest, settings.artifactRegistry);
  const shown = registry === undefined ? {} : { registry: redactUrl(registry) };
  try {
    const found = await discoverLaunchable(manifest, launchableId, settings, await os());
    return { ...shown, location: redactUrl(found.location) };
  } catch (error) {
    return {
      ...shown,
      error: isP2Error(error)
        ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) }
        : { code: 'UNKNOWN', message: describeError(error) },
    };
  }
}

/**
 * Computes the plan: what a preparer that runs `input.reality` does with `input.manifest`. P2
 * relaunches every service of a pod whose manifest changed (spec 02 §1.8–1.9).
 *
 * @example
 * ```ts
 * const plan = await planDeploy({ manifest, node: 'h1', reality, intent, podRoot: '/data/pods' });
 * plan.action; // 'update'
 * ```
 */
export async function planDeploy(input: PlanInput): Promise<PodPlan> {
  const { manifest, reality } = input;
  const sha = manifest.sha();
  const realitySha = reality ? reality.sha() : null;
  // The preparer's decision, for a host whose reality is what runs and is installed.
  const { action } = deploySteps({}, manifest, reality, reality);
  const layout = new PodLayout(input.podRoot ?? '/data/pods', manifest.id);
  const podRootHere = input.podRoot !== undefined && existsSync(input.podRoot);
  const launchables: LaunchablePlan[] = [];
  let os: Promise<OsRelease> | undefined;
  const hostOs = () => {
    os ??= readOsRelease(input.registry?.osVersionFile);
    return os;
  };
  for (const [id, stanza] of Object.entries(manifest.launchables)) {
    const version = manifest.launchableVersion(id);
    const before = reality && Object.hasOwn(reality.launchables, id) ? reality : undefined;
    const change = !before
      ? 'new'
      : before.launchableVersion(id) !== version ||
          JSON.stringify(before.launchables[id]) !== JSON.stringify(stanza)
        ? 'changed'
        : 'unchanged';
    const installDir = layout.installDir(id, version);
    const installed = podRootHere ? existsSync(installDir) : null;
    launchables.push({
      id,
      type: stanza.launchableType,
      version,
      location: stanza.location,
      change,
      installDir,
      installed,
      download: action !== 'none' && (installed === null ? change !== 'unchanged' : !installed),
      service: action === 'none' ? 'none' : change === 'new' ? 'start' : 'restart',
      ...(input.registry && isRegistryLaunchable(manifest, id)
        ? { resolved: await resolveThroughRegistry(manifest, id, input.registry, hostOs) }
        : {}),
    });
  }
  for (const [id, stanza] of Object.entries(reality?.launchables ?? {})) {
    if (Object.hasOwn(manifest.launchables, id)) continue;
    const version = reality?.launchableVersion(id) ?? '';
    launchables.push({
      id,
      type: stanza.launchableType,
      version,
      location: stanza.location,
      change: 'removed',
      installDir: layout.installDir(id, version),
      installed: podRootHere ? existsSync(layout.installDir(id, version)) : null,
      download: false,
      service: 'stop',
    });
  }
  return {
    pod: manifest.id,
    node: input.node,
    action,
    sha,
    realitySha,
    intentSha: input.intent ? input.intent.sha() : null,
    launchables,
    changes: reality ? diffJson(jsonView(reality), jsonView(manifest)) : [],
  };
}
