import { describe, expect, it } from 'vitest';
import { LabelsError, type LabelsErrorCode } from './errors.js';
import { labelSetString, parseSelector, requirement, Selector } from './selector.js';

function parseError(text: string): LabelsError {
  try {
    parseSelector(text);
  } catch (error) {
    expect(error).toBeInstanceOf(LabelsError);
    return error as LabelsError;
  }
  throw new Error(`expected "${text}" to fail`);
}

describe('canonical strings (spec 01 appendix table)', () => {
  it.each([
    ['b=2,a=1', 'a=1,b=2'],
    ['x in (foo,,baz),y,z notin ()', 'x in (,baz,foo),y,z notin ()'],
    ['!foo, bar != baz', 'bar!=baz,!foo'],
    ['pod_id=hello,availability_zone=us-west', 'availability_zone=us-west,pod_id=hello'],
    ['x=1,x=0', 'x=1,x=0'],
    ['', ''],
  ])('%j → %j', (input, canonical) => {
    expect(parseSelector(input).toString()).toBe(canonical);
  });

  it.each([
    ['a==b', 'a==b'],
    ['  a\t=\nb  ', 'a=b'],
    ['a=', 'a='],
    ['a=,b', 'a=,b'],
    ['k in (b,a,b)', 'k in (a,b)'],
    ['k in (,a)', 'k in (,a)'],
    ['k in (a,)', 'k in (,a)'],
    ['k notin (a)', 'k notin (a)'],
    ['x=0,x=1', 'x=0,x=1'],
    ['z,!a,m', '!a,m,z'],
    ['example.com/role=web', 'example.com/role=web'],
    // `in` and `notin` are keywords only in operator position.
    ['in=notin', 'in=notin'],
    ['notin in (in,notin)', 'notin in (in,notin)'],
    ['in', 'in'],
  ])('%j → %j', (input, canonical) => {
    expect(parseSelector(input).toString()).toBe(canonical);
  });

  it('re-parses its canonical string to the same selector', () => {
    for (const input of ['x in (foo,,baz),y,z notin ()', '!foo, bar != baz', 'a=,b in ()']) {
      const once = parseSelector(input).toString();
      expect(parseSelector(once).toString()).toBe(once);
    }
  });
});

describe('matching', () => {
  const labels = { role: 'web', zone: 'us-west', empty: '' };
  it.each([
    ['', true],
    ['role=web', true],
    ['role==web', true],
    ['role=db', false],
    ['missing=x', false],
    ['role!=db', true],
    ['role!=web', false],
    ['missing!=x', true],
    ['zone in (us-east,us-west)', true],
    ['zone in (us-east)', false],
    ['missing in (a)', false],
    ['zone notin (us-west)', false],
    ['zone notin (us-east)', true],
    ['missing notin (a)', true],
    ['role', true],
    ['missing', false],
    ['!missing', true],
    ['!role', false],
    ['empty=', true],
    ['empty in ()', true],
    ['role in ()', false],
    ['role=web,zone=us-west', true],
    ['role=web,zone=us-east', false],
    ['x=1,x=0', false],
  ])('%j matches %o: %s', (selector, expected) => {
    expect(parseSelector(selector).matches(labels)).toBe(expected);
  });

  it('the "nothing" selector matches no label set', () => {
    expect(Selector.nothing().toString()).toBe('x=1,x=0');
    expect(Selector.nothing().matches({ x: '1' })).toBe(false);
    expect(Selector.nothing().matches({})).toBe(false);
  });

  it('everything() matches everything and prints empty', () => {
    expect(Selector.everything().matches({})).toBe(true);
    expect(Selector.everything().isEverything()).toBe(true);
    expect(Selector.everything().toString()).toBe('');
  });

  it('does not treat inherited object properties as labels', () => {
    expect(parseSelector('constructor').matches({})).toBe(false);
    expect(parseSelector('!toString').matches({})).toBe(true);
  });
});

describe('building selectors', () => {
  it('fromSet sorts keys into equality requirements', () => {
    const s = Selector.fromSet({ pod_id: 'hello', availability_zone: 'a', cluster_name: 'c' });
    expect(s.toString()).toBe('availability_zone=a,cluster_name=c,pod_id=hello');
    expect(s.matches({ pod_id: 'hello', availability_zone: 'a', cluster_name: 'c' })).toBe(true);
  });

  it('add keeps requirements sorted and validates', () => {
    const s = Selector.everything().add('pod_id', '=', ['hello']).add('a', 'exists');
    expect(s.toString()).toBe('a,pod_id=hello');
    expect(() => s.add('bad key', '=', ['x'])).toThrow(/invalid label key "bad key"/);
  });

  it('requirement() checks value counts per operator', () => {
    const code = (fn: () => unknown): LabelsErrorCode | undefined => {
      try {
        fn();
      } catch (e) {
        return (e as LabelsError).code;
      }
      return undefined;
    };
    expect(code(() => requirement('a', 'in', []))).toBe('P2_LABELS_INVALID_REQUIREMENT');
    expect(code(() => requirement('a', '=', ['x', 'y']))).toBe('P2_LABELS_INVALID_REQUIREMENT');
    expect(code(() => requirement('a', 'exists', ['x']))).toBe('P2_LABELS_INVALID_REQUIREMENT');
    expect(code(() => requirement('a', '=', ['-x']))).toBe('P2_LABELS_INVALID_VALUE');
    expect(requirement('a', 'in', ['b', 'a', 'b']).values).toEqual(['a', 'b']);
  });

  it('JSON-serialises as its canonical string', () => {
    expect(JSON.stringify({ node_selector: parseSelector('b=2, a=1') })).toBe(
      '{"node_selector":"a=1,b=2"}',
    );
  });

  it('labelSetString sorts pairs', () => {
    expect(labelSetString({ b: '2', a: '1' })).toBe('a=1,b=2');
    expect(labelSetString({})).toBe('');
  });
});

describe('parse errors say where and what was expected', () => {
  it.each([
    ['a in b', 5, "'('", "'b'"],
    ['a in (b', 7, "',' or ')'", 'end of string'],
    ['a b', 2, "an operator ('=', '==', '!=', 'in' or 'notin')", "'b'"],
    [',a', 0, "'!', a label key, or end of string", "','"],
    ['a,', 2, "a label key or '!' after ','", 'end of string'],
    ['a=b c', 4, "',' or end of string", "'c'"],
    ['!a=b', 2, "',' or end of string", "'='"],
    ['a=(b)', 2, 'a value', "'('"],
    ['a in (,,)', 8, "a value or ','", "')'"],
    ['!', 1, 'a label key', 'end of string'],
    ['a in )', 5, "'('", "')'"],
    ['zone in b', 8, "'('", "'b'"],
  ])('%j: position %i', (text, position, expected, found) => {
    const error = parseError(text);
    expect(error.code).toBe('P2_LABELS_SELECTOR_SYNTAX');
    expect(error.details).toMatchObject({ selector: text, position, expected, found });
    expect(error.message).toContain(`at position ${position}`);
    expect(error.hint).toMatch(/key=value/);
  });

  it.each([
    ['-bad=x', 'P2_LABELS_INVALID_KEY', 0],
    ['ok, a/b/c', 'P2_LABELS_INVALID_KEY', 4],
    ['UPPER.com/x=1', 'P2_LABELS_INVALID_KEY', 0],
    [`${'k'.repeat(64)}=1`, 'P2_LABELS_INVALID_KEY', 0],
    ['a=b&c', 'P2_LABELS_INVALID_VALUE', 2],
    ['a in (ok, -no)', 'P2_LABELS_INVALID_VALUE', 10],
    [`a=${'v'.repeat(64)}`, 'P2_LABELS_INVALID_VALUE', 2],
  ])('%j: %s at %i', (text, code, position) => {
    const error = parseError(text);
    expect(error.code).toBe(code);
    expect(error.details.position).toBe(position);
  });

  it('accepts the longest valid key and value', () => {
    const key = `${'p'.repeat(10)}.example/${'k'.repeat(63)}`;
    const s = parseSelector(`${key}=${'v'.repeat(63)}`);
    expect(s.requirements[0]!.key).toBe(key);
  });
});
