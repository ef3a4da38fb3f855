/**
 * @p2/hoist benchmarks.
 *
 * 1. Install throughput of a ~200 MB artifact (≈20,000 small files and four 25 MB files) against
 *    GNU tar extracting the same file in the same run (`tar -xpzf --no-same-owner`, what P2 ran).
 *    Target: hoist at least 0.9× GNU tar's speed.
 * 2. Peak RSS growth while installing a ~200 MB and a ~1 GB artifact: streaming end to end means
 *    the growth must not follow the artifact's size.
 *
 * All data is generated under /tmp (or $P2_BENCH_TMPDIR) at bench time and deleted afterwards.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import { extractArchive, installArtifact } from '@p2/hoist';
import { report, type Sample, summarize } from '../harness.js';

interface ArtifactShape {
  smallFiles: number;
  largeFiles: number;
  largeFileBytes: number;
}

/** Text-like content (base64 of random bytes): compresses about as well as real code does. */
const corpus = Buffer.from(randomBytes(4 * 1024 * 1024).toString('base64'));

function slice(size: number, seed: number): Buffer {
  const start = (seed * 7919) % (corpus.length - size);
  return corpus.subarray(start, start + size);
}

/** A ustar header for a regular file (names here are short, sizes below 8 GiB). */
function ustarHeader(name: string, size: number, mode: number): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, offset: number, length: number) =>
    header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
  header.write(name, 0, 100, 'utf8');
  octal(mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  header.fill(0x20, 148, 156); // checksum field counts as spaces
  header.write('0', 156, 1, 'latin1');
  header.write('ustar\u000000', 257, 8, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return header;
}

/** Streams a .tar.gz of the given shape to `path` (never held in memory); returns file bytes. */
async function generateArtifact(path: string, shape: ArtifactShape, level = 6): Promise<number> {
  let bytes = 0;
  async function* entries(): AsyncGenerator<Buffer> {
    const file = function* (name: string, content: Buffer, mode = 0o644) {
      bytes += content.length;
      yield ustarHeader(name, content.length, mode);
      yield content;
      const pad = (512 - (content.length % 512)) % 512;
      if (pad > 0) yield Buffer.alloc(pad);
    };
    yield* file('bin/launch', Buffer.from('#!/bin/sh\nexec ./bin/server\n'), 0o755);
    for (let i = 0; i < shape.smallFiles; i++) {
      yield* file(`lib/d${Math.floor(i / 200)}/f${i}.rb`, slice(512 + ((i * 7919) % 8192), i));
    }
    const step = 1024 * 1024;
    for (let i = 0; i < shape.largeFiles; i++) {
      const size = shape.largeFileBytes; // a multiple of 512: no padding
      yield ustarHeader(`bin/large${i}`, size, 0o755);
      for (let written = 0; written < size; written += step) {
        yield slice(Math.min(step, size - written), written / step + i * 1000);
      }
      bytes += size;
    }
    yield Buffer.alloc(1024);
  }
  await pipeline(entries, createGzip({ level }), createWriteStream(path));
  return bytes;
}

function syncDisks(): void {
  execFileSync('sync');
}

async function timeOnce(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function throughput(work: string): Promise<void> {
  const artifact = join(work, 'app_throughput.tar.gz');
  const bytes = await generateArtifact(artifact, {
    smallFiles: 20_000,
    largeFiles: 4,
    largeFileBytes: 25 * 1024 * 1024,
  });
  const mb = bytes / 1024 / 1024;
  console.log(`artifact: ${mb.toFixed(0)} MB in 20,005 files`);
  const runs = 5;
  const durations = {
    tar: [] as number[],
    extract: [] as number[],
    install: [] as number[],
    http: [] as number[],
  };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/gzip' });
    createReadStream(artifact).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app_throughput.tar.gz`;
  const loopDelays: Array<{ p99: number; max: number }> = [];
  for (let run = 0; run < runs; run++) {
    // Interleaved, each from a clean page-cache state for writes, so disk noise hits all alike.
    const tarOut = join(work, `tar-${run}`);
    await mkdir(tarOut);
    syncDisks();
    durations.tar.push(
      await timeOnce(() =>
        execFileSync('tar', ['-xpzf', artifact, '--no-same-owner', '-C', tarOut]),
      ),
    );
    await rm(tarOut, { recursive: true, force: true });

    syncDisks();
    const extractOut = join(work, `extract-${run}`);
    durations.extract.push(await timeOnce(() => extractArchive(artifact, extractOut)));
    await rm(extractOut, { recursive: true, force: true });

    syncDisks();
    const root = join(work, `pod-${run}`, 'app');
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    durations.install.push(
      await timeOnce(() =>
        installArtifact({
          launchableRoot: root,
          launchableId: 'app',
          location: artifact,
          localRoots: [work],
        }),
      ),
    );
    loopDelay.disable();
    loopDelays.push({ p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 });
    await rm(join(work, `pod-${run}`), { recursive: true, force: true });

    syncDisks();
    const httpRoot = join(work, `http-${run}`, 'app');
    durations.http.push(
      await timeOnce(() =>
        installArtifact({ launchableRoot: httpRoot, launchableId: 'app', location: url }),
      ),
    );
    await rm(join(work, `http-${run}`), { recursive: true, force: true });
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const baseline = summarize('GNU tar -xpzf (P2)', durations.tar);
  const samples: Sample[] = [
    summarize('hoist extractArchive', durations.extract),
    summarize('hoist installArtifact, file (sha256 + extract + rename)', durations.install),
    summarize('hoist installArtifact, HTTP loopback (download + sha256 + extract)', durations.http),
  ];
  report(`install throughput, ${mb.toFixed(0)} MB artifact (${runs} runs each)`, baseline, samples);
  for (const sample of samples) {
    console.log(
      `${sample.name}: ${((mb * 1000) / sample.medianMs).toFixed(0)} MB/s, ` +
        `${(baseline.medianMs / sample.medianMs).toFixed(2)}x GNU tar's speed (target >= 0.90)`,
    );
  }
  console.log(`GNU tar: ${((mb * 1000) / baseline.medianMs).toFixed(0)} MB/s`);
  const idle = monitorEventLoopDelay({ resolution: 5 });
  idle.enable();
  await sleep(3000);
  idle.disable();
  console.log(
    `event-loop delay of this process idling for 3 s on this machine (noise floor): p99 ${(idle.percentile(99) / 1e6).toFixed(1)} ms / max ${(idle.max / 1e6).toFixed(1)} ms`,
  );
  console.log(
    `event-loop delay during installArtifact (file), per run: ${loopDelays
      .map((d) => `p99 ${d.p99.toFixed(1)} ms / max ${d.max.toFixed(1)} ms`)
      .join(', ')}`,
  );
}

async function peakRssGrowth(work: string, label: string, shape: ArtifactShape): Promise<void> {
  const artifact = join(work, `app_${label}.tar.gz`);
  const bytes = await generateArtifact(artifact, shape, 1);
  const root = join(work, `rss-${label}`, 'app');
  syncDisks();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const ms = await timeOnce(() =>
    installArtifact({
      launchableRoot: root,
      launchableId: 'app',
      location: artifact,
      localRoots: [work],
    }),
  );
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(
    `${label}: ${(bytes / 1024 ** 2).toFixed(0)} MB installed in ${(ms / 1000).toFixed(1)} s; ` +
      `RSS before ${(before / 1024 ** 2).toFixed(0)} MB, peak growth ${((peak - before) / 1024 ** 2).toFixed(1)} MB`,
  );
  await rm(join(work, `rss-${label}`), { recursive: true, force: true });
  await rm(artifact, { force: true });
}

export async function run(): Promise<void> {
  // P2_BENCH_TMPDIR=/dev/shm measures CPU cost without the disk (default: the OS temp dir, /tmp).
  const work = await mkdtemp(join(process.env.P2_BENCH_TMPDIR ?? tmpdir(), 'p2-bench-hoist-'));
  try {
    console.log('\n## peak RSS growth while installing (streaming: must not follow artifact size)');
    await peakRssGrowth(work, '200MB', {
      smallFiles: 2_000,
      largeFiles: 8,
      largeFileBytes: 25 * 1024 * 1024,
    });
    await peakRssGrowth(work, '1GB', {
      smallFiles: 2_000,
      largeFiles: 10,
      largeFileBytes: 100 * 1024 * 1024,
    });
    await throughput(work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
