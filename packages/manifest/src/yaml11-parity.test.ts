/**
 * Manifests read exactly as P2 read them: yaml.v2 (2016) decoding YAML 1.1 into typed Go fields.
 * A Go `string` field (and a `map[string]string` key or value) receives a scalar's source text
 * (null: ""); `config` (`map[interface{}]interface{}`) holds resolved values, so `Y` there is the key
 * `true`. Differently written keys that became one key are reported, never dropped silently.
 */
import { describe, expect, it } from 'vitest';
import { lintManifest, parseManifest } from './index.js';

const APP = `https://a/app_${'a'.repeat(40)}.tar.gz`;
const hoist = (extra: string): string =>
  `id: p\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\n${extra}`;

function warnings(text: string) {
  const logged: Array<{ details: Record<string, unknown>; message: string }> = [];
  const manifest = parseManifest(text, {
    logger: { warn: (details, message) => logged.push({ details, message }) },
  });
  return { manifest, logged };
}

describe('YAML 1.1 parity with P2', () => {
  it('an env var named Y keeps its name next to y (P2: map[string]string keys are text)', () => {
    const { manifest, logged } = warnings(hoist('    env:\n      Y: "1"\n      y: "2"\n'));
    expect(manifest.launchables.app?.env).toEqual({ Y: '1', y: '2' });
    expect(manifest.canonicalYaml()).toContain('    env:\n      "Y": "1"\n      "y": "2"\n');
    expect(logged).toEqual([]);
    expect(parseManifest(manifest.canonicalYaml()).sha()).toBe(manifest.sha());
    const rules = lintManifest(manifest).warnings.map((w) => `${w.rule} ${w.path}`);
    expect(rules).toContain('yaml11-ambiguous launchables.app.env.Y');
    expect(rules).toContain('yaml11-ambiguous launchables.app.env.y');
  });

  it('env keys 1 and "1" are one Go string: the last wins, and it is logged and linted', () => {
    const { manifest, logged } = warnings(
      hoist('    env:\n      1: a\n      "1": b\n      01: c\n'),
    );
    expect(manifest.launchables.app?.env).toEqual({ '1': 'b', '01': 'c' });
    expect(logged).toHaveLength(1);
    expect(logged[0]?.details).toMatchObject({ path: 'launchables.app.env.1', keys: ['1', '"1"'] });
    const errors = lintManifest(manifest).errors.filter((e) => e.rule === 'key-collision');
    expect(errors.map((e) => e.path)).toEqual(['launchables.app.env.1']);
  });

  it('config keys Y, y and true are one key true (P2: interface{} keys are resolved values)', () => {
    const { manifest, logged } = warnings('id: p\nconfig:\n  Y: 1\n  y: 2\n  n: 3\n  010: 4\n');
    expect(manifest.canonicalYaml()).toBe(
      'id: p\nlaunchables: {}\nconfig:\n  false: 3\n  true: 2\n  8: 4\n',
    );
    expect(logged.map((l) => l.details.keys)).toEqual([['Y', 'y']]);
    const lint = lintManifest(manifest);
    expect(lint.errors.map((e) => `${e.rule} ${e.path}`)).toEqual(['key-collision config.y']);
    expect(lint.warnings.map((w) => w.path)).toEqual(
      expect.arrayContaining(['config.Y', 'config.y', 'config.n', 'config.010']),
    );
  });

  it('location: 1.0 is accepted and keeps its text (P2: a Go string field gets the source text)', () => {
    const manifest = parseManifest(
      'id: p\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: 1.0\n    digest_location: 0x1F\n    digest_signature_location: yes\n',
    );
    expect(manifest.launchables.app).toMatchObject({
      location: '1.0',
      digestLocation: '0x1F',
      digestSignatureLocation: 'yes',
    });
    expect(manifest.canonicalYaml()).toContain(
      '    digest_location: "0x1F"\n    digest_signature_location: "yes"\n',
    );
    expect(manifest.canonicalYaml()).toContain('    location: "1.0"\n');
  });

  it('every string field keeps a numeric, boolean or null-looking scalar as written', () => {
    const manifest = parseManifest(
      [
        'id: 010',
        'run_as: on',
        'launchables:',
        '  1.0:',
        '    launchable_type: hoist',
        '    version: {id: 1.10, artifact_name: 1e3, tags: {Y: 0o10}}',
        '    restart_timeout: 1_000',
        '    restart_policy: off',
        '    entry_points: [+1, -0]',
        '  2001-12-14:',
        '    launchable_type: docker',
        '    image: {name: .inf, sha256: 12345}',
        '    entrypoint: [~, .nan]',
        'status: {path: 0b101}',
        'artifact_registry: 12:30:45',
        'node_requirements: {N: ~, ~: y}',
        '',
      ].join('\n'),
    );
    expect(manifest.id).toBe('010');
    expect(manifest.declaredRunAs).toBe('on');
    expect(manifest.artifactRegistry).toBe('12:30:45');
    expect(manifest.nodeRequirements).toEqual({ N: '', '': 'y' });
    expect(manifest.statusCheck()).toBeUndefined();
    expect(manifest.data.status.path).toBe('0b101');
    expect(manifest.launchables['1.0']).toMatchObject({
      version: { id: '1.10', artifactName: '1e3', tags: { Y: '0o10' } },
      restartTimeout: '1_000',
      restartPolicy: 'off',
      entryPoints: ['+1', '-0'],
    });
    expect(manifest.launchables['2001-12-14']).toMatchObject({
      image: { name: '.inf', sha256: '12345' },
      entrypoint: ['', '.nan'],
    });
    expect(parseManifest(manifest.canonicalYaml()).sha()).toBe(manifest.sha());
  });

  it('a mapping in a string field is still refused, as P2 refused it', () => {
    expect(() => parseManifest(hoist('    restart_timeout: {a: 1}\n'))).toThrow(
      /expected a string/,
    );
  });
});
