/**
 * The pod manifest's JSON Schema (draft 2020-12 subset understood by ajv), describing what P2's
 * lenient reader accepts after YAML 1.1 typing: string fields take any scalar (P2 used the text),
 * integer fields take numbers, booleans only booleans, URL fields only text, mappings may be null.
 * Each leaf carries `x-expected`, the words used in error messages.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { ManifestError, ManifestErrorCode } from './errors.js';
import { pathJoin } from './yaml11.js';

const text = { type: ['string', 'number', 'boolean', 'null'], 'x-expected': 'a string' } as const;
// A URL field is a Go string like any other: yaml.v2 gave it any scalar's source text (`1.0`).
const uri = { type: ['string', 'number', 'boolean', 'null'], 'x-expected': 'a URI' } as const;
const integer = { type: ['number', 'null'], 'x-expected': 'an integer' } as const;
const bool = { type: ['boolean', 'null'], 'x-expected': 'true or false' } as const;
const textMap = {
  type: ['object', 'null'],
  additionalProperties: text,
  'x-expected': 'a mapping of strings to strings',
} as const;
const textList = {
  type: ['array', 'null'],
  items: text,
  'x-expected': 'a list of strings',
} as const;
const byteCount = {
  type: ['number', 'string', 'null'],
  pattern: '^\\s*(-?[\\d.]+)\\s*([TGMKtgmk][Bb]?|[Bb]|)\\s*$',
  'x-expected': 'a byte count (an integer, or a number with a unit K, M, G or T such as 512M)',
} as const;
const cgroup = {
  type: ['object', 'null'],
  'x-expected': 'a mapping with cpus and memory',
  properties: { cpus: integer, memory: byteCount },
} as const;
const execHook = {
  type: ['object', 'null'],
  'x-expected': 'a mapping {exec: {command: [...]}}',
  properties: {
    exec: {
      type: ['object', 'null'],
      'x-expected': 'a mapping {command: [...]}',
      properties: { command: textList },
    },
  },
} as const;

/** JSON Schema of one launchable stanza (spec 01 §1.4). */
export const launchableSchema = {
  type: ['object', 'null'],
  'x-expected': 'a launchable stanza (a mapping)',
  properties: {
    launchable_type: text,
    digest_location: uri,
    digest_signature_location: uri,
    restart_timeout: text,
    cgroup,
    env: textMap,
    restart_policy: text,
    no_halt_on_update: bool,
    entry_points: textList,
    location: uri,
    version: {
      type: ['object', 'null'],
      'x-expected': 'a mapping with id, artifact_name and tags',
      properties: { artifact_name: text, id: text, tags: textMap },
    },
    image: {
      type: ['object', 'null'],
      'x-expected': 'a mapping with name and sha256',
      properties: { name: text, sha256: text },
    },
    entrypoint: textList,
    postStart: execHook,
    preStop: execHook,
  },
} as const;

/**
 * JSON Schema of a pod manifest as P2 reads it (spec 01 §1.2). Unknown keys are allowed (P2 ignored
 * them; we keep them).
 */
export const manifestSchema = {
  $id: 'https://p2.dev/schemas/pod-manifest.json',
  type: 'object',
  'x-expected': 'a mapping',
  properties: {
    id: text,
    run_as: text,
    launchables: {
      type: ['object', 'null'],
      'x-expected': 'a mapping of launchable ids to launchable stanzas',
      additionalProperties: launchableSchema,
    },
    config: { type: ['object', 'null'], 'x-expected': 'a mapping' },
    status_port: integer,
    status_http: bool,
    status: {
      type: ['object', 'null'],
      'x-expected': 'a mapping with http, path, port and localhost_only',
      properties: { http: bool, path: text, port: integer, localhost_only: bool },
    },
    resource_limits: {
      type: ['object', 'null'],
      'x-expected': 'a mapping with cgroup',
      properties: { cgroup },
    },
    readonly: bool,
    artifact_registry: uri,
    node_requirements: textMap,
    min_health_percentage: integer,
    termination_grace_period: integer,
  },
} as const;

// Compiled on first use, so importing the package (e.g. for `p2 --help`) stays cheap.
let compiled: ReturnType<Ajv['compile']> | undefined;
function validator(): ReturnType<Ajv['compile']> {
  compiled ??= new Ajv({ allErrors: true, strict: false, verbose: true }).compile(manifestSchema);
  return compiled;
}

/** Renders a value the way a person would have written it in YAML, for "found …". */
export function describeFound(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a sequence';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

const LIST_FIELDS = new Set(['entry_points', 'entrypoint', 'command']);

function instancePathToDotted(instancePath: string): string {
  let path = '';
  let previous = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path =
      /^\d+$/.test(segment) && LIST_FIELDS.has(previous)
        ? `${path}[${segment}]`
        : pathJoin(path, segment);
    previous = segment;
  }
  return path;
}

/**
 * Validates the JSON view of a manifest document against {@link manifestSchema}. Throws
 * `P2_MANIFEST_WRONG_TYPE` (or `P2_MANIFEST_INVALID_VALUE` for a malformed byte count) naming the
 * field, what was expected and what was found; `details.errors` lists every problem.
 */
export function assertSchema(
  json: unknown,
  source?: string,
  locate?: (path: string) => { line: number; column: number } | undefined,
): void {
  const validate = validator();
  if (validate(json)) return;
  const errors = (validate.errors ?? []).filter(
    (e: ErrorObject) => e.keyword === 'type' || e.keyword === 'pattern',
  );
  const problems = errors.map((e) => {
    const path = instancePathToDotted(e.instancePath);
    const expected = String(
      (e.parentSchema as Record<string, unknown> | undefined)?.['x-expected'] ?? e.message,
    );
    return { path, expected, found: describeFound(e.data), keyword: e.keyword };
  });
  const first = problems[0] ?? {
    path: '',
    expected: 'a valid manifest',
    found: 'something else',
    keyword: 'type',
  };
  const where = locate?.(first.path);
  const at = where ? ` (line ${where.line}, column ${where.column})` : '';
  throw new ManifestError(
    first.keyword === 'pattern' ? ManifestErrorCode.INVALID_VALUE : ManifestErrorCode.WRONG_TYPE,
    `${first.path || 'manifest'}: expected ${first.expected}, found ${first.found}${at}`,
    {
      hint:
        problems.length > 1 ? `${problems.length} fields are wrong; see details.errors` : undefined,
      details: {
        path: first.path,
        expected: first.expected,
        found: first.found,
        ...(where ? { line: where.line, column: where.column } : {}),
        ...(source ? { source } : {}),
        errors: problems.map(({ path, expected, found }) => ({ path, expected, found })),
      },
    },
  );
}
