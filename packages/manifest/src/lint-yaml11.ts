/**
 * Lint for YAML 1.1 ambiguities in a newly written manifest: plain scalars that YAML 1.1 reads as a
 * boolean, null or number (`Y`, `on`, `~`, `010`, `1.0`) where the writer probably meant text, and
 * keys that P2's typed decoding merged. Reading stays as P2's; this only tells the writer.
 */
import { formatFloat32 } from './emit.js';
import type { LintIssue } from './lint.js';
import type { YNode } from './nodes.js';
import type { ReadDiagnostics } from './yaml11.js';
import { pathJoin } from './yaml11.js';

/** Which Go type P2 decoded a position into. */
type Shape =
  | 'string'
  | 'typed'
  | 'config'
  | { readonly struct: Readonly<Record<string, Shape>> }
  | { readonly stringMap: Shape }
  | { readonly list: Shape };

const stringMap = { stringMap: 'string' } as const;
const list = { list: 'string' } as const;
const cgroup: Shape = { struct: { cpus: 'typed', memory: 'typed' } };
const hook: Shape = { struct: { exec: { struct: { command: list } } } };
const launchable: Shape = {
  struct: {
    launchable_type: 'string',
    digest_location: 'string',
    digest_signature_location: 'string',
    restart_timeout: 'string',
    cgroup,
    env: stringMap,
    restart_policy: 'string',
    no_halt_on_update: 'typed',
    entry_points: list,
    location: 'string',
    version: { struct: { artifact_name: 'string', id: 'string', tags: stringMap } },
    image: { struct: { name: 'string', sha256: 'string' } },
    entrypoint: list,
    postStart: hook,
    preStop: hook,
  },
};
const manifestShape: Shape = {
  struct: {
    id: 'string',
    run_as: 'string',
    launchables: { stringMap: launchable },
    config: 'config',
    status_port: 'typed',
    status_http: 'typed',
    status: {
      struct: { http: 'typed', path: 'string', port: 'typed', localhost_only: 'typed' },
    },
    resource_limits: { struct: { cgroup } },
    readonly: 'typed',
    artifact_registry: 'string',
    node_requirements: stringMap,
    min_health_percentage: 'typed',
    termination_grace_period: 'typed',
  },
};

/** How yaml.v2 re-emits a resolved scalar (what ends up in the canonical form and config file). */
function emittedText(node: YNode): string {
  switch (node.kind) {
    case 'bool':
      return String(node.value);
    case 'int':
      return node.value.toString();
    case 'float':
      return formatFloat32(node.value);
    default:
      return 'null';
  }
}

const KIND_WORDS = { bool: 'a boolean', int: 'an integer', float: 'a number', null: 'null' };

/** A plain scalar YAML 1.1 resolved to a non-string, with its source text; undefined otherwise. */
function resolvedPlain(node: YNode): { text: string; kind: keyof typeof KIND_WORDS } | undefined {
  if (node.kind === 'str' || node.kind === 'map' || node.kind === 'seq') return undefined;
  if (node.text === undefined || node.text === '') return undefined;
  return { text: node.text, kind: node.kind };
}

/** Config scalars whose re-emitted form is what the writer evidently meant. */
const UNSURPRISING_KEY = /^(?:true|false|True|False|TRUE|FALSE|~|null|Null|NULL)$/;
/** As values, the YAML 1.1 words (`yes`, `off`) are usually meant as booleans; single letters are not. */
const UNSURPRISING_VALUE =
  /^(?:true|false|True|False|TRUE|FALSE|yes|Yes|YES|no|No|on|On|ON|off|Off|OFF|~|null|Null|NULL)$/;

function configFinding(node: YNode, path: string, what: 'key' | 'value'): LintIssue | undefined {
  const found = resolvedPlain(node);
  const unsurprising = what === 'key' ? UNSURPRISING_KEY : UNSURPRISING_VALUE;
  if (found === undefined || unsurprising.test(found.text)) return undefined;
  const emitted = emittedText(node);
  if (emitted === found.text) return undefined;
  return {
    rule: 'yaml11-ambiguous',
    path,
    message: `${what} ${found.text} is ${KIND_WORDS[found.kind]} in YAML 1.1 and is written to the config file as ${emitted}; quote it ("${found.text}") if you meant the text`,
  };
}

function stringFinding(node: YNode, path: string, what: 'key' | 'value'): LintIssue | undefined {
  const found = resolvedPlain(node);
  // A number that any reader writes back as the same text (`8080`) is unambiguous enough.
  const sameText =
    (found?.kind === 'int' || found?.kind === 'float') &&
    emittedText(node) === found.text &&
    (node.kind !== 'float' || Number.isFinite(node.value));
  if (found === undefined || sameText) return undefined;
  const outcome =
    found.kind === 'null'
      ? 'P2 reads it as empty'
      : `P2 keeps the text here, but other YAML readers see ${KIND_WORDS[found.kind]}`;
  return {
    rule: 'yaml11-ambiguous',
    path,
    message: `${what} ${found.text} is ${KIND_WORDS[found.kind]} in YAML 1.1 (${outcome}); quote it ("${found.text}")`,
  };
}

/** A key as written (`~` stays `~`), for paths. */
function keySource(key: YNode): string {
  if (key.kind === 'str') return key.value;
  if (key.kind === 'map' || key.kind === 'seq') return '';
  return key.text ?? emittedText(key);
}

function walk(node: YNode, shape: Shape, path: string, out: LintIssue[]): void {
  const push = (issue: LintIssue | undefined): void => {
    if (issue) out.push(issue);
  };
  if (shape === 'typed') return;
  if (shape === 'string') {
    push(stringFinding(node, path, 'value'));
    return;
  }
  if (shape === 'config') {
    if (node.kind === 'seq') {
      for (const [i, item] of node.items.entries()) walk(item, shape, `${path}[${i}]`, out);
    } else if (node.kind === 'map') {
      for (const [key, value] of node.entries) {
        const at = pathJoin(path, keySource(key));
        push(configFinding(key, at, 'key'));
        walk(value, shape, at, out);
      }
    } else push(configFinding(node, path, 'value'));
    return;
  }
  if ('list' in shape) {
    if (node.kind === 'seq') {
      for (const [i, item] of node.items.entries()) walk(item, shape.list, `${path}[${i}]`, out);
    }
    return;
  }
  if (node.kind !== 'map') return;
  for (const [key, value] of node.entries) {
    const keyText = keySource(key);
    const at = pathJoin(path, keyText);
    if ('stringMap' in shape) {
      push(stringFinding(key, at, 'key'));
      walk(value, shape.stringMap, at, out);
    } else if (Object.hasOwn(shape.struct, keyText)) {
      walk(value, shape.struct[keyText] as Shape, at, out);
    }
  }
}

/**
 * Findings for `p2 manifest check`: YAML 1.1 ambiguities (warnings) and keys P2 merged into one
 * (errors, like a duplicate key: all but the last are lost).
 * @internal
 */
export function yaml11Findings(diagnostics: ReadDiagnostics | undefined): {
  errors: LintIssue[];
  warnings: LintIssue[];
} {
  const warnings: LintIssue[] = [];
  if (diagnostics?.root) walk(diagnostics.root, manifestShape, '', warnings);
  const errors = (diagnostics?.keyCollisions ?? []).map(({ path, keys }) => ({
    rule: 'key-collision',
    path,
    message: `the keys ${keys.join(', ')} are one key once read as YAML 1.1 (P2 kept only the last); quote them or rename`,
  }));
  return { errors, warnings };
}
