import { describe, expect, it } from 'vitest';
import { parseStatus } from './index.js';

function status(fields: {
  unixSeconds: number;
  nanos: number;
  pid: number;
  paused: number;
  want: string;
  term: number;
  state: number;
}) {
  const buffer = new Uint8Array(20);
  const view = new DataView(buffer.buffer);
  view.setBigUint64(0, 4611686018427387914n + BigInt(fields.unixSeconds));
  view.setUint32(8, fields.nanos);
  view.setUint32(12, fields.pid, true);
  buffer[16] = fields.paused;
  buffer[17] = fields.want.charCodeAt(0);
  buffer[18] = fields.term;
  buffer[19] = fields.state;
  return buffer;
}

describe('parseStatus', () => {
  it('decodes a running service (bytes captured from runsv: pid 10652, want up, run)', () => {
    const captured = Uint8Array.from([
      0x40, 0, 0, 0, 0x6b, 0x05, 0xb7, 0xb6, 0x0b, 0xdd, 0xba, 0x34, 0x9c, 0x29, 0, 0, 0, 0x75, 0,
      1,
    ]);
    const parsed = parseStatus(captured);
    expect(parsed).toMatchObject({
      state: 'run',
      pid: 10652,
      want: 'up',
      paused: false,
      termSent: false,
    });
    expect(parsed.since.toISOString()).toBe(
      new Date((0x6b05b7b6 - 10) * 1000 + Math.floor(0x0bddba34 / 1e6)).toISOString(),
    );
  });

  it('decodes down, finish, paused and term flags', () => {
    expect(
      parseStatus(
        status({
          unixSeconds: 1_700_000_000,
          nanos: 5e8,
          pid: 0,
          paused: 0,
          want: 'd',
          term: 0,
          state: 0,
        }),
      ),
    ).toEqual({
      state: 'down',
      pid: undefined,
      since: new Date(1_700_000_000_500),
      want: 'down',
      paused: false,
      termSent: false,
    });
    expect(
      parseStatus(
        status({ unixSeconds: 1, nanos: 0, pid: 7, paused: 1, want: 'u', term: 1, state: 2 }),
      ),
    ).toMatchObject({
      state: 'finish',
      pid: 7,
      paused: true,
      termSent: true,
    });
  });

  it('refuses anything but 20 bytes', () => {
    expect(() => parseStatus(new Uint8Array(18))).toThrow(
      expect.objectContaining({ code: 'P2_RUNIT_BAD_STATUS' }),
    );
  });
});
