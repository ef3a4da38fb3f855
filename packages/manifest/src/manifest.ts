import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { parseGoDuration } from '@p2/go';
import { type ClearsignedParts, splitClearsigned } from './clearsign.js';
import { emitYaml } from './emit.js';
import { ManifestError, ManifestErrorCode } from './errors.js';
import { assertLintClean } from './lint.js';
import {
  type CgroupLimits,
  canonicalNode,
  cgroupNode,
  decodeManifest,
  jsonView,
  type LaunchableInput,
  type LaunchableStanza,
  type ManifestData,
  makeLaunchable,
  platformNode,
} from './model.js';
import { fromPlain, map, str, strMap, toPlain, type YNode } from './nodes.js';
import { assertSchema, describeFound } from './schema.js';
import { type ReadDiagnostics, readYaml } from './yaml11.js';

/** Largest manifest accepted by default: 512 KiB, Consul's limit for one KV value. */
export const DEFAULT_MAX_MANIFEST_BYTES = 512 * 1024;

/** Restart timeout used when a launchable sets none (or one Go could not parse), in seconds. */
export const DEFAULT_RESTART_TIMEOUT_SECONDS = 60;

/**
 * The logger a manifest reports fallbacks to (P2 logged and carried on): any pino logger fits.
 * Default: silent.
 */
export interface ManifestLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

const silent: ManifestLogger = { warn: () => {} };

/** Where a pod's health is checked (spec 01 §1.2, "Status resolution"). */
export interface StatusCheck {
  port: number;
  /** Always starts with `/`; default `/_status`. */
  path: string;
  /** `https` unless `status.http` or `status_http` is true (P2's default is https). */
  scheme: 'http' | 'https';
  /** Check on localhost (with an unverified TLS client) instead of the node name. */
  localhostOnly: boolean;
}

/** The files a pod gets in `<pod_home>/config/` (spec 01 §1.10). */
export interface ConfigFiles {
  /** `<id>_<sha>.yaml`, the file `CONFIG_PATH` points to. */
  configFileName: string;
  /** The `config` mapping in canonical YAML (`{}` + LF when empty). */
  config: string;
  /** `<id>_<sha>.platform.yaml`, the file `PLATFORM_CONFIG_PATH` points to. */
  platformFileName: string;
  /** Launchable id → `{cgroup: …}`. */
  platform: string;
  /** `<id>_<sha>.resource_limits.yaml`, only when the manifest has `resource_limits.cgroup`. */
  resourceLimitsFileName?: string;
  resourceLimits?: string;
}

const encoder = new TextEncoder();
const LAUNCHABLE_VERSION_FROM_LOCATION = /^[a-z0-9-_]+_([a-f0-9]{40}(-[a-z0-9]+)?)\.tar\.gz$/;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * A parsed (or built) pod manifest. Immutable: use {@link Manifest.toBuilder} to change one.
 *
 * @example
 * ```ts
 * const manifest = parseManifest('id: hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://a/hello_x.tar.gz\n');
 * manifest.id;     // 'hello'
 * manifest.sha();  // P2's manifest SHA (hex SHA-256 of the canonical form)
 * ```
 */
export class Manifest {
  /** The pod id. */
  readonly id: string;
  /** The Unix user that runs the pod: `run_as`, else the pod id. */
  readonly runAs: string;
  /** Launchable id → stanza. */
  readonly launchables: Readonly<Record<string, LaunchableStanza>>;
  /** The original bytes, verbatim (the whole clearsigned text when signed); what gets stored and signed. */
  readonly raw: Uint8Array;
  /** The clearsigned envelope's parts, when the input was clearsigned. */
  readonly clearsigned: ClearsignedParts | undefined;
  /** Where the manifest came from (a file name or store key), for messages. */
  readonly source: string | undefined;
  /** @internal */
  readonly data: ManifestData;
  /** @internal What the lenient reader noticed (duplicate keys, extra documents); undefined for built manifests. */
  readonly diagnostics: ReadDiagnostics | undefined;
  readonly #logger: ManifestLogger;
  #canonical: string | undefined;
  #sha: string | undefined;

  /** @internal Use {@link parseManifest} or {@link ManifestBuilder}. */
  constructor(
    data: ManifestData,
    raw: Uint8Array,
    options: {
      clearsigned?: ClearsignedParts;
      source?: string;
      diagnostics?: ReadDiagnostics;
      logger?: ManifestLogger;
    } = {},
  ) {
    this.#logger = options.logger ?? silent;
    this.data = data;
    this.id = data.id;
    this.runAs = data.runAs === '' ? data.id : data.runAs;
    this.launchables = deepFreeze({ ...data.launchables });
    this.raw = raw;
    this.clearsigned = options.clearsigned;
    this.source = options.source;
    this.diagnostics = options.diagnostics;
  }

  /** The free-form `config` mapping as plain JS (a deep copy; non-string keys become strings). */
  get config(): Record<string, unknown> {
    return toPlain(this.data.config) as Record<string, unknown>;
  }

  /** `run_as` exactly as written ('' when absent). */
  get declaredRunAs(): string {
    return this.data.runAs;
  }

  /** `readonly:` (undefined when absent: the node's policy decides). */
  get readonly(): boolean | undefined {
    return this.data.readonly;
  }

  /** `resource_limits.cgroup`, undefined when absent. */
  get resourceLimits(): CgroupLimits | undefined {
    return this.data.resourceLimits;
  }

  /** `artifact_registry` ('' when absent). */
  get artifactRegistry(): string {
    return this.data.artifactRegistry;
  }

  /** `node_requirements` (stored, not used by P2). */
  get nodeRequirements(): Readonly<Record<string, string>> {
    return { ...this.data.nodeRequirements };
  }

  /** `min_health_percentage` (stored, not used by P2). */
  get minHealthPercentage(): number {
    return this.data.minHealthPercentage;
  }

  /** Seconds given to `bin/disable`: `termination_grace_period`, or 3600 when 0. */
  get terminationGracePeriodSeconds(): number {
    return this.data.terminationGracePeriod === 0 ? 3600 : this.data.terminationGracePeriod;
  }

  /** Top-level keys P2 did not know, kept so nothing is lost; they do not affect the SHA. */
  get extra(): Record<string, unknown> {
    return toPlain(map([...this.data.extra])) as Record<string, unknown>;
  }

  /** The raw bytes as text (UTF-8). */
  text(): string {
    return new TextDecoder().decode(this.raw);
  }

  /** The canonical YAML (yaml.v2 2016 re-serialization) the SHA is computed over. */
  canonicalYaml(): string {
    this.#canonical ??= emitYaml(canonicalNode(this.data));
    return this.#canonical;
  }

  /** P2's manifest SHA: lower-case hex SHA-256 of {@link Manifest.canonicalYaml}. */
  sha(): string {
    this.#sha ??= createHash('sha256').update(this.canonicalYaml()).digest('hex');
    return this.#sha;
  }

  /** Where and how to health-check the pod; undefined when it has no status port (always passing). */
  statusCheck(): StatusCheck | undefined {
    const port = this.data.statusPort !== 0 ? this.data.statusPort : this.data.status.port;
    if (port === 0) return undefined;
    const path =
      this.data.status.path === ''
        ? '/_status'
        : posix.normalize(`/${this.data.status.path}`).replace(/(.)\/+$/, '$1');
    return {
      port,
      path,
      scheme: this.data.statusHttp || this.data.status.http ? 'http' : 'https',
      localhostOnly: this.data.status.localhostOnly,
    };
  }

  #launchable(launchableId: string): LaunchableStanza {
    const stanza = Object.hasOwn(this.launchables, launchableId)
      ? this.launchables[launchableId]
      : undefined;
    if (stanza === undefined) {
      throw new ManifestError(
        ManifestErrorCode.NO_SUCH_LAUNCHABLE,
        `pod ${this.id} has no launchable ${JSON.stringify(launchableId)} (it has: ${Object.keys(this.launchables).join(', ') || 'none'})`,
        { details: { path: `launchables.${launchableId}` } },
      );
    }
    return stanza;
  }

  /**
   * `RESTART_TIMEOUT` of a launchable in whole seconds: its `restart_timeout` (Go duration), or 60
   * when absent or unparseable (P2 logged and used the default).
   * @throws ManifestError `P2_MANIFEST_NO_SUCH_LAUNCHABLE`
   */
  restartTimeoutSeconds(launchableId: string): number {
    const text = this.#launchable(launchableId).restartTimeout;
    if (text === '') return DEFAULT_RESTART_TIMEOUT_SECONDS;
    const ms = parseGoDuration(text);
    if (ms === undefined) {
      this.#logger.warn(
        { pod: this.id, launchable: launchableId, restartTimeout: text },
        `restart_timeout ${JSON.stringify(text)} is not a duration; using ${DEFAULT_RESTART_TIMEOUT_SECONDS}s`,
      );
      return DEFAULT_RESTART_TIMEOUT_SECONDS;
    }
    return Math.trunc(ms / 1000);
  }

  /**
   * The launchable's version: `version.id`; for docker the image sha256; else derived from the
   * location's file name `<name>_<40 hex>[-suffix].tar.gz`; '' when underivable (P2 then installs
   * into `installs/<lid>`).
   * @throws ManifestError `P2_MANIFEST_NO_SUCH_LAUNCHABLE`
   */
  launchableVersion(launchableId: string): string {
    const stanza = this.#launchable(launchableId);
    if (stanza.launchableType === 'docker') return stanza.image.sha256;
    if (stanza.version.id !== '') return stanza.version.id;
    let pathname = stanza.location;
    try {
      pathname = new URL(stanza.location).pathname;
    } catch {
      pathname = stanza.location.split(/[?#]/)[0] ?? '';
    }
    const base = posix.basename(pathname);
    const version = LAUNCHABLE_VERSION_FROM_LOCATION.exec(base)?.[1];
    if (version === undefined) {
      this.#logger.warn(
        { pod: this.id, launchable: launchableId, location: stanza.location },
        `cannot derive a version from ${JSON.stringify(base)} (expected <name>_<40 hex>.tar.gz); installing without one`,
      );
    }
    return version ?? '';
  }

  /**
   * `artifact_registry` as a URL; undefined when absent or unparseable (P2 logged and ignored an
   * unparseable one, falling back to the preparer's registry).
   */
  artifactRegistryUrl(): URL | undefined {
    if (this.data.artifactRegistry === '') return undefined;
    try {
      return new URL(this.data.artifactRegistry);
    } catch {
      this.#logger.warn(
        { pod: this.id, artifactRegistry: this.data.artifactRegistry },
        'artifact_registry is not a URL; ignoring it',
      );
      return undefined;
    }
  }

  /**
   * The files written to `<pod_home>/config/`, named with this manifest's SHA. To name them as P2
   * did during an install, call this on `manifest.withReadonlyDefault(nodeDefault)`.
   */
  configFiles(): ConfigFiles {
    const prefix = `${this.id}_${this.sha()}`;
    const platform = emitYaml(platformNode(this.data));
    const files: ConfigFiles = {
      configFileName: `${prefix}.yaml`,
      config: emitYaml(this.data.config),
      platformFileName: `${prefix}.platform.yaml`,
      platform,
    };
    if (this.data.resourceLimits) {
      files.resourceLimitsFileName = `${prefix}.resource_limits.yaml`;
      files.resourceLimits = emitYaml(
        strMap([
          ['pod', map([[str(this.id), cgroupNode(this.data.resourceLimits)]])],
          ['launchables', platformNode(this.data)],
        ]),
      );
    }
    return files;
  }

  /**
   * P2's install-time quirk (spec 01 §1.8.4): a manifest without `readonly` gets the node's default
   * filled in, which changes its SHA. Returns this manifest when `readonly` is already set.
   * Use the result only to name config files; compare intent and reality with the original SHA.
   */
  withReadonlyDefault(nodeDefault: boolean): Manifest {
    if (this.data.readonly !== undefined) return this;
    return new Manifest({ ...this.data, readonly: nodeDefault }, this.raw, {
      ...(this.clearsigned ? { clearsigned: this.clearsigned } : {}),
      ...(this.source ? { source: this.source } : {}),
      logger: this.#logger,
    });
  }

  /** A builder holding a copy of this manifest (original bytes and signature are dropped). */
  toBuilder(): ManifestBuilder {
    return new ManifestBuilder(structuredClone(this.data));
  }

  /** The model as JSON (used by `p2 manifest show --json`). */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      runAs: this.runAs,
      launchables: this.launchables,
      config: this.config,
      status: this.statusCheck() ?? null,
      resourceLimits: this.resourceLimits ?? null,
      readonly: this.readonly ?? null,
      artifactRegistry: this.artifactRegistry,
      nodeRequirements: this.nodeRequirements,
      minHealthPercentage: this.minHealthPercentage,
      terminationGracePeriod: this.data.terminationGracePeriod,
      extra: this.extra,
      signed: this.clearsigned !== undefined,
      sha: this.sha(),
    };
  }
}

function emptyData(): ManifestData {
  return {
    id: '',
    runAs: '',
    launchables: Object.create(null) as Record<string, LaunchableStanza>,
    config: map([]),
    statusPort: 0,
    statusHttp: false,
    status: { http: false, path: '', port: 0, localhostOnly: false },
    resourceLimits: undefined,
    readonly: undefined,
    artifactRegistry: '',
    nodeRequirements: {},
    minHealthPercentage: 0,
    terminationGracePeriod: 0,
    extra: [],
  };
}

function builderError(message: string, path: string): ManifestError {
  return new ManifestError(ManifestErrorCode.BUILDER, message, { details: { path } });
}

/**
 * Builds manifests in code (spec 01 §1.7). A built manifest's `raw` bytes are its canonical YAML
 * (plus any unknown keys carried over from a parsed manifest).
 *
 * @example
 * ```ts
 * const manifest = new ManifestBuilder()
 *   .setId('hello')
 *   .setLaunchable('app', { launchableType: 'hoist', location: 'https://artifacts/hello_abc.tar.gz' })
 *   .setConfig({ port: 8080 })
 *   .setStatusPort(8080)
 *   .build();
 * manifest.text(); // 'id: hello\nlaunchables:\n  app:\n ...status:\n  port: 8080\n'
 * ```
 */
export class ManifestBuilder {
  #data: ManifestData;

  /** @param data @internal Start from a copy of existing data (see {@link Manifest.toBuilder}). */
  constructor(data?: ManifestData) {
    this.#data = data ?? emptyData();
    // Launchable ids are arbitrary text, `__proto__` included: keep them in a prototype-less record.
    this.#data.launchables = Object.assign(Object.create(null), this.#data.launchables);
  }

  /** Sets the pod id. */
  setId(id: string): this {
    this.#data.id = id;
    return this;
  }

  /** Sets `run_as` ('' = default to the pod id). */
  setRunAs(user: string): this {
    this.#data.runAs = user;
    return this;
  }

  /** Adds or replaces a launchable. */
  setLaunchable(launchableId: string, stanza: LaunchableInput): this {
    this.#data.launchables[launchableId] = makeLaunchable(stanza);
    return this;
  }

  /** Removes a launchable (no-op when absent). */
  removeLaunchable(launchableId: string): this {
    delete this.#data.launchables[launchableId];
    return this;
  }

  /**
   * Replaces `config` with a deep copy of `config`. Integers become YAML ints, other numbers floats;
   * use a `Map` for non-string keys.
   * @throws ManifestError `P2_MANIFEST_BUILDER` for values YAML cannot hold (functions, symbols)
   */
  setConfig(config: Record<string, unknown> | Map<unknown, unknown>): this {
    let node: YNode;
    try {
      node = fromPlain(config, 'config');
    } catch (error) {
      throw builderError(error instanceof Error ? error.message : String(error), 'config');
    }
    if (node.kind !== 'map')
      throw builderError(`config: expected a mapping, found ${describeFound(config)}`, 'config');
    this.#data.config = node;
    return this;
  }

  /** Sets `status.port` and clears the legacy `status_port` (0 = no health check). */
  setStatusPort(port: number): this {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw builderError(
        `status.port: expected a port number 0-65535, found ${port}`,
        'status.port',
      );
    }
    this.#data.statusPort = 0;
    this.#data.status = { ...this.#data.status, port };
    return this;
  }

  /** Sets `status.http` (false = https, P2's default) and clears the legacy `status_http`. */
  setStatusHttp(http: boolean): this {
    this.#data.statusHttp = false;
    this.#data.status = { ...this.#data.status, http };
    return this;
  }

  /** Sets `status.path` ('' = `/_status`). */
  setStatusPath(path: string): this {
    this.#data.status = { ...this.#data.status, path };
    return this;
  }

  /** Sets `status.localhost_only`. */
  setStatusLocalhostOnly(localhostOnly: boolean): this {
    this.#data.status = { ...this.#data.status, localhostOnly };
    return this;
  }

  /** Sets (or with undefined removes) `resource_limits.cgroup`. */
  setResourceLimits(cgroup: Partial<CgroupLimits> | undefined): this {
    this.#data.resourceLimits =
      cgroup === undefined ? undefined : { cpus: cgroup.cpus ?? 0, memory: cgroup.memory ?? 0 };
    return this;
  }

  /** Sets (or with undefined removes) `readonly`. */
  setReadonly(readonly: boolean | undefined): this {
    this.#data.readonly = readonly;
    return this;
  }

  /** Sets `artifact_registry` ('' = none). */
  setArtifactRegistry(url: string): this {
    this.#data.artifactRegistry = url;
    return this;
  }

  /** Sets `node_requirements`. */
  setNodeRequirements(requirements: Record<string, string>): this {
    this.#data.nodeRequirements = { ...requirements };
    return this;
  }

  /** Sets `min_health_percentage`. */
  setMinHealthPercentage(percentage: number): this {
    this.#data.minHealthPercentage = percentage;
    return this;
  }

  /** Sets `termination_grace_period` in seconds (0 = one hour). */
  setTerminationGracePeriod(seconds: number): this {
    this.#data.terminationGracePeriod = seconds;
    return this;
  }

  /** Sets (or with undefined removes) an unknown top-level key; kept in the output, not in the SHA. */
  setExtra(key: string, value: unknown): this {
    const rest = this.#data.extra.filter(([k]) => !(k.kind === 'str' && k.value === key));
    this.#data.extra = value === undefined ? rest : [...rest, [str(key), fromPlain(value, key)]];
    return this;
  }

  /**
   * Validates (P2's rules) and returns the manifest; its `raw` bytes are the canonical YAML.
   * @throws ManifestError `P2_MANIFEST_MISSING_ID`, `P2_MANIFEST_MISSING_LAUNCHABLE_TYPE`,
   * `P2_MANIFEST_MISSING_LOCATION`, `P2_MANIFEST_LOCATION_AND_VERSION`, `P2_MANIFEST_DOCKER_*`
   */
  build(): Manifest {
    const data = structuredClone(this.#data);
    data.launchables = Object.assign(Object.create(null), data.launchables);
    validateP2Rules(data);
    const text = emitYaml(canonicalNode(data, true));
    return new Manifest(data, encoder.encode(text));
  }
}

/** P2's validation (spec 01 §1.6): first failure wins; messages as P2's after "invalid manifest: ". */
function validateP2Rules(data: ManifestData, source?: string): void {
  const fail = (
    code: ManifestError['code'],
    message: string,
    path: string,
    hint: string,
  ): never => {
    throw new ManifestError(code, `invalid manifest: ${message}`, {
      hint,
      details: { path, ...(source ? { source } : {}) },
    });
  };
  if (data.id === '') {
    fail(
      ManifestErrorCode.MISSING_ID,
      "manifest must contain an 'id'",
      'id',
      'add `id: <pod id>` at the top level',
    );
  }
  for (const [lid, l] of Object.entries(data.launchables)) {
    const at = `launchables.${lid}`;
    if (l.launchableType === '') {
      fail(
        ManifestErrorCode.MISSING_LAUNCHABLE_TYPE,
        `'${lid}': launchable must contain a 'launchable_type'`,
        `${at}.launchable_type`,
        'add `launchable_type: hoist` (or opencontainer, docker)',
      );
    }
    if (l.launchableType === 'hoist' || l.launchableType === 'opencontainer') {
      if (l.location === '' && l.version.id === '') {
        fail(
          ManifestErrorCode.MISSING_LOCATION,
          `'${lid}': launchable must contain a 'location' or 'version'`,
          `${at}.location`,
          'add `location: <artifact URL>` or `version: {id: <version>}`',
        );
      }
      if (l.location !== '' && l.version.id !== '') {
        fail(
          ManifestErrorCode.LOCATION_AND_VERSION,
          `'${lid}': launchable must not contain both 'location' and 'version'`,
          `${at}.version`,
          'keep either `location` or `version`, not both',
        );
      }
    }
    if (l.launchableType === 'docker') {
      if (l.image.name === '') {
        fail(
          ManifestErrorCode.DOCKER_MISSING_IMAGE,
          `'${lid}': docker launchables must contain an image`,
          `${at}.image.name`,
          'add `image: {name: …, sha256: …}`',
        );
      }
      if (l.image.sha256 === '') {
        fail(
          ManifestErrorCode.DOCKER_MISSING_SHA256,
          `'${lid}': docker launchables must contain a sha256`,
          `${at}.image.sha256`,
          'add `image.sha256`',
        );
      }
    }
  }
}

/** Options of {@link parseManifest}. */
export interface ParseManifestOptions {
  /** Where the input came from (file name, store key); included in error details. */
  source?: string;
  /** Largest input accepted, in bytes. @default 524288 (512 KiB, Consul's value limit) */
  maxBytes?: number;
  /**
   * Also apply the checks for newly written manifests ({@link lintManifest}) and throw
   * `P2_MANIFEST_LINT` when they find errors. Use when a person submits a manifest; leave off
   * when reading what is already stored. @default false
   */
  strict?: boolean;
  /** Where to report what P2 logged and worked around (underivable versions, bad durations). */
  logger?: ManifestLogger;
}

function decodeText(bytes: Uint8Array, source: string | undefined): string {
  let encoding = 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) encoding = 'utf-16le';
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) encoding = 'utf-16be';
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new ManifestError(
      ManifestErrorCode.ENCODING,
      'the manifest is not UTF-8 text (is it a binary file?)',
      {
        hint: 'manifests are YAML text; check that you passed the right file',
        cause,
        details: source ? { source } : {},
      },
    );
  }
}

/** libyaml accepts TAB, LF, CR, printable ASCII, NEL and printable Unicode only. */
const FORBIDDEN_CHARACTER =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ufffe\uffff]/;

function assertNoControlCharacters(text: string, source: string | undefined): void {
  const bad = FORBIDDEN_CHARACTER.exec(text);
  if (!bad) return;
  const before = text.slice(0, bad.index);
  const line = before.split('\n').length;
  const column = bad.index - before.lastIndexOf('\n');
  const code = `U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new ManifestError(
    ManifestErrorCode.ENCODING,
    `the manifest contains the control character ${code} at line ${line}, column ${column}; YAML does not allow it`,
    {
      hint: 'manifests are YAML text; check that you passed the right file',
      details: { line, column, ...(source ? { source } : {}) },
    },
  );
}

/**
 * Parses a pod manifest: plain YAML or a clearsigned document (the signature is split off, not
 * verified; see {@link splitClearsigned}). Reading is lenient as P2's was: YAML 1.1 scalars,
 * duplicate keys last-wins, unknown keys kept but ignored.
 *
 * @throws ManifestError with one of the codes `P2_MANIFEST_TOO_LARGE`, `P2_MANIFEST_ENCODING`,
 * `P2_MANIFEST_YAML_SYNTAX`, `P2_MANIFEST_NOT_A_MAPPING`, `P2_MANIFEST_WRONG_TYPE`,
 * `P2_MANIFEST_INVALID_VALUE`, `P2_MANIFEST_TOO_COMPLEX`, `P2_MANIFEST_MISSING_ID`,
 * `P2_MANIFEST_MISSING_LAUNCHABLE_TYPE`, `P2_MANIFEST_MISSING_LOCATION`,
 * `P2_MANIFEST_LOCATION_AND_VERSION`, `P2_MANIFEST_DOCKER_MISSING_IMAGE`,
 * `P2_MANIFEST_DOCKER_MISSING_SHA256`, and with `strict`, `P2_MANIFEST_LINT`.
 *
 * @example
 * ```ts
 * const m = parseManifest('id: hello\nlaunchables: {}\n');
 * m.sha(); // '…'
 * ```
 */
export function parseManifest(
  input: string | Uint8Array,
  options: ParseManifestOptions = {},
): Manifest {
  const { source } = options;
  const raw = typeof input === 'string' ? encoder.encode(input) : new Uint8Array(input);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  if (raw.byteLength > maxBytes) {
    throw new ManifestError(
      ManifestErrorCode.TOO_LARGE,
      `the manifest is ${raw.byteLength} bytes; at most ${maxBytes} bytes are accepted`,
      {
        hint: 'large data belongs in the artifact, not in the manifest config',
        details: {
          expected: `at most ${maxBytes} bytes`,
          found: `${raw.byteLength} bytes`,
          ...(source ? { source } : {}),
        },
      },
    );
  }
  const text = typeof input === 'string' ? input : decodeText(raw, source);
  assertNoControlCharacters(text, source);
  const clearsigned = splitClearsigned(text);
  const { root, diagnostics } = readYaml(clearsigned ? clearsigned.yamlText : text, source);
  const document = root.kind === 'null' ? map([]) : root;
  if (document.kind !== 'map') {
    const found =
      document.kind === 'seq' ? 'a sequence' : `the scalar ${describeFound(toPlain(document))}`;
    throw new ManifestError(
      ManifestErrorCode.NOT_A_MAPPING,
      `Could not read pod manifest: expected a mapping with id, launchables and config, found ${found}`,
      {
        hint: 'a manifest starts with `id: <pod id>`',
        details: { path: '', expected: 'a mapping', found, ...(source ? { source } : {}) },
      },
    );
  }
  assertSchema(jsonView(document), source, (path) => {
    const offset = diagnostics.offsets.get(path);
    if (offset === undefined) return undefined;
    const pos = diagnostics.lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  });
  const data = decodeManifest(document, diagnostics.keyCollisions);
  validateP2Rules(data, source);
  // P2 kept the last of such keys without a word; we keep its result and say so.
  for (const { path, keys } of diagnostics.keyCollisions) {
    options.logger?.warn(
      { path, keys, ...(source ? { source } : {}) },
      `${path}: the keys ${keys.join(', ')} are one key once read as YAML 1.1; only the last one is kept`,
    );
  }
  const manifest = new Manifest(data, raw, {
    ...(clearsigned ? { clearsigned } : {}),
    ...(source ? { source } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    diagnostics,
  });
  if (options.strict) assertLintClean(manifest);
  return manifest;
}
