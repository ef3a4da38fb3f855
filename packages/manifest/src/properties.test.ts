/** Properties that must hold for manifests beyond the golden vectors. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ManifestBuilder, parseManifest } from './index.js';

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(
    'yes',
    'off',
    '010',
    '1:30',
    '',
    ' x',
    'a: b',
    '- x',
    'x\ny',
    '#',
    '~',
    'null',
    '0x1F',
    '1e3',
  ),
);
const id = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
const launchable = fc.record({
  launchableType: fc.constant('hoist'),
  location: fc.webUrl(),
  restartTimeout: fc.constantFrom('', '90s', '1m'),
  restartPolicy: fc.constantFrom('', 'always', 'never'),
  env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,8}$/), text, { maxKeys: 4 }),
  entryPoints: fc.array(fc.constantFrom('bin/launch', 'bin/worker', 'bin/x y'), { maxLength: 2 }),
  cgroup: fc.record({ cpus: fc.nat(64), memory: fc.nat(2 ** 40) }),
  noHaltOnUpdate: fc.boolean(),
});
const config = fc.dictionary(
  fc.string({ maxLength: 10 }),
  fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 3 })),
  { maxKeys: 6 },
);

describe('manifest properties', () => {
  it('a built manifest reads back with the same SHA and the same model', () => {
    fc.assert(
      fc.property(
        id,
        fc.dictionary(id, launchable, { maxKeys: 3 }),
        config,
        fc.nat(65535),
        (podId, launchables, cfg, port) => {
          const builder = new ManifestBuilder().setId(podId).setConfig(cfg).setStatusPort(port);
          for (const [lid, l] of Object.entries(launchables)) builder.setLaunchable(lid, l);
          const built = builder.build();
          const read = parseManifest(built.raw);
          expect(read.sha()).toBe(built.sha());
          expect(read.config).toEqual(built.config);
          expect(read.launchables).toEqual(built.launchables);
          expect(read.statusCheck()).toEqual(built.statusCheck());
        },
      ),
      { numRuns: 150 },
    );
  });

  it('key order, flow vs block style and comments do not change the SHA', () => {
    fc.assert(
      fc.property(config, fc.boolean(), (cfg, flow) => {
        const doc = { config: cfg, id: 'p', launchables: {} };
        const reversed = {
          launchables: {},
          id: 'p',
          config: Object.fromEntries(Object.entries(cfg).reverse()),
        };
        const a = parseManifest(new ManifestBuilder().setId('p').setConfig(cfg).build().raw);
        // The `yaml` package writes YAML 1.2: quote everything YAML 1.1 would read differently.
        const other = stringify(flow ? doc : reversed, {
          defaultStringType: 'QUOTE_DOUBLE',
          defaultKeyType: 'QUOTE_DOUBLE',
          collectionStyle: flow ? 'flow' : 'block',
        });
        const b = parseManifest(`# a comment\n${other}`);
        expect(b.sha()).toBe(a.sha());
      }),
      { numRuns: 150 },
    );
  });
});
