/**
 * A typed YAML value tree as yaml.v2 (2016) decodes it into `interface{}`: YAML 1.1 scalars already
 * resolved, duplicate keys collapsed (last wins), merge keys applied, aliases expanded.
 * It keeps what a plain JS value loses: integer vs float, non-string map keys, map key types.
 * @internal
 */
export type YNode =
  /** `text` is the scalar as written (a Go `string` field receives it verbatim: `id: 0x1F` is "0x1F"). */
  | { readonly kind: 'null'; readonly text?: string }
  | { readonly kind: 'bool'; readonly value: boolean; readonly text?: string }
  /** `unsigned` marks values that only fit Go's uint64 (above int64's range). */
  | {
      readonly kind: 'int';
      readonly value: bigint;
      readonly unsigned?: boolean;
      readonly text?: string;
    }
  | { readonly kind: 'float'; readonly value: number; readonly text?: string }
  | { readonly kind: 'str'; readonly value: string }
  /** `struct` maps keep their field order (Go structs); other maps are sorted when emitted. */
  | {
      readonly kind: 'map';
      readonly entries: ReadonlyArray<readonly [YNode, YNode]>;
      readonly struct?: boolean;
    }
  | { readonly kind: 'seq'; readonly items: readonly YNode[] };

/** @internal */
export const NULL: YNode = { kind: 'null' };
/** @internal */
export const str = (value: string): YNode => ({ kind: 'str', value });
/** @internal */
export const int = (value: bigint | number): YNode => ({ kind: 'int', value: BigInt(value) });
/** @internal */
export const map = (entries: Array<readonly [YNode, YNode]>): YNode => ({ kind: 'map', entries });
/** @internal */
const seq = (items: YNode[]): YNode => ({ kind: 'seq', items });

/** Builds a map node from string keys, skipping `undefined` values (omitempty). @internal */
export function strMap(fields: Array<readonly [string, YNode | undefined]>): YNode {
  const entries: Array<readonly [YNode, YNode]> = [];
  for (const [key, value] of fields) if (value !== undefined) entries.push([str(key), value]);
  return { kind: 'map', entries, struct: true };
}

/** The text of a scalar as a Go `string` field receives it, or undefined for collections. @internal */
export function scalarText(node: YNode): string | undefined {
  switch (node.kind) {
    case 'str':
      return node.value;
    case 'null':
      return '';
    case 'bool':
      return node.text ?? String(node.value);
    case 'int':
      return node.text ?? node.value.toString();
    case 'float':
      return node.text ?? String(node.value);
    default:
      return undefined;
  }
}

/** Converts a node to a plain JS value (keys stringified; big integers as bigint). @internal */
export function toPlain(node: YNode): unknown {
  switch (node.kind) {
    case 'null':
      return null;
    case 'bool':
    case 'str':
    case 'float':
      return node.value;
    case 'int': {
      const n = Number(node.value);
      return Number.isSafeInteger(n) ? n : node.value;
    }
    case 'seq':
      return node.items.map(toPlain);
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [key, value] of node.entries) {
        Object.defineProperty(out, keyText(key), {
          value: toPlain(value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
  }
}

/** The string a map key becomes in a plain JS object. @internal */
function keyText(key: YNode): string {
  if (key.kind === 'null') return 'null';
  return scalarText(key) ?? JSON.stringify(toPlain(key));
}

/**
 * Converts a plain JS value to a node: integers become ints, other numbers floats, `Map`s keep
 * their key types. @internal
 */
export function fromPlain(value: unknown, path = 'value'): YNode {
  if (value === null || value === undefined) return NULL;
  if (typeof value === 'boolean') return { kind: 'bool', value };
  if (typeof value === 'bigint')
    return { kind: 'int', value, unsigned: value > 9223372036854775807n };
  if (typeof value === 'number') {
    return Number.isInteger(value) && !Object.is(value, -0)
      ? { kind: 'int', value: BigInt(value) }
      : { kind: 'float', value };
  }
  if (typeof value === 'string') return str(value);
  if (value instanceof Date) return str(value.toISOString());
  if (Array.isArray(value)) return seq(value.map((item, i) => fromPlain(item, `${path}[${i}]`)));
  if (value instanceof Map) {
    return map(
      [...value.entries()].map(
        ([k, v]) => [fromPlain(k, path), fromPlain(v, `${path}.${String(k)}`)] as const,
      ),
    );
  }
  if (typeof value === 'object') {
    return map(
      Object.entries(value).map(([k, v]) => [str(k), fromPlain(v, `${path}.${k}`)] as const),
    );
  }
  throw new TypeError(`${path}: cannot put a ${typeof value} in a manifest`);
}
