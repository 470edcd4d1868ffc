import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.js';
import { errorMessage } from '../../lib/errors.js';
import { createNode } from '../../node.js';
import { untilStopSignal } from '../stop-signal.js';

/** `alliance serve --config FILE`: runs one node until SIGINT or SIGTERM. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run an Alliance node from a configuration file (see docs/CONFIGURATION.md)')
    .requiredOption('-c, --config <file>', 'the node configuration (YAML)')
    .action(async (options: { config: string }, command: Command) => {
      let node;
      try {
        node = createNode(loadConfig(options.config));
      } catch (err) {
        // Every problem of an invalid config, one per line, each naming its key.
        const message = err instanceof ConfigError ? err.message : `cannot start: ${errorMessage(err)}`;
        command.error(`alliance: ${message}`, { exitCode: 2 });
      }
      try {
        await node.start();
      } catch (err) {
        command.error(`alliance: cannot start: ${errorMessage(err)}`, { exitCode: 1 });
      }
      await untilStopSignal();
      await node.stop();
    });
}
