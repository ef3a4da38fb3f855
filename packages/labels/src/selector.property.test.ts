import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Operator, parseSelector, requirement, Selector } from './selector.js';

const name = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?$/);
const key = fc.oneof(
  name,
  fc
    .tuple(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?$/), name)
    .map(([p, n]) => `${p}.io/${n}`),
);
const value = fc.oneof(fc.constant(''), name);
const req = fc
  .tuple(
    key,
    fc.constantFrom<Operator>('=', '==', '!=', 'in', 'notin', 'exists', '!'),
    fc.uniqueArray(value, { minLength: 1, maxLength: 4 }),
  )
  .map(([k, op, vs]) =>
    requirement(
      k,
      op,
      op === 'exists' || op === '!' ? [] : op === 'in' || op === 'notin' ? vs : [vs[0]!],
    ),
  );
const selector = fc.array(req, { maxLength: 6 }).map((rs) => Selector.of(rs));
const labelSet = fc.dictionary(fc.oneof(key, fc.constantFrom('a', 'b')), value, { maxKeys: 6 });

describe('selector properties', () => {
  it('the canonical string parses back to the same selector (and is a fixed point)', () => {
    fc.assert(
      fc.property(selector, (s) => {
        const text = s.toString();
        const again = parseSelector(text);
        expect(again.toString()).toBe(text);
        expect(again.requirements).toEqual(s.requirements);
      }),
    );
  });

  it('a re-parsed selector matches exactly the same label sets', () => {
    fc.assert(
      fc.property(selector, labelSet, (s, labels) => {
        expect(parseSelector(s.toString()).matches(labels)).toBe(s.matches(labels));
      }),
    );
  });

  it('whitespace between tokens never changes the result', () => {
    fc.assert(
      fc.property(selector, (s) => {
        const spaced = s
          .toString()
          .replace(/,/g, ' ,\t')
          .replace(/!=/g, ' != ')
          .replace(/\(/g, '( ');
        expect(parseSelector(spaced).toString()).toBe(s.toString());
      }),
    );
  });

  it('parsing arbitrary text either succeeds or throws a LabelsError, never anything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        try {
          parseSelector(text);
        } catch (error) {
          expect((error as { code?: string }).code).toMatch(/^P2_LABELS_/);
        }
      }),
    );
  });
});
