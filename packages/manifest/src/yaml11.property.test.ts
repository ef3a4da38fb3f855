/**
 * Property: manifests with YAML 1.1 edge scalars in every position read as P2 read them. Generated
 * as YAML text (plain and quoted scalars) so the reader, not a builder, sees them. Asserts: P2
 * accepted it so we do; string fields keep their source text (null forms: ""); nothing is dropped
 * (every key written is in the result or reported as merged into another); the SHA is stable
 * under re-emission; the lint runs and flags ambiguous env keys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatFloat32 } from './emit.js';
import { lintManifest, parseManifest } from './index.js';
import { keyIdentity, pathJoin, resolvePlainScalar } from './yaml11.js';

const NULL_WORDS = new Set(['', '~', 'null', 'Null', 'NULL']);
/** Plain scalars YAML 1.1 (yaml.v2) types, or that other YAML readers type, plus ordinary text. */
const EDGE = [
  'y',
  'Y',
  'yes',
  'Yes',
  'YES',
  'n',
  'N',
  'no',
  'NO',
  'on',
  'On',
  'off',
  'OFF',
  'true',
  'False',
  '~',
  'null',
  'Null',
  '',
  '010',
  '0o10',
  '0x1F',
  '0b101',
  '1_000',
  '1e3',
  '1E3',
  '.inf',
  '-.inf',
  '.nan',
  '+1',
  '-0',
  '0',
  '0.0',
  '-0.0',
  '1.0',
  '1.10',
  '0.123456789',
  '2001-12-14',
  '12:30:45',
  '1:30',
  '9223372036854775808',
  '123456789012345678901234567890',
  '.5',
  '0x',
  'hello',
  'a b',
];
const NON_NULL = EDGE.filter((e) => !NULL_WORDS.has(e));

/** A scalar as written: plain, or double-quoted (always a string). */
interface Written {
  text: string;
  quoted: boolean;
}
const written = (pool: string[]): fc.Arbitrary<Written> =>
  fc.record({ text: fc.constantFrom(...pool), quoted: fc.boolean() });
const plain = (pool: string[]): fc.Arbitrary<Written> =>
  fc.constantFrom(...pool).map((text) => ({ text, quoted: false }));

const yamlOf = (w: Written): string => (w.quoted ? JSON.stringify(w.text) : w.text);
/** What a Go string field receives. */
const goString = (w: Written): string => (!w.quoted && NULL_WORDS.has(w.text) ? '' : w.text);
/** Keys the reader treats as written identically (same resolved type, same text): duplicates. */
const rawKey = (w: Written): string =>
  w.quoted ? `str:${w.text}` : `${resolvePlainScalar(w.text).kind}:${w.text}`;
/** How yaml.v2 writes a `config` key back (int 0 and float 0.0 are different keys, both `0`). */
function emittedKey(w: Written): string {
  const node = w.quoted ? ({ kind: 'str', value: w.text } as const) : resolvePlainScalar(w.text);
  if (node.kind === 'float') return formatFloat32(node.value);
  if (node.kind === 'int' || node.kind === 'bool') return String(node.value);
  return node.kind === 'null' ? 'null' : `str:${w.text}`;
}
/** What a `map[interface{}]…` key is. */
const typedKey = (w: Written): string =>
  keyIdentity(w.quoted ? { kind: 'str', value: w.text } : resolvePlainScalar(w.text));

const keys = written(NON_NULL);
const pairs = fc.array(fc.tuple(keys, written(EDGE)), { maxLength: 5 });
const launchable = fc.record({
  location: written(NON_NULL),
  restartTimeout: written(EDGE),
  restartPolicy: written(EDGE),
  digestLocation: written(EDGE),
  artifactName: written(EDGE),
  tags: pairs,
  env: pairs,
  entryPoints: fc.array(written(NON_NULL), { maxLength: 3 }),
});
const manifestArb = fc.record({
  id: written(NON_NULL),
  runAs: written(EDGE),
  launchables: fc.uniqueArray(fc.tuple(plain(NON_NULL), launchable), {
    maxLength: 3,
    selector: ([id]) => id.text,
  }),
  config: fc.array(
    fc.tuple(keys, fc.oneof(written(EDGE), fc.array(written(EDGE), { maxLength: 3 }))),
    { maxLength: 6 },
  ),
  statusPath: written(EDGE),
  artifactRegistry: written(EDGE),
  nodeRequirements: pairs,
});
type Generated = typeof manifestArb extends fc.Arbitrary<infer T> ? T : never;

const block = (indent: string, entries: Array<[Written, string]>): string =>
  entries.length === 0
    ? ' {}\n'
    : `\n${entries.map(([k, v]) => `${indent}${yamlOf(k)}: ${v}\n`).join('')}`;

function toYaml(g: Generated): string {
  const pad = (n: number) => ' '.repeat(n);
  const mapOf = (indent: number, list: Array<[Written, Written]>) =>
    block(
      pad(indent),
      list.map(([k, v]) => [k, yamlOf(v)]),
    );
  let out = `id: ${yamlOf(g.id)}\nrun_as: ${yamlOf(g.runAs)}\nlaunchables:`;
  out += g.launchables.length === 0 ? ' {}\n' : '\n';
  for (const [lid, l] of g.launchables) {
    out += `  ${yamlOf(lid)}:\n    launchable_type: hoist\n    location: ${yamlOf(l.location)}\n`;
    out += `    restart_timeout: ${yamlOf(l.restartTimeout)}\n    restart_policy: ${yamlOf(l.restartPolicy)}\n`;
    out += `    digest_location: ${yamlOf(l.digestLocation)}\n`;
    out += `    version:\n      artifact_name: ${yamlOf(l.artifactName)}\n      tags:${mapOf(8, l.tags)}`;
    out += `    env:${mapOf(6, l.env)}`;
    out += `    entry_points:${l.entryPoints.length === 0 ? ' []\n' : `\n${l.entryPoints.map((e) => `    - ${yamlOf(e)}\n`).join('')}`}`;
  }
  out += `config:${block(
    '  ',
    g.config.map(([k, v]) => [
      k,
      Array.isArray(v)
        ? `[${v.map((item) => (yamlOf(item) === '' ? '~' : yamlOf(item))).join(', ')}]`
        : yamlOf(v),
    ]),
  )}`;
  out += `status:\n  path: ${yamlOf(g.statusPath)}\nartifact_registry: ${yamlOf(g.artifactRegistry)}\n`;
  out += `node_requirements:${mapOf(2, g.nodeRequirements)}`;
  return out;
}

/** Expected `map[string]string`: last value per key text; groups of several written keys. */
function expectStringMap(
  actual: Readonly<Record<string, string>>,
  input: Array<[Written, Written]>,
  path: string,
  collisions: ReadonlyArray<{ path: string; keys: string[] }>,
): void {
  const expected: Record<string, string> = {};
  const groups = new Map<string, number>();
  for (const [k, v] of input) {
    expected[goString(k)] = goString(v);
    groups.set(goString(k), (groups.get(goString(k)) ?? 0) + 1);
  }
  expect({ ...actual }).toEqual(expected);
  for (const [k, count] of groups) {
    // A key written twice the same way is a plain duplicate (linted as such); otherwise reported.
    const spellings = new Set(input.filter(([w]) => goString(w) === k).map(([w]) => rawKey(w)));
    if (count > 1 && spellings.size > 1)
      expect(collisions.map((c) => c.path)).toContain(pathJoin(path, k));
  }
}

describe('YAML 1.1 edge scalars in every position (property)', () => {
  it('read as P2 did: text kept, nothing dropped silently, SHA stable', () => {
    fc.assert(
      fc.property(manifestArb, (g) => {
        const text = toYaml(g);
        const m = parseManifest(text);
        const collisions = m.diagnostics?.keyCollisions ?? [];
        expect(m.id).toBe(goString(g.id));
        expect(m.declaredRunAs).toBe(goString(g.runAs));
        expect(m.data.status.path).toBe(goString(g.statusPath));
        expect(m.artifactRegistry).toBe(goString(g.artifactRegistry));
        expectStringMap(m.nodeRequirements, g.nodeRequirements, 'node_requirements', collisions);
        expect(Object.keys(m.launchables).sort()).toEqual(
          g.launchables.map(([l]) => l.text).sort(),
        );
        for (const [lid, l] of g.launchables) {
          const got = m.launchables[lid.text];
          const at = pathJoin('launchables', lid.text);
          expect(got).toMatchObject({
            location: goString(l.location),
            restartTimeout: goString(l.restartTimeout),
            restartPolicy: goString(l.restartPolicy),
            digestLocation: goString(l.digestLocation),
            version: { artifactName: goString(l.artifactName) },
            entryPoints: l.entryPoints.map(goString),
          });
          expectStringMap(got?.env ?? {}, l.env, `${at}.env`, collisions);
          expectStringMap(got?.version.tags ?? {}, l.tags, `${at}.version.tags`, collisions);
          const warned = new Set(lintManifest(m).warnings.map((w) => w.path));
          for (const [k] of l.env) {
            if (!k.quoted && resolvePlainScalar(k.text).kind === 'bool')
              expect(warned).toContain(pathJoin(`${at}.env`, k.text));
          }
        }
        // config is map[interface{}]interface{}: keys by resolved value; merged ones reported.
        const identities = new Set(g.config.map(([k]) => typedKey(k)));
        const configEntries = m.data.config.kind === 'map' ? m.data.config.entries : [];
        expect(configEntries.length).toBe(identities.size);
        const merged = g.config.length - new Set(g.config.map(([k]) => rawKey(k))).size;
        if (merged > 0) expect(m.diagnostics?.duplicateKeys.length).toBeGreaterThan(0);
        const reported = collisions
          .filter((c) => /^config\.[^.[]+$|^config\."/.test(c.path))
          .reduce((n, c) => n + c.keys.length - 1, 0);
        expect(reported + merged).toBe(g.config.length - identities.size);
        // Re-emission is a fixed point and keeps the SHA. Except, in P2 too, a config float -0.0:
        // yaml.v2 writes it `-0`, which reads back as the integer 0 (a different SHA).
        const negativeZero = (w: Written | Written[]) =>
          [w].flat().some((item) => !item.quoted && item.text === '-0.0');
        if (g.config.some(([k, v]) => negativeZero(k) || negativeZero(v))) return;
        // Nor, in P2 too, config keys of different types written alike (`0` and `0.0` are both
        // written `0`; read back they are one key).
        const distinct = new Map(g.config.map(([k]) => [typedKey(k), emittedKey(k)]));
        if (new Set(distinct.values()).size < distinct.size) return;
        const again = parseManifest(m.canonicalYaml());
        expect(again.canonicalYaml()).toBe(m.canonicalYaml());
        expect(again.sha()).toBe(m.sha());
      }),
      { numRuns: 200 },
    );
  });
});
