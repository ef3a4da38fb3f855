import { KvError } from '@p2/kv';
import { parseManifest } from '@p2/manifest';
import { describe, expect, it } from 'vitest';
import { desiredFromIntent, workerKey } from './intent.js';

const record = (podId: string, text: string, uniqueKey?: string) => ({
  node: 'h1',
  podId,
  uniqueKey,
  raw: new TextEncoder().encode(text),
  modifyIndex: 1,
  manifest: () => parseManifest(text),
});

describe('desiredFromIntent', () => {
  it('turns readable entries into run, and everything else into invalid (never absent)', () => {
    const uuid = '0f3c2a8e-1b2c-4d5e-8f90-123456789abc';
    const desired = desiredFromIntent('h1', {
      pods: [
        record('web', 'id: web\n'),
        record('api', 'id: [broken'),
        record('db', 'id: cache\n'),
        record(uuid, 'id: worker\n', uuid),
      ],
      problems: [
        {
          key: `intent/h1/${uuid.replace('0f', '1f')}`,
          error: new KvError('P2_KV_BAD_RECORD', 'no manifest'),
        },
      ],
    });
    expect(
      desired.map((d) => [d.kind, d.kind === 'run' ? d.manifest.id : d.podId, d.uniqueKey]),
    ).toEqual([
      ['run', 'web', ''],
      ['invalid', 'api', ''],
      ['invalid', 'db', ''],
      ['run', 'worker', uuid],
      ['invalid', uuid.replace('0f', '1f'), uuid.replace('0f', '1f')],
    ]);
    const mismatch = desired[2];
    expect(mismatch?.kind === 'invalid' && mismatch.error).toContain('stored under intent/h1/db');
    expect(workerKey('worker', uuid)).toBe(`worker/${uuid}`);
  });

  it('refuses pod and launchable ids that could escape a directory or clash with another pod', () => {
    const desired = desiredFromIntent('h1', {
      pods: [
        record('a__b', 'id: a__b\n'),
        record(
          'evil',
          'id: evil\nlaunchables:\n  ../../../etc:\n    launchable_type: hoist\n    location: https://x/y_1.tar.gz\n',
        ),
      ],
      problems: [],
    });
    expect(desired.map((d) => d.kind)).toEqual(['invalid', 'invalid']);
    expect(desired[0]?.kind === 'invalid' && desired[0].error).toContain('"__"');
    expect(desired[1]?.kind === 'invalid' && desired[1].error).toContain(
      'launchable id "../../../etc"',
    );
  });
});
