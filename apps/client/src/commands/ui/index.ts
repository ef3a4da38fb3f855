/**
 * `p2 ui [--listen HOST:PORT] [--allow-remote] [--open]` — serves the read-only fleet dashboard
 * (`@p2/ui`) from the store the other commands use, until SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import {
  DEFAULT_LISTEN,
  isLoopback,
  type ListenAddress,
  parseListen,
  startUiServer,
  UiError,
  UiErrorCode,
} from '@p2/ui';
import { following } from '../../lib/follow.js';

export function registerUiCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('ui')
      .description(
        'Serve a live, read-only web dashboard of the fleet (loopback unless told otherwise)',
      )
      .option(
        '--listen <host:port>',
        `address to serve on (default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port})`,
      )
      .option(
        '--allow-remote',
        'allow a non-loopback --listen address (the dashboard has no login)',
      )
      .option('--open', 'open the dashboard in the desktop browser (xdg-open)'),
  ).action(
    run(ctx, async (options) => {
      const listen = listenAddress(options.listen, options.allowRemote === true);
      if (!isLoopback(listen.host)) {
        ctx.io.stderr(
          `${style.yellow(ctx.io, 'warning')}: serving the dashboard on ${listen.host}: anyone who reaches it sees the whole fleet (it has no login)\n`,
        );
      }
      await following(ctx, ({ signal }) =>
        withStore(ctx, options, async (store) => {
          const ui = await startUiServer({
            store,
            listen,
            allowRemote: options.allowRemote === true,
          });
          ctx.io.stdout(`p2 ui: serving ${ui.url} (read-only; Ctrl-C stops)\n`);
          if (options.open) {
            // Best effort: a machine without a desktop still serves the page.
            spawn('xdg-open', [ui.url], { stdio: 'ignore', detached: true })
              .on('error', () => {})
              .unref();
          }
          await new Promise<void>((resolve) => {
            if (signal.aborted) resolve();
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
          await ui.close();
        }),
      );
    }),
  );
}

/** The --listen address; a malformed one, or a remote one without --allow-remote, is a usage error. */
function listenAddress(text: string | undefined, allowRemote: boolean): ListenAddress {
  try {
    const listen = text === undefined ? DEFAULT_LISTEN : parseListen(text);
    if (!isLoopback(listen.host) && !allowRemote)
      throw new UiError(
        UiErrorCode.REMOTE_NOT_ALLOWED,
        `--listen ${text} is not a loopback address: the dashboard has no login`,
        { hint: 'add --allow-remote to serve it to other hosts anyway' },
      );
    return listen;
  } catch (error) {
    if (!(error instanceof UiError)) throw error;
    throw new CliExit(
      ExitCode.USAGE,
      `error: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}`,
    );
  }
}
