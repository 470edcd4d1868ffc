/**
 * The `alliance` command line: one commander program whose client commands call the local API.
 *
 * Everything the program touches comes in through `CliIo` (output, environment, clock, an abort
 * signal), so tests run it in-process against a real gRPC server and read back exactly what an
 * operator would see. Every failure ends the same way: one line on stderr, then a CommanderError
 * carrying the exit code (commander's `exitOverride`), which `runCli` turns into the process's
 * exit code. No stack trace reaches the operator.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { systemClock } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import { softwareVersion } from '../lib/version.js';
import { connectLocalApi, LocalApiError, type LocalApiConnection } from './client.js';
import { toOneLine } from './output.js';
import { registerCatalogCommand } from './commands/catalog.js';
import { registerCertsCommand } from './commands/certs.js';
import { registerDevCommand } from './commands/dev.js';
import { registerEventsCommand } from './commands/events.js';
import { registerIdentityCommand } from './commands/identity.js';
import { registerPeersCommand } from './commands/peers.js';
import { registerProvisionCommand } from './commands/provision.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStatusCommand } from './commands/status.js';
import { registerTokenCommand } from './commands/token.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** What `-` reads (e.g. `token validate -`). Default: the process's stdin. */
  stdin?: AsyncIterable<Uint8Array | string>;
  /** Reads "now" for relative times (`2s ago`). Default: the system clock. */
  nowMs?: () => number;
  /** Aborting ends long-running commands (`catalog watch`) cleanly, with exit code 0; for embedding and tests. */
  signal?: AbortSignal;
  /**
   * Waits `delayMs` between polls (`provision create --wait`). Default: a real timer, which
   * (unlike systemClock's, unref'd) keeps the process alive while it waits. Tests pass one that
   * moves their clock instead of sleeping.
   */
  sleep?: (delayMs: number) => Promise<void>;
  /** Ids the CLI makes up (`provision create` without `--request-id`). Default: crypto.randomUUID. */
  randomId?: () => string;
}

/** What a client command needs from the program; built once per program. */
export interface CliContext {
  readonly out: (text: string) => void;
  readonly nowMs: () => number;
  readonly signal: AbortSignal | undefined;
  readonly sleep: (delayMs: number) => Promise<void>;
  readonly randomId: () => string;
  /**
   * Connects to the local API named by the global options, runs `action`, then closes the channel.
   * A failure is written as one `alliance: <reason>` line and rethrown as a CommanderError (exit 1).
   */
  withLocalApi(command: Command, action: (api: LocalApiConnection) => Promise<void>): Promise<void>;
}

export interface GlobalOptions {
  address: string;
  timeout: number;
}

export const defaultAddress = '127.0.0.1:7700';
export const defaultTimeoutMs = 5_000;
/** A call that needs longer than an hour is a wedged node, not a slow one. */
const timeoutMsMax = 3_600_000;

export function createProgram(io: CliIo): Command {
  const program = new Command('alliance');
  // Output and exit settings first: subcommands copy them when they are created.
  program
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (text, write) => write(text),
    })
    .exitOverride()
    .description('Federates OpenStack clouds. Client commands talk to the local node API.')
    .version(softwareVersion, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option(
      '--address <addr>',
      'local API address, host:port or unix:/path (env ALLIANCE_ADDRESS)',
      nonEmpty(io.env['ALLIANCE_ADDRESS']) ?? defaultAddress,
    )
    .option(
      '--timeout <ms>',
      'deadline of each call to the local API, in ms',
      parseTimeoutMs,
      defaultTimeoutMs,
    );

  const context: CliContext = {
    out: io.stdout,
    nowMs: io.nowMs ?? (() => systemClock.nowMs()),
    signal: io.signal,
    sleep: io.sleep ?? ((delayMs) => sleepFor(delayMs)),
    randomId: io.randomId ?? randomUUID,
    async withLocalApi(command, action) {
      let api: LocalApiConnection | undefined;
      try {
        const { address, timeout } = command.optsWithGlobals<GlobalOptions>();
        api = connectLocalApi({ address, timeoutMs: timeout });
        await action(api);
      } catch (err) {
        if (err instanceof CommanderError) throw err;
        const code = err instanceof LocalApiError ? err.code.toLowerCase() : 'failed';
        // Writes the line, then throws CommanderError through exitOverride.
        command.error(`alliance: ${toOneLine(errorMessage(err))}`, { exitCode: 1, code: `alliance.${code}` });
      } finally {
        api?.close();
      }
    },
  };

  registerStatusCommand(program, context);
  registerPeersCommand(program, context);
  registerCatalogCommand(program, context);
  registerTokenCommand(program, context, io);
  registerIdentityCommand(program, context);
  registerEventsCommand(program, context);
  registerProvisionCommand(program, context);
  registerServeCommand(program);
  registerDevCommand(program);
  registerCertsCommand(program);
  return program;
}

/**
 * Runs the program on `argv` (as in `process.argv`) and returns the exit code. Whatever goes wrong
 * is one line on stderr: commander has already written its own errors; anything else is written here.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await createProgram(io).parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    io.stderr(`alliance: ${toOneLine(errorMessage(err))}\n`);
    return 1;
  }
}

function parseTimeoutMs(value: string): number {
  const timeoutMs = Number(value);
  if (!/^\d+$/.test(value) || timeoutMs < 1 || timeoutMs > timeoutMsMax) {
    throw new InvalidArgumentError(`expected whole milliseconds from 1 to ${timeoutMsMax}.`);
  }
  return timeoutMs;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
