import { expect, it } from 'vitest';
import { checkManifest, parseManifest } from './index.js';

const APP = `https://example.com/app_${'a'.repeat(40)}.tar.gz`;

it('summarises a valid manifest: id, run-as, SHA, launchables with versions, health URL', () => {
  const manifest = parseManifest(
    `id: web\nrun_as: www\nstatus:\n  port: 8080\n  http: true\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\n`,
  );
  expect(checkManifest(manifest)).toEqual({
    valid: true,
    id: 'web',
    runAs: 'www',
    sha: manifest.sha(),
    signed: false,
    launchables: [{ id: 'app', type: 'hoist', version: 'a'.repeat(40), location: APP }],
    status: 'http://<node>:8080/_status',
    errors: [],
    warnings: [],
  });
});

it('is invalid with lint errors, and has no health URL without a status port', () => {
  const check = checkManifest(parseManifest('id: ../escape\n'));
  expect(check.valid).toBe(false);
  expect(check.errors.length).toBeGreaterThan(0);
  expect(check.status).toBeNull();
  expect(check.launchables).toEqual([]);
});
