/**
 * Helpers shared by the tests (not exported from the package): temporary directories, real
 * `umoci`/`skopeo` runs, and hand-built (hostile) image layouts written with tar-stream.
 * @internal
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

const exec = promisify(execFile);
type EntryHeader = Parameters<ReturnType<typeof tar.pack>['entry']>[0];

/** Runs a command, resolving to its stdout. */
export async function run(command: string, args: string[]): Promise<string> {
  return (await exec(command, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** A fresh temporary directory, removed by the returned `cleanup`. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'p2t-oci-image-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every path below `dir` with its type (`f`, `d`, `l`…), sorted: `find -printf '%P %y\n'`. */
export async function fileList(dir: string): Promise<string[]> {
  const out = await run('find', [dir, '-mindepth', '1', '-printf', '%P %y\n']);
  return out
    .split('\n')
    .filter((line) => line !== '')
    .sort();
}

/** One entry of a hand-built layer. */
interface LayerEntry {
  name: string;
  type?: EntryHeader['type'];
  content?: string;
  mode?: number;
  linkname?: string;
}

/** One hand-built layer: its entries, gzip by default, and an optional media type. */
export interface TestLayer {
  entries: LayerEntry[];
  gzip?: boolean;
  mediaType?: string;
}

/** Packs entries into a tar with tar-stream (no checks: the tests make hostile layers). */
async function packLayer(entries: LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header: EntryHeader = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(1_600_000_000_000),
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
    };
    if (type === 'file') pack.entry(header, entry.content ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Writes a blob into the layout and returns its descriptor. */
export async function writeBlob(
  layout: string,
  data: Buffer,
  mediaType: string,
): Promise<{ mediaType: string; digest: string; size: number }> {
  const hex = createHash('sha256').update(data).digest('hex');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'blobs', 'sha256', hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

/**
 * Writes an OCI image layout with one manifest (ref `latest`) of the given layers and config.
 * @returns the digests of the layers (in order)
 */
export async function buildLayout(
  layout: string,
  layers: TestLayer[],
  config: Record<string, unknown> = { Cmd: ['/bin/sh'] },
): Promise<string[]> {
  await mkdir(layout, { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layerDescriptors = [];
  for (const layer of layers) {
    const plain = await packLayer(layer.entries);
    const gzip = layer.gzip ?? true;
    layerDescriptors.push(
      await writeBlob(
        layout,
        gzip ? gzipSync(plain) : plain,
        layer.mediaType ??
          (gzip
            ? 'application/vnd.oci.image.layer.v1.tar+gzip'
            : 'application/vnd.oci.image.layer.v1.tar'),
      ),
    );
  }
  const configBlob = await writeBlob(
    layout,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config,
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = await writeBlob(
    layout,
    Buffer.from(JSON.stringify({ schemaVersion: 2, config: configBlob, layers: layerDescriptors })),
    'application/vnd.oci.image.manifest.v1+json',
  );
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  return layerDescriptors.map((d) => d.digest);
}
