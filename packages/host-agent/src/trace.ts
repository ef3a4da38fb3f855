/**
 * One trace per deploy (issue 21): the steps of a deploy on this host — authorize, hooks,
 * download, verify, extract, halt, start, enable, healthy — each with its start and duration,
 * recorded with the pod's events (`deployId` = the manifest SHA, the same on every host, so
 * `p2 trace` joins a version's deploy across the fleet) and, when an OTLP/HTTP endpoint is
 * configured, exported as OpenTelemetry spans (OTLP JSON, one trace id per manifest SHA).
 */
import { randomBytes } from 'node:crypto';
import { describeError } from '@p2/errors';
import type { DeploySpan } from '@p2/keyspace';
import type { InstallReport, LaunchReport } from '@p2/pods';
import got from 'got';
import type { Logger } from 'pino';

/** Collects a deploy's spans as its steps end. @internal */
export class DeployTraceRecorder {
  readonly spans: DeploySpan[] = [];
  readonly started = Date.now();

  /** A step that ended now after `ms` milliseconds. */
  step(name: string, ms: number, failed = false): void {
    this.spans.push({
      name,
      start: new Date(Date.now() - ms).toISOString(),
      ms: Math.round(ms),
      ...(failed ? { failed } : {}),
    });
  }

  /** A step that started at `start` (epoch ms) and ends now. */
  since(name: string, start: number): void {
    this.spans.push({ name, start: new Date(start).toISOString(), ms: Date.now() - start });
  }

  /**
   * Adds the parts of `install` (per launchable: download, verify, extract) and of `launch`
   * (activate, runit → start, enable, commit), laid out one after the other from their step's start.
   */
  detail(installed: InstallReport | undefined, launched: LaunchReport | undefined): void {
    const parentStart = (name: string) => {
      const span = this.spans.find((s) => s.name === name);
      return span ? Date.parse(span.start) : undefined;
    };
    const installStart = parentStart('install');
    if (installStart !== undefined)
      for (const l of installed?.launchables ?? []) {
        if (!l.timings) continue;
        let at = installStart;
        for (const [name, ms] of [
          ['download', l.timings.fetchMs],
          ['verify', l.timings.verifyMs],
          ['extract', l.timings.extractMs],
        ] as const) {
          this.spans.push({
            name: `${name} ${l.launchableId}`,
            start: new Date(at).toISOString(),
            ms: Math.round(ms),
            parent: 'install',
          });
          at += ms;
        }
      }
    const launchStart = parentStart('launch');
    if (launchStart !== undefined && launched) {
      let at = launchStart;
      for (const [part, ms] of Object.entries(launched.timings)) {
        this.spans.push({
          name: part === 'runit' ? 'start' : part,
          start: new Date(at).toISOString(),
          ms: Math.round(ms),
          parent: 'launch',
        });
        at += ms;
      }
    }
  }
}

/** Where spans go: an OTLP/HTTP receiver (`tracing.otlp_endpoint`, e.g. `http://collector:4318`). */
export interface OtlpExportOptions {
  endpoint: string;
  node: string;
  logger: Logger;
  /** @default 5000 */
  timeoutMs?: number;
}

const nanos = (iso: string, plusMs = 0) => `${BigInt(Date.parse(iso) + plusMs) * 1_000_000n}`;
const spanId = () => randomBytes(8).toString('hex');
const text = (key: string, value: string) => ({ key, value: { stringValue: value } });

/**
 * The OTLP JSON of one host's deploy: a root span `deploy <pod>` and one span per step (parts of a
 * step under it). The trace id is the first 32 hex digits of the manifest SHA, so every host's
 * deploy of a version lands in one trace.
 */
export function otlpTraceJson(
  deploy: { deployId: string; pod: string; node: string; outcome: string; spans: DeploySpan[] },
  started: number,
): object {
  const traceId = deploy.deployId.slice(0, 32).padEnd(32, '0');
  const rootId = spanId();
  const ended = Math.max(started, ...deploy.spans.map((s) => Date.parse(s.start) + s.ms));
  const ids = new Map<string, string>();
  const spans = deploy.spans.map((s) => {
    const id = spanId();
    if (!s.parent) ids.set(s.name, id);
    return { s, id };
  });
  const ok = deploy.outcome === 'deployed' || deploy.outcome === 'healthy';
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [text('service.name', 'p2-preparer'), text('host.name', deploy.node)],
        },
        scopeSpans: [
          {
            scope: { name: '@p2/host-agent' },
            spans: [
              {
                traceId,
                spanId: rootId,
                name: `deploy ${deploy.pod}`,
                kind: 1,
                startTimeUnixNano: nanos(new Date(started).toISOString()),
                endTimeUnixNano: nanos(new Date(ended).toISOString()),
                attributes: [
                  text('p2.pod', deploy.pod),
                  text('p2.node', deploy.node),
                  text('p2.deploy_id', deploy.deployId),
                  text('p2.outcome', deploy.outcome),
                ],
                status: { code: ok ? 1 : 2 },
              },
              ...spans.map(({ s, id }) => ({
                traceId,
                spanId: id,
                parentSpanId: (s.parent && ids.get(s.parent)) || rootId,
                name: s.name,
                kind: 1,
                startTimeUnixNano: nanos(s.start),
                endTimeUnixNano: nanos(s.start, s.ms),
                attributes: [text('p2.pod', deploy.pod), text('p2.node', deploy.node)],
                status: { code: s.failed ? 2 : 1 },
              })),
            ],
          },
        ],
      },
    ],
  };
}

/**
 * Sends a deploy's spans to `<endpoint>/v1/traces` (OTLP/HTTP, JSON). Best-effort: a receiver that
 * is down or slow is logged and never delays or fails a deploy.
 */
export async function exportOtlp(
  options: OtlpExportOptions,
  deploy: Parameters<typeof otlpTraceJson>[0],
  started: number,
): Promise<void> {
  const url = `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
  try {
    await got.post(url, {
      json: otlpTraceJson(deploy, started),
      timeout: { request: options.timeoutMs ?? 5000 },
      retry: { limit: 0 },
    });
  } catch (error) {
    options.logger.warn({ url, err: describeError(error) }, 'could not export the deploy trace');
  }
}
