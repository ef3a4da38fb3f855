/**
 * Reading a typical pod manifest the way the preparer does on every intent change: parse (YAML 1.1
 * typing) + JSON Schema and P2 validation + the manifest SHA (canonical re-serialization + SHA-256).
 * Baseline, measured in the same run: the `yaml` package's plain parse of the same text plus a
 * SHA-256 of the raw bytes — the least any YAML reader that hashes could do.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { parseManifest } from '@p2/manifest';
import { measure, report } from '../harness.js';

// bench/ does not depend on `yaml` itself; borrow @p2/manifest's copy so both sides use one version.
const requireFromManifest = createRequire(
  new URL('../../../packages/manifest/package.json', import.meta.url),
);
const yaml = requireFromManifest('yaml') as { parse: (text: string) => unknown };

export async function run(): Promise<void> {
  const text = await readFile(new URL('../../../examples/hello.yaml', import.meta.url), 'utf8');
  const bytes = new TextEncoder().encode(text);
  const options = { runs: 2000, warmup: 200 };

  const baseline = await measure(
    'yaml.parse + sha256(raw)',
    () => {
      yaml.parse(text);
      createHash('sha256').update(bytes).digest('hex');
    },
    options,
  );
  const parseOnly = await measure(
    'parseManifest (parse + validate)',
    () => parseManifest(bytes),
    options,
  );
  const full = await measure(
    'parseManifest + sha() (parse + validate + digest)',
    () => parseManifest(bytes).sha(),
    options,
  );
  const digestOnly = (() => {
    const manifest = parseManifest(bytes);
    return measure(
      'canonical emit + sha256 of a parsed manifest',
      () => {
        // A fresh copy so the cached SHA is not reused.
        manifest.toBuilder().build().sha();
      },
      options,
    );
  })();
  report(`manifest: ${text.length}-byte examples/hello.yaml`, baseline, [
    parseOnly,
    full,
    await digestOnly,
  ]);
}
