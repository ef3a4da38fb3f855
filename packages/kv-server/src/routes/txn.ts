/** `PUT /v1/txn`: decodes Consul's operation array, evaluates it (`@p2/consul-txn`), answers 200 or 409. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isTreeVerb, isTxnVerb, isWriteVerb, type TxnOpError, type TxnVerb } from '@p2/consul-txn';
import type { ServerContext } from '../context.js';
import { HttpFailure, lowerKeys, meta, readBody, send } from '../http.js';
import type { KvOp } from '../state.js';
import { entryJson } from '../wire.js';
import { runOps } from './kv.js';

/** Consul's `txn_max_req_len` default (never below the KV value limit). */
const MAX_TXN_BODY = 512 * 1024;

/** Consul's operation array → KV operations; 400/413 for what Consul refuses to decode. */
function decodeTxn(body: Buffer, txnMaxOps: number, maxValueSize: number): KvOp[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpFailure(400, `Failed to parse body: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw new HttpFailure(400, 'Failed to parse body: expected a JSON array of operations');
  }
  if (parsed.length > txnMaxOps) {
    throw new HttpFailure(
      413,
      `Transaction contains too many operations (${parsed.length} > ${txnMaxOps})`,
    );
  }
  return parsed.map((raw, i) => {
    const op = lowerKeys(raw, `operation ${i}`);
    const kvRaw = op.kv;
    if (kvRaw === undefined) {
      const kind = Object.keys(op)[0] ?? 'nothing';
      throw new HttpFailure(
        400,
        `Failed to parse body: operation ${i} is ${kind}; p2-kv-server supports only KV operations`,
      );
    }
    const kv = lowerKeys(kvRaw, `operation ${i}.KV`);
    const verb = String(kv.verb ?? '') as TxnVerb;
    const key = kv.key === undefined || kv.key === null ? '' : String(kv.key);
    let value: Buffer | null = null;
    if (typeof kv.value === 'string') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(kv.value) || kv.value.length % 4 !== 0) {
        throw new HttpFailure(
          400,
          `Failed to parse body: operation ${i}: Value of key ${JSON.stringify(key)} is not valid base64`,
        );
      }
      value = Buffer.from(kv.value, 'base64');
      if (value.length > maxValueSize) {
        throw new HttpFailure(
          413,
          `Value for key ${JSON.stringify(key)} is too large (${value.length} > ${maxValueSize} bytes)`,
        );
      }
    } else if (kv.value !== undefined && kv.value !== null) {
      throw new HttpFailure(
        400,
        `Failed to parse body: operation ${i}: Value must be a base64 string or null`,
      );
    }
    const number = (name: string): number => {
      const v = kv[name];
      if (v === undefined || v === null) return 0;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new HttpFailure(
          400,
          `Failed to parse body: operation ${i}: ${name} must be an unsigned integer`,
        );
      }
      return v;
    };
    return {
      verb,
      key,
      value,
      flags: String(number('flags')),
      index: number('index'),
      session: kv.session === undefined || kv.session === null ? '' : String(kv.session),
    };
  });
}

export async function txn(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { state, maxValueSize } = ctx;
  const limit = Math.max(MAX_TXN_BODY, maxValueSize);
  const body = await readBody(
    req,
    limit,
    (n) => `Request body too large, max size: ${limit} bytes (got ${n})`,
  );
  const ops = decodeTxn(body, ctx.txnMaxOps, maxValueSize);
  // Consul's endpoint refuses these before the state store sees any operation.
  const preErrors: TxnOpError[] = [];
  ops.forEach((op, opIndex) => {
    if (!isTxnVerb(op.verb))
      preErrors.push({ opIndex, what: `unknown KV verb ${JSON.stringify(op.verb)}` });
    else if (op.key === '' && !isTreeVerb(op.verb)) {
      preErrors.push({ opIndex, what: 'Missing key name' });
    }
  });
  const readOnly = ops.every((op) => !isWriteVerb(op.verb));
  const outcome =
    preErrors.length > 0
      ? { results: [], errors: preErrors }
      : readOnly
        ? await ctx.engine.settled().then(() => state.evaluate(ops))
        : await runOps(ctx, ops);
  meta(res, undefined);
  if (outcome.errors.length > 0) {
    const errors = outcome.errors.map((e) => ({ OpIndex: e.opIndex, What: e.what }));
    return send(res, 409, JSON.stringify({ Results: null, Errors: errors }));
  }
  // Results of writes carry the committed entry (value-less), as Consul does.
  const results = outcome.results.map(({ entry, withValue }) => {
    const committed = withValue ? entry : (state.entries.get(entry.key) ?? entry);
    return `{"KV":${entryJson(committed, withValue)}}`;
  });
  send(res, 200, `{"Results":[${results.join(',')}],"Errors":null}`);
}
