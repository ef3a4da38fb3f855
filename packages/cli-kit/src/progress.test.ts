import { describe, expect, it } from 'vitest';
import { liveLine, progressBar, progressLine } from './progress.js';

describe('progress', () => {
  it('draws a bar with percentage and sizes when the total is known', () => {
    const line = progressLine(
      'app',
      { bytes: 512 * 1024, total: 1024 * 1024, bytesPerSecond: 0, attempt: 1, done: false },
      10,
    );
    expect(line).toBe('app [#####.....]  50% 512.0 KiB/1.0 MiB');
    expect(
      progressLine('app', {
        bytes: 10,
        total: undefined,
        bytesPerSecond: 5,
        attempt: 2,
        done: false,
      }),
    ).toBe('app 10 B 5 B/s (attempt 2)');
  });

  it('redraws in place, throttled, and ends the line when done', () => {
    let out = '';
    const bar = progressBar((t) => {
      out += t;
    });
    const p = { bytes: 1, total: 4, bytesPerSecond: 0, attempt: 1, done: false };
    bar.update('a', p);
    bar.update('a', { ...p, bytes: 2 }); // within 100 ms: skipped
    bar.update('a', { ...p, bytes: 4, done: true });
    expect(out.match(/\r\u001b\[2K/g)).toHaveLength(2);
    expect(out.endsWith('100% 4 B/4 B\n')).toBe(true);
  });

  it('a live line prints whole lines above itself and redraws itself after them', () => {
    let out = '';
    const line = liveLine((t) => {
      out += t;
    });
    line.draw('1/3');
    line.print('n1 healthy');
    line.draw('2/3');
    line.done();
    expect(out).toBe('\r\u001b[2K1/3\r\u001b[2Kn1 healthy\n1/3\r\u001b[2K2/3\n');
  });
});
