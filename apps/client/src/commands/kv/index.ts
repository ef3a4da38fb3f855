/**
 * `p2 kv get|put|ls|rm` — raw store access for debugging. Values are bytes: `get` prints them
 * as stored (JSON output carries UTF-8 text, or base64 when the bytes are not UTF-8).
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  readInputFile,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { entryView } from '@p2/inspect';

export function registerKvCommand(program: Command, ctx: CliContext): void {
  const kv = program.command('kv').description('Read and write raw store keys (debugging)');

  withStoreFlags(
    kv
      .command('get')
      .description('Print the value of a key, as stored')
      .argument('<key>', 'key, e.g. intent/node1/hello')
      .option('--json', 'print the entry (value, indexes, session) as JSON'),
  ).action(
    run(ctx, async (key, options) => {
      const { value: entry } = await withStore(ctx, options, (store) => store.get(key));
      if (!entry) throw new CliExit(ExitCode.NOT_FOUND, `error: no such key: ${key}`);
      if (options.json) emit(ctx.io, options, entryView(entry), () => '');
      else ctx.io.stdout(new TextDecoder().decode(entry.value));
    }),
  );

  withStoreFlags(
    kv
      .command('put')
      .description('Write a key (value from the argument, or from --file)')
      .argument('<key>', 'key')
      .argument('[value]', 'value (text)')
      .option('--file <path>', 'read the value from a file (bytes as they are)')
      .option('--cas <index>', 'write only if the key is at this ModifyIndex (0 = only if absent)')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (key, value, options) => {
      if ((value === undefined) === (options.file === undefined)) {
        throw new CliExit(
          ExitCode.USAGE,
          'error: give either a value or --file, not both or neither',
        );
      }
      const bytes =
        options.file === undefined ? (value as string) : await readInputFile(ctx, options.file);
      const cas = options.cas === undefined ? undefined : Number(options.cas);
      if (cas !== undefined && (!Number.isInteger(cas) || cas < 0)) {
        throw new CliExit(
          ExitCode.USAGE,
          `error: --cas must be a ModifyIndex (a whole number), got ${options.cas}`,
        );
      }
      const written = await withStore(ctx, options, async (store) => {
        if (cas === undefined) {
          await store.put(key, bytes);
          return true;
        }
        return store.cas(key, bytes, cas);
      });
      const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
      emit(ctx.io, options, { key, written, bytes: size }, (r) =>
        r.written
          ? `wrote ${r.key} (${r.bytes} bytes)`
          : `${style.red(ctx.io, 'not written')}: ${r.key} is not at index ${cas}`,
      );
      return written ? ExitCode.OK : ExitCode.FAILURE;
    }),
  );

  withStoreFlags(
    kv
      .command('ls')
      .description('List keys under a prefix (one level by default, like a directory)')
      .argument('[prefix]', 'key prefix', '')
      .option('--recursive', 'list every key under the prefix')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (prefix, options) => {
      const { value: keys } = await withStore(ctx, options, (store) =>
        store.keys(prefix, options.recursive ? {} : { separator: '/' }),
      );
      emit(ctx.io, options, keys, (k) => k.join('\n'));
    }),
  );

  withStoreFlags(
    kv
      .command('rm')
      .description('Delete a key (or, with --recursive, every key under a prefix)')
      .argument('<key>', 'key or prefix')
      .option('--recursive', 'delete every key under the prefix')
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (key, options) => {
      if (options.recursive && key === '')
        throw new CliExit(ExitCode.USAGE, 'error: refusing to delete the whole store');
      const deleted = await withStore(ctx, options, async (store) => {
        if (options.recursive) {
          const { value: keys } = await store.keys(key);
          await store.deleteTree(key);
          return keys;
        }
        const { value: entry } = await store.get(key);
        if (!entry) throw new CliExit(ExitCode.NOT_FOUND, `error: no such key: ${key}`);
        await store.delete(key);
        return [key];
      });
      emit(ctx.io, options, { deleted }, (r) => r.deleted.map((k) => `deleted ${k}`).join('\n'));
    }),
  );
}
