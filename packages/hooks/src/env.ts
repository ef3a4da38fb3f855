import { readFileSync } from 'node:fs';
import { describeError } from '@p2/errors';
import { type Manifest, parseManifest } from '@p2/manifest';
import { HooksError, HooksErrorCode } from './errors.js';
import { type HookEvent, HookEvents, isHookEvent } from './events.js';

/** P2's hook environment variable names (spec 02 §6.3). A hook gets these, `PATH`, and nothing else. */
export const HookEnvVar = {
  /** Basename of the hooks directory. */
  HOOK: 'HOOK',
  EVENT: 'HOOK_EVENT',
  NODE: 'HOOKED_NODE',
  POD_ID: 'HOOKED_POD_ID',
  POD_HOME: 'HOOKED_POD_HOME',
  /** A temporary copy of the manifest, deleted after the hook ran. */
  POD_MANIFEST: 'HOOKED_POD_MANIFEST',
  /** `<pod home>/config/<id>_<sha>.yaml`. */
  CONFIG_PATH: 'HOOKED_CONFIG_PATH',
  /** The pod's env dir, `<pod home>/env`. */
  ENV_PATH: 'HOOKED_ENV_PATH',
  CONFIG_DIR_PATH: 'HOOKED_CONFIG_DIR_PATH',
  /** The pod root, e.g. `/data/pods`. */
  SYSTEM_POD_ROOT: 'HOOKED_SYSTEM_POD_ROOT',
  /** Empty for legacy pods. */
  POD_UNIQUE_KEY: 'HOOKED_POD_UNIQUE_KEY',
  /** `true` or `false`. */
  POD_READ_ONLY: 'HOOKED_POD_READ_ONLY',
} as const;

/** Everything a hook is told, typed (the variables only; see {@link HookEnv} for the parsed manifest). */
export interface HookVariables {
  /** Basename of the hooks directory (`HOOK`). */
  hook: string;
  event: HookEvent;
  node: string;
  podId: string;
  podHome: string;
  /** Path of a temporary copy of the manifest (`HOOKED_POD_MANIFEST`). */
  manifestPath: string;
  /** The pod's CONFIG_PATH file. Before `after_install` it may not exist yet (as in P2). */
  configPath: string;
  /** The pod's env dir. */
  envPath: string;
  configDirPath: string;
  /** The pod root (`HOOKED_SYSTEM_POD_ROOT`). */
  systemPodRoot: string;
  /** `undefined` for legacy pods (P2 sets the variable to the empty string). */
  uniqueKey: string | undefined;
  readOnly: boolean;
}

/** {@link HookVariables} plus the parsed manifest. */
export interface HookEnv extends HookVariables {
  manifest: Manifest;
}

/**
 * The exact environment P2 gives a hook: its twelve variables (see {@link HookEnvVar}).
 * `PATH` and any extra variables are the runner's business.
 *
 * @example hookEnvironment({ hook: 'p2hooks.d', event: 'after_install', node: 'h1', podId: 'web', … }).HOOKED_POD_ID // 'web'
 */
export function hookEnvironment(vars: HookVariables): Record<string, string> {
  return {
    [HookEnvVar.HOOK]: vars.hook,
    [HookEnvVar.EVENT]: vars.event,
    [HookEnvVar.NODE]: vars.node,
    [HookEnvVar.POD_ID]: vars.podId,
    [HookEnvVar.POD_HOME]: vars.podHome,
    [HookEnvVar.POD_MANIFEST]: vars.manifestPath,
    [HookEnvVar.CONFIG_PATH]: vars.configPath,
    [HookEnvVar.ENV_PATH]: vars.envPath,
    [HookEnvVar.CONFIG_DIR_PATH]: vars.configDirPath,
    [HookEnvVar.SYSTEM_POD_ROOT]: vars.systemPodRoot,
    [HookEnvVar.POD_UNIQUE_KEY]: vars.uniqueKey ?? '',
    [HookEnvVar.POD_READ_ONLY]: vars.readOnly ? 'true' : 'false',
  };
}

/**
 * Reads the hook variables from an environment (default `process.env`) without touching the manifest.
 *
 * @throws {HooksError} `P2_HOOKS_ENV_MISSING` naming every missing variable (is this running as a
 *   P2 hook?); `P2_HOOKS_ENV_INVALID` for an unknown `HOOK_EVENT` or a read-only flag other than
 *   `true`/`false`.
 */
export function readHookVariables(env: NodeJS.ProcessEnv = process.env): HookVariables {
  const required = Object.values(HookEnvVar).filter((name) => name !== HookEnvVar.POD_UNIQUE_KEY);
  const missing = required.filter((name) => env[name] === undefined);
  if (missing.length > 0) {
    throw new HooksError(
      HooksErrorCode.ENV_MISSING,
      `not run as a P2 hook: missing ${missing.join(', ')}`,
      {
        details: { missing },
        hint: 'hooks are started by the preparer (or `p2-run-hooks`), which sets HOOK_EVENT and the HOOKED_* variables',
      },
    );
  }
  const get = (name: string) => env[name] ?? '';
  const event = get(HookEnvVar.EVENT);
  if (!isHookEvent(event)) {
    throw new HooksError(
      HooksErrorCode.ENV_INVALID,
      `HOOK_EVENT=${JSON.stringify(event)} is not a P2 hook event; expected one of ${HookEvents.join(', ')}`,
      { details: { variable: HookEnvVar.EVENT, found: event } },
    );
  }
  const readOnly = get(HookEnvVar.POD_READ_ONLY);
  if (readOnly !== 'true' && readOnly !== 'false') {
    throw new HooksError(
      HooksErrorCode.ENV_INVALID,
      `HOOKED_POD_READ_ONLY=${JSON.stringify(readOnly)}: expected true or false`,
      { details: { variable: HookEnvVar.POD_READ_ONLY, found: readOnly } },
    );
  }
  const uniqueKey = get(HookEnvVar.POD_UNIQUE_KEY);
  return {
    hook: get(HookEnvVar.HOOK),
    event,
    node: get(HookEnvVar.NODE),
    podId: get(HookEnvVar.POD_ID),
    podHome: get(HookEnvVar.POD_HOME),
    manifestPath: get(HookEnvVar.POD_MANIFEST),
    configPath: get(HookEnvVar.CONFIG_PATH),
    envPath: get(HookEnvVar.ENV_PATH),
    configDirPath: get(HookEnvVar.CONFIG_DIR_PATH),
    systemPodRoot: get(HookEnvVar.SYSTEM_POD_ROOT),
    uniqueKey: uniqueKey === '' ? undefined : uniqueKey,
    readOnly: readOnly === 'true',
  };
}

/**
 * For hook authors: the typed hook environment, with the pod's manifest parsed by `@p2/manifest`.
 *
 * @throws {HooksError} `P2_HOOKS_ENV_MISSING`, `P2_HOOKS_ENV_INVALID` (see {@link readHookVariables});
 *   `P2_HOOKS_MANIFEST_UNREADABLE` when `HOOKED_POD_MANIFEST` cannot be read or parsed (cause: the
 *   I/O error or the `ManifestError`).
 * @example
 * ```ts
 * const env = readHookEnv();
 * if (env.event === 'after_install') console.log(env.podId, env.manifest.sha(), env.configPath);
 * ```
 */
export function readHookEnv(env: NodeJS.ProcessEnv = process.env): HookEnv {
  const vars = readHookVariables(env);
  let bytes: Buffer;
  try {
    bytes = readFileSync(vars.manifestPath);
  } catch (error) {
    throw new HooksError(
      HooksErrorCode.MANIFEST_UNREADABLE,
      `cannot read the pod manifest ${vars.manifestPath} (HOOKED_POD_MANIFEST): ${describeError(error)}`,
      { cause: error, details: { path: vars.manifestPath } },
    );
  }
  try {
    return { ...vars, manifest: parseManifest(bytes, { source: vars.manifestPath }) };
  } catch (error) {
    throw new HooksError(
      HooksErrorCode.MANIFEST_UNREADABLE,
      `cannot parse the pod manifest ${vars.manifestPath} (HOOKED_POD_MANIFEST): ${describeError(error)}`,
      { cause: error, details: { path: vars.manifestPath } },
    );
  }
}
