import { parseManifest } from '@p2/manifest';
import { describe, expect, it } from 'vitest';
import { deploySteps } from './deploy.js';
import { diffJson, planDeploy } from './plan.js';

const pod = (version: string) =>
  parseManifest(
    `id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/app_${version.repeat(40)}.tar.gz\n`,
  );

describe('diffJson', () => {
  it('reports leaf changes, additions and removals by dotted path', () => {
    expect(diffJson({ a: { b: 1, c: [1] }, d: 1 }, { a: { b: 2, c: [1] }, e: 'x' })).toEqual([
      { path: 'a.b', from: 1, to: 2 },
      { path: 'd', from: 1 },
      { path: 'e', to: 'x' },
    ]);
    expect(diffJson({ a: [1, 2] }, { a: [1, 2] })).toEqual([]);
  });
});

describe('deploySteps', () => {
  it('is the preparer order, leaving out what the agent lacks or the caller turns off', () => {
    const hooks = { run: async () => undefined };
    const reality = { write: async () => undefined, converge: async () => undefined };
    const launched = async () => undefined;
    expect(deploySteps({ hooks, reality, launched }, pod('b'), undefined, pod('a'))).toEqual({
      action: 'update',
      steps: [
        'authorize',
        'before_install',
        'install',
        'after_install',
        'halt_previous',
        'before_launch',
        'launch',
        'record_launch',
        'write_reality',
        'after_launch',
      ],
    });
    expect(deploySteps({}, pod('b'), undefined, undefined).steps).toEqual([
      'authorize',
      'install',
      'launch',
    ]);
    expect(deploySteps({}, pod('b'), pod('a'), pod('a'), { haltPrevious: false }).steps).toEqual([
      'authorize',
      'install',
      'launch',
    ]);
  });

  it('leaves a running manifest alone unless asked to redeploy it', () => {
    expect(deploySteps({}, pod('a'), pod('a'), pod('a'))).toEqual({ action: 'none', steps: [] });
    expect(deploySteps({}, pod('a'), pod('a'), pod('a'), { whenRunning: 'redeploy' })).toEqual({
      action: 'update',
      steps: ['authorize', 'install', 'launch'],
    });
  });
});

describe('planDeploy', () => {
  it('takes its action from the deploy decision', async () => {
    const input = { node: 'h1', intent: undefined, podRoot: undefined };
    expect((await planDeploy({ ...input, manifest: pod('a'), reality: undefined })).action).toBe(
      'install',
    );
    expect((await planDeploy({ ...input, manifest: pod('a'), reality: pod('a') })).action).toBe(
      'none',
    );
    const update = await planDeploy({ ...input, manifest: pod('b'), reality: pod('a') });
    expect(update).toMatchObject({
      action: 'update',
      launchables: [
        { id: 'app', change: 'changed', service: 'restart', installed: null, download: true },
      ],
    });
  });
});
