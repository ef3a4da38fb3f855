/**
 * The preparer's `params:` (spec 02 §1.2): every value is a string parsed as P2's Go flags were —
 * booleans by `strconv.ParseBool`, integers by `strconv.ParseInt(s, 0, 64)` — then checked for a
 * value p2 can act on. A bad value is refused with the param's path.
 */
import { parseGoBool, parseGoInt } from '@p2/go';
import { PREPARER_PARAMS } from './keys.js';
import { invalid, type Raw } from './reader.js';

/** The params, typed, with P2's defaults. @internal */
export interface PreparerParams {
  healthcheckTimeoutSeconds: number;
  includePodIdArg: boolean;
  nestedCgroups: boolean;
  auditLogSqliteTtlSeconds: number;
  runcPath: string;
  healthRetryTimeSeconds: number;
  healthSessionTtlSeconds: number;
  healthWritesPerMinute: number;
  healthMaxBucketSize: number;
  healthResumeLimit: number;
  sessionRetrySeconds: number;
  sessionMaxRetrySeconds: number;
}

type IntSpec = {
  kind: 'int';
  field: keyof PreparerParams;
  fallback: number;
  min: number;
  max?: number;
  unit?: string;
};
type Spec =
  | IntSpec
  | { kind: 'bool'; field: keyof PreparerParams; fallback: boolean }
  | { kind: 'string'; field: keyof PreparerParams; fallback: string };

/** Consul's bounds on a session TTL (10 s to 24 h); other TTLs are refused by the store. */
const SESSION_TTL = { min: 10, max: 86_400 };

const SPECS: Record<string, Spec> = {
  healthcheck_timeout: {
    kind: 'int',
    field: 'healthcheckTimeoutSeconds',
    fallback: 5,
    min: 1,
    unit: 'seconds',
  },
  include_pod_id_arg: { kind: 'bool', field: 'includePodIdArg', fallback: false },
  nested_cgroups: { kind: 'bool', field: 'nestedCgroups', fallback: false },
  audit_log_sqlite_ttl: {
    kind: 'int',
    field: 'auditLogSqliteTtlSeconds',
    fallback: 259_200,
    min: 0,
    unit: 'seconds',
  },
  runc_path: { kind: 'string', field: 'runcPath', fallback: '/usr/local/bin/runc' },
  health_retry_time_sec: {
    kind: 'int',
    field: 'healthRetryTimeSeconds',
    fallback: 5,
    min: 0,
    unit: 'seconds',
  },
  health_session_ttl_sec: {
    kind: 'int',
    field: 'healthSessionTtlSeconds',
    fallback: 15,
    ...SESSION_TTL,
    unit: 'seconds (a session TTL Consul accepts)',
  },
  health_writes_per_minute: { kind: 'int', field: 'healthWritesPerMinute', fallback: 4, min: 1 },
  health_max_bucket_size: { kind: 'int', field: 'healthMaxBucketSize', fallback: 16, min: 1 },
  health_resume_limit: {
    kind: 'int',
    field: 'healthResumeLimit',
    fallback: 4,
    min: 0,
    unit: 'refill periods',
  },
  session_retry_seconds: {
    kind: 'int',
    field: 'sessionRetrySeconds',
    fallback: 10,
    min: 1,
    unit: 'seconds',
  },
  session_max_retry_seconds: {
    kind: 'int',
    field: 'sessionMaxRetrySeconds',
    fallback: 300,
    min: 1,
    unit: 'seconds',
  },
};

function expected(spec: IntSpec): string {
  const range = spec.max === undefined ? `≥ ${spec.min}` : `from ${spec.min} to ${spec.max}`;
  return `an integer ${range}${spec.unit ? ` (${spec.unit})` : ''} as Go's flag package reads it`;
}

/**
 * Parses `params:`: unknown names and values Go's flags (or p2) would refuse are errors naming
 * `preparer.params.<name>`.
 * @throws PreparerConfigError `P2_PREPARER_CONFIG_INVALID`
 * @internal
 */
export function parseParams(
  raw: Raw,
  where: string,
): { text: Record<string, string>; params: PreparerParams } {
  const text: Record<string, string> = {};
  const params = Object.fromEntries(
    Object.values(SPECS).map((spec) => [spec.field, spec.fallback]),
  ) as unknown as PreparerParams;
  for (const [name, value] of Object.entries(raw)) {
    const path = `params.${name}`;
    const spec = Object.hasOwn(PREPARER_PARAMS, name) ? SPECS[name] : undefined;
    if (spec === undefined)
      throw invalid(where, path, `one of ${Object.keys(PREPARER_PARAMS).join(', ')}`, name);
    if (!['string', 'number', 'boolean'].includes(typeof value))
      throw invalid(where, path, 'a string (P2 params are flag values)', value);
    const flag = String(value);
    text[name] = flag;
    if (spec.kind === 'string') {
      Object.assign(params, { [spec.field]: flag });
    } else if (spec.kind === 'bool') {
      const parsed = parseGoBool(flag);
      if (parsed === undefined)
        throw invalid(where, path, 'a boolean as Go reads it (true, false, 1, 0, t, f, …)', value);
      Object.assign(params, { [spec.field]: parsed });
    } else {
      const parsed = parseGoInt(flag);
      if (
        parsed === undefined ||
        parsed < spec.min ||
        (spec.max !== undefined && parsed > spec.max)
      )
        throw invalid(where, path, expected(spec), value);
      Object.assign(params, { [spec.field]: parsed });
    }
  }
  if (params.sessionMaxRetrySeconds < params.sessionRetrySeconds)
    throw invalid(
      where,
      'params.session_max_retry_seconds',
      `at least params.session_retry_seconds (${params.sessionRetrySeconds})`,
      text.session_max_retry_seconds ?? String(params.sessionMaxRetrySeconds),
    );
  return { text, params };
}
