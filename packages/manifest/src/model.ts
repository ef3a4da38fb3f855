/**
 * The typed manifest model and its conversion from/to the typed YAML tree (spec 01 §1.2–§1.5).
 */
import { ManifestError, ManifestErrorCode } from './errors.js';
import { fromPlain, int, map, scalarText, str, strMap, toPlain, type YNode } from './nodes.js';
import { goParseFloat, type KeyCollision, keyIdentity, pathJoin } from './yaml11.js';

/** A cgroup limit block (`cgroup:` of a launchable, `resource_limits.cgroup` of a pod). */
export interface CgroupLimits {
  /** Number of logical CPUs; 0 = unrestricted. */
  readonly cpus: number;
  /** Memory in bytes (units like `512M` are converted on parse); 0 = unrestricted. */
  readonly memory: number;
}

/** `version:` of a launchable: resolve the artifact through a registry instead of a `location`. */
export interface LaunchableVersionStanza {
  /** The version string (`version.id`); '' when absent. */
  readonly id: string;
  /** `version.artifact_name`: the name used for discovery; '' = the launchable id. */
  readonly artifactName: string;
  /** `version.tags`: passed to the registry as query parameters. */
  readonly tags: Readonly<Record<string, string>>;
}

/** `postStart`/`preStop` of a docker launchable. */
export interface ExecHook {
  readonly command: readonly string[];
}

/**
 * One launchable (spec 01 §1.4). Strings are '' when absent, as in P2, so a stanza always has every
 * field.
 */
export interface LaunchableStanza {
  /** `hoist`, `opencontainer` or `docker` (other values pass parsing, as in P2). */
  readonly launchableType: string;
  /** Artifact URL; '' when the launchable uses `version`. */
  readonly location: string;
  readonly version: LaunchableVersionStanza;
  /** URL of a sha256sum-format digest of the installed tree; '' = not verified. */
  readonly digestLocation: string;
  /** URL of a binary detached signature over the digest file. */
  readonly digestSignatureLocation: string;
  /** Go duration text (`90s`, `1m30s`); '' = the default (60 s). See {@link Manifest.restartTimeoutSeconds}. */
  readonly restartTimeout: string;
  /** `always` (also when ''), or anything else = do not restart. */
  readonly restartPolicy: string;
  readonly noHaltOnUpdate: boolean;
  /** Relative paths to run under runit; empty = the implicit `[bin/launch]`. */
  readonly entryPoints: readonly string[];
  /** Extra environment variables for this launchable. */
  readonly env: Readonly<Record<string, string>>;
  readonly cgroup: CgroupLimits;
  /** Docker only. */
  readonly image: { readonly name: string; readonly sha256: string };
  /** Docker only: overrides the image entrypoint. */
  readonly entrypoint: readonly string[];
  readonly postStart: ExecHook;
  readonly preStop: ExecHook;
  /** Keys P2 did not know (such as the fixtures' `launchable_id`), kept but not part of the SHA. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** What can be given for a launchable when building one; missing fields are zero. */
export type LaunchableInput = Partial<
  Omit<LaunchableStanza, 'version' | 'cgroup' | 'image' | 'postStart' | 'preStop'> & {
    version: Partial<LaunchableVersionStanza>;
    cgroup: Partial<CgroupLimits>;
    image: Partial<LaunchableStanza['image']>;
    postStart: ExecHook;
    preStop: ExecHook;
  }
> & { launchableType: string };

/** The `status:` block. */
export interface StatusStanza {
  readonly http: boolean;
  readonly path: string;
  readonly port: number;
  readonly localhostOnly: boolean;
}

/** Everything a manifest holds. @internal */
export interface ManifestData {
  id: string;
  /** `run_as` as written ('' = default to the pod id). */
  runAs: string;
  launchables: Record<string, LaunchableStanza>;
  config: YNode;
  statusPort: number;
  statusHttp: boolean;
  status: StatusStanza;
  /** `resource_limits.cgroup`, undefined when absent. */
  resourceLimits: CgroupLimits | undefined;
  /** Tri-state: undefined when the key is absent (the node's policy decides). */
  readonly: boolean | undefined;
  artifactRegistry: string;
  nodeRequirements: Record<string, string>;
  minHealthPercentage: number;
  terminationGracePeriod: number;
  /** Unknown top-level keys, in document order. */
  extra: Array<readonly [YNode, YNode]>;
}

// ---------------------------------------------------------------------------------------------
// Byte counts (spec 01 §1.5)

const BYTE_COUNT = /^\s*(-?[\d.]+)\s*([TGMK]b?|B|)\s*$/i;
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};

/**
 * Parses a byte count as P2 did: an integer, or a number with a binary unit (`512M`, `1.5G`,
 * `2gb`, case-insensitive). Returns undefined when it is not one.
 */
export function parseByteCount(text: string): number | undefined {
  const match = BYTE_COUNT.exec(text);
  if (!match) return undefined;
  const value = goParseFloat(match[1] ?? '');
  if (value === undefined || Number.isNaN(value)) return undefined;
  const unit = UNITS[(match[2] ?? '').slice(0, 1).toLowerCase()] ?? 1;
  return Math.trunc(value * unit);
}

// ---------------------------------------------------------------------------------------------
// Decoding (after the JSON Schema check, so types are known to be acceptable)

function createRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function entriesOf(node: YNode | undefined): ReadonlyArray<readonly [YNode, YNode]> {
  return node?.kind === 'map' ? node.entries : [];
}

/** A struct field: yaml.v2 matched field names by the key's text; the last one wins. */
function field(node: YNode | undefined, name: string): YNode | undefined {
  let found: YNode | undefined;
  for (const [key, value] of entriesOf(node)) if (scalarText(key) === name) found = value;
  return found;
}

/** How a key was written, for messages: strings quoted, other scalars as their source text. */
function keyAsWritten(key: YNode): string {
  return key.kind === 'str' ? JSON.stringify(key.value) : (scalarText(key) ?? '');
}

/**
 * Groups a mapping's entries as yaml.v2 did when decoding into a Go map: by `identity` of the key
 * (the key's text for `map[string]…`, its resolved value for `map[interface{}]…`); the last entry
 * of each group wins. Groups of differently written keys are reported to `collisions`.
 */
function groupEntries(
  entries: ReadonlyArray<readonly [YNode, YNode]>,
  identity: (key: YNode) => string,
  path: string,
  collisions: KeyCollision[],
): Array<readonly [YNode, YNode]> {
  const groups = new Map<string, { entry: readonly [YNode, YNode]; keys: string[] }>();
  for (const entry of entries) {
    const id = identity(entry[0]);
    const group = groups.get(id);
    groups.delete(id);
    groups.set(id, { entry, keys: [...(group?.keys ?? []), keyAsWritten(entry[0])] });
  }
  const out: Array<readonly [YNode, YNode]> = [];
  for (const { entry, keys } of groups.values()) {
    if (keys.length > 1)
      collisions.push({ path: pathJoin(path, scalarText(entry[0]) ?? ''), keys });
    out.push(entry);
  }
  return out;
}

const byText = (key: YNode): string => scalarText(key) ?? '';

/**
 * `config` as P2 held it (`map[interface{}]interface{}` all the way down): keys that resolve to the
 * same value (`Y`, `y`, `true`) are one key, the last one wins.
 */
function typedTree(node: YNode, path: string, collisions: KeyCollision[]): YNode {
  if (node.kind === 'seq')
    return {
      kind: 'seq',
      items: node.items.map((item, i) => typedTree(item, `${path}[${i}]`, collisions)),
    };
  if (node.kind !== 'map') return node;
  const entries = groupEntries(node.entries, keyIdentity, path, collisions).map(
    ([key, value]) => [key, typedTree(value, pathJoin(path, byText(key)), collisions)] as const,
  );
  return { kind: 'map', entries };
}

const text = (node: YNode | undefined): string =>
  node === undefined ? '' : (scalarText(node) ?? '');

function integer(node: YNode | undefined): number {
  if (node?.kind === 'int') return Number(node.value);
  if (node?.kind === 'float') return Math.trunc(node.value);
  return 0;
}

const bool = (node: YNode | undefined): boolean => node?.kind === 'bool' && node.value;

/** A `map[string]string`: keys by their text (`Y` stays "Y"), the last of equal texts wins. */
function textMap(
  node: YNode | undefined,
  path: string,
  collisions: KeyCollision[],
): Record<string, string> {
  const out = createRecord<string>();
  for (const [key, value] of groupEntries(entriesOf(node), byText, path, collisions))
    out[text(key)] = text(value);
  return out;
}

function textList(node: YNode | undefined): string[] {
  return node?.kind === 'seq' ? node.items.map((item) => text(item)) : [];
}

function cgroupOf(node: YNode | undefined, path: string): CgroupLimits {
  const memoryNode = field(node, 'memory');
  let memory = 0;
  if (memoryNode !== undefined && memoryNode.kind !== 'null') {
    const parsed = parseByteCount(text(memoryNode));
    if (parsed === undefined) {
      const memPath = `${path}.memory`;
      throw new ManifestError(
        ManifestErrorCode.INVALID_VALUE,
        `${memPath}: expected a byte count such as 536870912 or 512M, found ${JSON.stringify(text(memoryNode))}`,
        { details: { path: memPath, expected: 'a byte count', found: text(memoryNode) } },
      );
    }
    memory = parsed;
  }
  return { cpus: integer(field(node, 'cpus')), memory };
}

const LAUNCHABLE_KEYS = new Set([
  'launchable_type',
  'digest_location',
  'digest_signature_location',
  'restart_timeout',
  'cgroup',
  'env',
  'restart_policy',
  'no_halt_on_update',
  'entry_points',
  'location',
  'version',
  'image',
  'entrypoint',
  'postStart',
  'preStop',
]);

/** Top-level keys P2 knows, in canonical order. */
export const MANIFEST_KEYS = [
  'id',
  'run_as',
  'launchables',
  'config',
  'status_port',
  'status_http',
  'status',
  'resource_limits',
  'readonly',
  'artifact_registry',
  'node_requirements',
  'min_health_percentage',
  'termination_grace_period',
] as const;
const MANIFEST_KEY_SET = new Set<string>(MANIFEST_KEYS);

function unknownEntries(
  node: YNode | undefined,
  known: Set<string>,
): Array<readonly [YNode, YNode]> {
  return entriesOf(node).filter(([key]) => !(key.kind === 'str' && known.has(key.value)));
}

function extraRecord(entries: ReadonlyArray<readonly [YNode, YNode]>): Record<string, unknown> {
  return toPlain(map([...entries])) as Record<string, unknown>;
}

function decodeLaunchable(node: YNode, path: string, collisions: KeyCollision[]): LaunchableStanza {
  const version = field(node, 'version');
  const image = field(node, 'image');
  return {
    launchableType: text(field(node, 'launchable_type')),
    location: text(field(node, 'location')),
    version: {
      id: text(field(version, 'id')),
      artifactName: text(field(version, 'artifact_name')),
      tags: textMap(field(version, 'tags'), `${path}.version.tags`, collisions),
    },
    digestLocation: text(field(node, 'digest_location')),
    digestSignatureLocation: text(field(node, 'digest_signature_location')),
    restartTimeout: text(field(node, 'restart_timeout')),
    restartPolicy: text(field(node, 'restart_policy')),
    noHaltOnUpdate: bool(field(node, 'no_halt_on_update')),
    entryPoints: textList(field(node, 'entry_points')),
    env: textMap(field(node, 'env'), `${path}.env`, collisions),
    cgroup: cgroupOf(field(node, 'cgroup'), `${path}.cgroup`),
    image: { name: text(field(image, 'name')), sha256: text(field(image, 'sha256')) },
    entrypoint: textList(field(node, 'entrypoint')),
    postStart: { command: textList(field(field(field(node, 'postStart'), 'exec'), 'command')) },
    preStop: { command: textList(field(field(field(node, 'preStop'), 'exec'), 'command')) },
    extra: extraRecord(unknownEntries(node, LAUNCHABLE_KEYS)),
  };
}

/**
 * Converts a schema-checked document tree into the model, decoding as yaml.v2 did into P2's typed
 * fields: a scalar in a string field keeps its source text, `map[string]…` keys are their text and
 * `config` keys their resolved value. Keys that became one are reported to `collisions`.
 * @internal
 */
export function decodeManifest(root: YNode, collisions: KeyCollision[] = []): ManifestData {
  const launchables = createRecord<LaunchableStanza>();
  const launchableEntries = entriesOf(field(root, 'launchables'));
  for (const [key, value] of groupEntries(launchableEntries, byText, 'launchables', collisions)) {
    const id = text(key);
    launchables[id] = decodeLaunchable(value, pathJoin('launchables', id), collisions);
  }
  const status = field(root, 'status');
  const resourceLimits = field(root, 'resource_limits');
  const rlCgroup = field(resourceLimits, 'cgroup');
  const readonlyNode = field(root, 'readonly');
  const config = field(root, 'config');
  return {
    id: text(field(root, 'id')),
    runAs: text(field(root, 'run_as')),
    launchables,
    config: config?.kind === 'map' ? typedTree(config, 'config', collisions) : map([]),
    statusPort: integer(field(root, 'status_port')),
    statusHttp: bool(field(root, 'status_http')),
    status: {
      http: bool(field(status, 'http')),
      path: text(field(status, 'path')),
      port: integer(field(status, 'port')),
      localhostOnly: bool(field(status, 'localhost_only')),
    },
    resourceLimits:
      rlCgroup === undefined || rlCgroup.kind === 'null'
        ? undefined
        : cgroupOf(rlCgroup, 'resource_limits.cgroup'),
    readonly:
      readonlyNode === undefined || readonlyNode.kind !== 'bool' ? undefined : readonlyNode.value,
    artifactRegistry: text(field(root, 'artifact_registry')),
    nodeRequirements: textMap(field(root, 'node_requirements'), 'node_requirements', collisions),
    minHealthPercentage: integer(field(root, 'min_health_percentage')),
    terminationGracePeriod: integer(field(root, 'termination_grace_period')),
    extra: unknownEntries(root, MANIFEST_KEY_SET),
  };
}

/** A plain JSON view of a tree for the JSON Schema check (integers as numbers). @internal */
export function jsonView(node: YNode): unknown {
  switch (node.kind) {
    case 'int':
      return Number(node.value);
    case 'seq':
      return node.items.map(jsonView);
    case 'map': {
      const out = createRecord<unknown>();
      for (const [key, value] of node.entries) out[text(key)] = jsonView(value);
      return out;
    }
    default:
      return toPlain(node);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding to the canonical tree (field order and omitempty rules of spec 01 §1.2/§1.4)

const optText = (value: string): YNode | undefined => (value === '' ? undefined : str(value));
const optInt = (value: number): YNode | undefined =>
  value === 0 ? undefined : int(BigInt(Math.trunc(value)));
const optBool = (value: boolean): YNode | undefined =>
  value ? { kind: 'bool', value: true } : undefined;
const optTextMap = (value: Readonly<Record<string, string>>): YNode | undefined => {
  const keys = Object.keys(value);
  return keys.length === 0
    ? undefined
    : map(keys.map((k) => [str(k), str(value[k] ?? '')] as const));
};
const optTextList = (value: readonly string[]): YNode | undefined =>
  value.length === 0 ? undefined : { kind: 'seq', items: value.map(str) };

/** A cgroup block as P2 emitted it: zero fields omitted, so an all-zero block is `{}`. @internal */
export function cgroupNode(cgroup: CgroupLimits): YNode {
  return strMap([
    ['cpus', optInt(cgroup.cpus)],
    ['memory', optInt(cgroup.memory)],
  ]);
}

const isZeroCgroup = (c: CgroupLimits): boolean => c.cpus === 0 && c.memory === 0;

function execNode(hook: ExecHook): YNode | undefined {
  const command = optTextList(hook.command);
  return command === undefined ? undefined : strMap([['exec', strMap([['command', command]])]]);
}

function withExtra(node: YNode, extra: ReadonlyArray<readonly [YNode, YNode]>): YNode {
  if (node.kind !== 'map' || extra.length === 0) return node;
  return { kind: 'map', entries: [...node.entries, ...extra], struct: true };
}

function launchableNode(l: LaunchableStanza, keepExtra: boolean): YNode {
  const version = strMap([
    ['artifact_name', optText(l.version.artifactName)],
    ['id', optText(l.version.id)],
    ['tags', optTextMap(l.version.tags)],
  ]);
  const image = strMap([
    ['name', optText(l.image.name)],
    ['sha256', optText(l.image.sha256)],
  ]);
  const nonEmpty = (node: YNode): YNode | undefined =>
    node.kind === 'map' && node.entries.length === 0 ? undefined : node;
  const stanza = strMap([
    ['launchable_type', str(l.launchableType)],
    ['digest_location', optText(l.digestLocation)],
    ['digest_signature_location', optText(l.digestSignatureLocation)],
    ['restart_timeout', optText(l.restartTimeout)],
    ['cgroup', isZeroCgroup(l.cgroup) ? undefined : cgroupNode(l.cgroup)],
    ['env', optTextMap(l.env)],
    ['restart_policy', optText(l.restartPolicy)],
    ['no_halt_on_update', optBool(l.noHaltOnUpdate)],
    ['entry_points', optTextList(l.entryPoints)],
    ['location', optText(l.location)],
    ['version', nonEmpty(version)],
    ['image', nonEmpty(image)],
    ['entrypoint', optTextList(l.entrypoint)],
    ['postStart', execNode(l.postStart)],
    ['preStop', execNode(l.preStop)],
  ]);
  if (!keepExtra) return stanza;
  const extra = fromPlain(l.extra);
  return withExtra(stanza, extra.kind === 'map' ? extra.entries : []);
}

/**
 * The tree the manifest SHA is computed over. With `keepExtra`, unknown keys are appended (after
 * the known fields) so a manifest built in code round-trips them; they never enter the SHA.
 * @internal
 */
export function canonicalNode(d: ManifestData, keepExtra = false): YNode {
  const status = strMap([
    ['http', optBool(d.status.http)],
    ['path', optText(d.status.path)],
    ['port', optInt(d.status.port)],
    ['localhost_only', optBool(d.status.localhostOnly)],
  ]);
  const root = strMap([
    ['id', str(d.id)],
    ['run_as', optText(d.runAs)],
    [
      'launchables',
      map(
        Object.entries(d.launchables).map(
          ([id, l]) => [str(id), launchableNode(l, keepExtra)] as const,
        ),
      ),
    ],
    ['config', d.config.kind === 'map' ? d.config : map([])],
    ['status_port', optInt(d.statusPort)],
    ['status_http', optBool(d.statusHttp)],
    ['status', status.kind === 'map' && status.entries.length > 0 ? status : undefined],
    [
      'resource_limits',
      d.resourceLimits ? strMap([['cgroup', cgroupNode(d.resourceLimits)]]) : undefined,
    ],
    ['readonly', d.readonly === undefined ? undefined : { kind: 'bool', value: d.readonly }],
    ['artifact_registry', optText(d.artifactRegistry)],
    ['node_requirements', optTextMap(d.nodeRequirements)],
    ['min_health_percentage', optInt(d.minHealthPercentage)],
    ['termination_grace_period', optInt(d.terminationGracePeriod)],
  ]);
  return keepExtra ? withExtra(root, d.extra) : root;
}

/** The platform config tree: launchable id → `{cgroup: …}`. @internal */
export function platformNode(d: ManifestData): YNode {
  return map(
    Object.entries(d.launchables).map(
      ([id, l]) => [str(id), strMap([['cgroup', cgroupNode(l.cgroup)]])] as const,
    ),
  );
}

/** A zero launchable stanza with `input` applied. @internal */
export function makeLaunchable(input: LaunchableInput): LaunchableStanza {
  return {
    launchableType: input.launchableType,
    location: input.location ?? '',
    version: {
      id: input.version?.id ?? '',
      artifactName: input.version?.artifactName ?? '',
      tags: { ...(input.version?.tags ?? {}) },
    },
    digestLocation: input.digestLocation ?? '',
    digestSignatureLocation: input.digestSignatureLocation ?? '',
    restartTimeout: input.restartTimeout ?? '',
    restartPolicy: input.restartPolicy ?? '',
    noHaltOnUpdate: input.noHaltOnUpdate ?? false,
    entryPoints: [...(input.entryPoints ?? [])],
    env: { ...(input.env ?? {}) },
    cgroup: { cpus: input.cgroup?.cpus ?? 0, memory: input.cgroup?.memory ?? 0 },
    image: { name: input.image?.name ?? '', sha256: input.image?.sha256 ?? '' },
    entrypoint: [...(input.entrypoint ?? [])],
    postStart: { command: [...(input.postStart?.command ?? [])] },
    preStop: { command: [...(input.preStop?.command ?? [])] },
    extra: { ...(input.extra ?? {}) },
  };
}
