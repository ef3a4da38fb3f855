/**
 * A real OTLP/HTTP receiver for tests (tests only): a node:http server that accepts
 * `POST /v1/traces` with OTLP JSON, parses it and keeps every span with its resource attributes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One received span, flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status?: { code?: number };
  attributes: Record<string, string>;
  resource: Record<string, string>;
}

type Attr = { key: string; value: { stringValue?: string } };
const flat = (attrs: Attr[] | undefined) =>
  Object.fromEntries((attrs ?? []).map((a) => [a.key, a.value.stringValue ?? '']));

/** Starts the receiver on loopback; `close()` stops it. */
export async function startOtlpReceiver(): Promise<{
  endpoint: string;
  spans: ReceivedSpan[];
  close(): Promise<void>;
}> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      try {
        const parsed = JSON.parse(body) as {
          resourceSpans: Array<{
            resource?: { attributes?: Attr[] };
            scopeSpans: Array<{
              spans: Array<Omit<ReceivedSpan, 'attributes' | 'resource'> & { attributes?: Attr[] }>;
            }>;
          }>;
        };
        for (const rs of parsed.resourceSpans)
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans)
              spans.push({
                ...s,
                attributes: flat(s.attributes),
                resource: flat(rs.resource?.attributes),
              });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
