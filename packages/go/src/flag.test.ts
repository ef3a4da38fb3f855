import { describe, expect, it } from 'vitest';
import { parseGoBool, parseGoInt } from './index.js';

describe('parseGoBool (strconv.ParseBool)', () => {
  it.each([
    ['1', true],
    ['t', true],
    ['T', true],
    ['TRUE', true],
    ['true', true],
    ['True', true],
    ['0', false],
    ['f', false],
    ['F', false],
    ['FALSE', false],
    ['false', false],
    ['False', false],
  ])('%s is %s', (text, value) => {
    expect(parseGoBool(text)).toBe(value);
  });
  it.each(['yes', 'on', 'tRUE', ' true', 'true ', '', '2'])('refuses %j', (text) => {
    expect(parseGoBool(text)).toBeUndefined();
  });
});

describe('parseGoInt (strconv.ParseInt base 0)', () => {
  it.each([
    ['5', 5],
    ['+5', 5],
    ['-5', -5],
    ['0', 0],
    ['-0', 0],
    ['259200', 259200],
    ['1_000', 1000],
    ['0x1F', 31],
    ['0X_1f', 31],
    ['0o17', 15],
    ['017', 15],
    ['0_17', 15],
    ['0b101', 5],
    ['-0x10', -16],
  ])('%s is %d', (text, value) => {
    expect(parseGoInt(text)).toBe(value);
  });
  it.each([
    '',
    '1.5',
    '1e3',
    ' 5',
    '5s',
    '08',
    '0x',
    '_1',
    '1_',
    '1__0',
    '0xg',
    '--1',
    '9223372036854775808',
    '9007199254740993',
  ])('refuses %j', (text) => {
    expect(parseGoInt(text)).toBeUndefined();
  });
});
