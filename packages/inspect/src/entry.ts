import type { KvEntry } from '@p2/kv';

/** A raw store entry shown as JSON: the value as text when it is UTF-8, else as base64. */
export interface EntryView {
  key: string;
  /** The value, when its bytes are valid UTF-8. */
  value?: string;
  /** The value's bytes in base64, when they are not UTF-8. */
  valueBase64?: string;
  flags: number;
  /** The session holding the key's lock, when one does. */
  session?: string;
  createIndex: number;
  modifyIndex: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The view of one raw entry (what `p2 kv get --json` prints).
 *
 * @example entryView((await store.get('intent/h1/web')).value!).value // the manifest text
 */
export function entryView(entry: KvEntry): EntryView {
  let text: string | undefined;
  try {
    text = strictUtf8.decode(entry.value);
  } catch {
    text = undefined;
  }
  return {
    key: entry.key,
    ...(text === undefined
      ? { valueBase64: Buffer.from(entry.value).toString('base64') }
      : { value: text }),
    flags: entry.flags,
    ...(entry.session ? { session: entry.session } : {}),
    createIndex: entry.createIndex,
    modifyIndex: entry.modifyIndex,
  };
}
