import { expect, it } from 'vitest';
import { entryView } from './index.js';

const entry = (value: Uint8Array, session?: string) => ({
  key: 'k',
  value,
  flags: 0,
  session,
  lockIndex: 0,
  createIndex: 3,
  modifyIndex: 7,
});

it('shows UTF-8 values as text and other bytes as base64, a session only when held', () => {
  expect(entryView(entry(new TextEncoder().encode('héllo')))).toEqual({
    key: 'k',
    value: 'héllo',
    flags: 0,
    createIndex: 3,
    modifyIndex: 7,
  });
  expect(entryView(entry(new Uint8Array([0xff, 0x00]), 's1'))).toEqual({
    key: 'k',
    valueBase64: '/wA=',
    flags: 0,
    session: 's1',
    createIndex: 3,
    modifyIndex: 7,
  });
});
