/**
 * `p2 context list|current|use|set|delete` — named stores in `~/.config/p2/config.yaml`
 * (`@p2/cli-kit`'s contexts), as kubectl's `config get-contexts|current-context|use-context`.
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  checkContextName,
  contextFilePath,
  ExitCode,
  emit,
  readContexts,
  run,
  type StoreContext,
  style,
  table,
  updateContexts,
} from '@p2/cli-kit';
import { createStore } from '@p2/kv';

/** A context as `--json` prints it: every field, null when not set. */
function contextJson(c: StoreContext, current: string | undefined) {
  return {
    name: c.name,
    current: c.name === current,
    store: c.store,
    tokenFile: c.tokenFile ?? null,
    caFile: c.caFile ?? null,
    certFile: c.certFile ?? null,
    keyFile: c.keyFile ?? null,
  };
}

/** Checks a store URL the way every command will parse it (nothing is sent). */
async function checkStoreUrl(url: string): Promise<void> {
  try {
    await createStore(url).close();
  } catch (error) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: --store ${JSON.stringify(url)} is not a store URL: ${(error as Error).message}\nhint: e.g. consul+https://10.0.0.5:8501, etcd://10.0.0.7:2379, http://127.0.0.1:8500`,
    );
  }
}

export function registerContextCommand(program: Command, ctx: CliContext): void {
  const group = program
    .command('context')
    .description(
      'Named stores (URL, token file, TLS files) in ~/.config/p2/config.yaml (P2_CONFIG overrides the path); every command takes --context NAME, or uses the current one',
    );
  const path = () => contextFilePath(ctx.env);

  group
    .command('list')
    .description('List the contexts; * marks the current one')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (options) => {
        const config = await readContexts(path(), ctx.env);
        const view = {
          path: config.path,
          current: config.current ?? null,
          contexts: config.contexts.map((c) => contextJson(c, config.current)),
        };
        emit(ctx.io, options, view, (v, { wide }) =>
          v.contexts.length === 0
            ? style.dim(
                ctx.io,
                `no contexts in ${v.path}; \`p2 context set NAME --store URL\` adds one`,
              )
            : table(
                [
                  'CURRENT',
                  'NAME',
                  'STORE',
                  'TOKEN FILE',
                  ...(wide ? ['CA FILE', 'CERT FILE'] : []),
                ],
                v.contexts.map((c) => [
                  c.current ? '*' : '',
                  c.name,
                  c.store,
                  c.tokenFile ?? '-',
                  ...(wide ? [c.caFile ?? '-', c.certFile ?? '-'] : []),
                ]),
              ),
        );
      }),
    );

  group
    .command('current')
    .description('Print the current context (exit 4 when none is set)')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (options) => {
        const config = await readContexts(path(), ctx.env);
        const current = config.contexts.find((c) => c.name === config.current);
        if (!current)
          throw new CliExit(
            ExitCode.NOT_FOUND,
            `error: no current context in ${config.path}\nhint: \`p2 context use NAME\`${config.contexts.length > 0 ? ` (contexts: ${config.contexts.map((c) => c.name).join(', ')})` : ''}`,
          );
        emit(ctx.io, options, contextJson(current, config.current), (c) => c.name);
      }),
    );

  group
    .command('use')
    .description('Make a context the current one: commands without --store or --context use it')
    .argument('<name>', 'context name')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (name, options) => {
        const config = await updateContexts(path(), ctx.env, { use: checkContextName(name) });
        emit(
          ctx.io,
          options,
          { current: name, path: config.path },
          (r) => `now using ${r.current}`,
        );
      }),
    );

  group
    .command('set')
    .description('Add a context, or replace one of that name')
    .argument('<name>', 'context name')
    .requiredOption('--store <url>', 'store URL, as --store takes it')
    .option('--token-file <file>', 'file holding its ACL token (mode 600)')
    .option('--ca-file <file>', "PEM CA that signed the store's certificate")
    .option('--cert-file <file>', 'PEM client certificate')
    .option('--key-file <file>', 'its PEM private key')
    .option('--use', 'also make it the current context')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (name, options) => {
        await checkStoreUrl(options.store);
        const set: StoreContext = {
          name: checkContextName(name),
          store: options.store,
          ...(options.tokenFile ? { tokenFile: resolve(ctx.cwd, options.tokenFile) } : {}),
          ...(options.caFile ? { caFile: resolve(ctx.cwd, options.caFile) } : {}),
          ...(options.certFile ? { certFile: resolve(ctx.cwd, options.certFile) } : {}),
          ...(options.keyFile ? { keyFile: resolve(ctx.cwd, options.keyFile) } : {}),
        };
        const config = await updateContexts(path(), ctx.env, {
          set,
          ...(options.use ? { use: name } : {}),
        });
        emit(
          ctx.io,
          options,
          contextJson(set, config.current),
          (c) => `context ${c.name} → ${c.store}${c.current ? ' (current)' : ''}`,
        );
      }),
    );

  group
    .command('delete')
    .description('Remove a context (and the current-context line when it is the current one)')
    .argument('<name>', 'context name')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (name, options) => {
        await updateContexts(path(), ctx.env, { remove: checkContextName(name) });
        emit(ctx.io, options, { name, deleted: true }, (r) => `deleted context ${r.name}`);
      }),
    );
}
