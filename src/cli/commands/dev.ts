import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import pino from 'pino';
import { devBasePortDefault, devCloudsMax, devPorts, prepareDevFederation } from '../../dev/index.js';
import { errorMessage } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { createNode } from '../../node.js';
import type { AllianceNode } from '../../node.js';
import { renderTable } from '../output.js';
import { untilStopSignal } from '../stop-signal.js';

interface DevOptions {
  clouds: number;
  basePort: number;
  dir: string;
  logLevel: string;
}

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

/**
 * `alliance dev`: a whole federation on loopback in one process, each cloud a full node
 * with its own certificate, SQLite file and ports. State is kept in --dir, so a second
 * run resumes where the first stopped.
 */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('run a local federation of N clouds on loopback with generated certificates')
    .option('--clouds <n>', `how many clouds (1-${devCloudsMax})`, wholeNumber(1, devCloudsMax), 3)
    .option(
      '--base-port <port>',
      'cloud i listens on P+10i (local API), P+10i+1 (peer), P+10i+2 (metrics)',
      wholeNumber(1024, 65_000),
      devBasePortDefault,
    )
    .option('--dir <dir>', 'where the CA, certificates, configs and data live', '.alliance-dev')
    .option('--log-level <level>', 'node log level (logs go to stderr)', 'warn')
    .action(async (options: DevOptions, command: Command) => {
      const log = createLogger({ level: options.logLevel, destination: pino.destination(2) });
      const nodes: AllianceNode[] = [];
      try {
        const clouds = prepareDevFederation({
          dir: options.dir,
          clouds: options.clouds,
          portsOf: devPorts(options.basePort),
        });
        for (const cloud of clouds) nodes.push(createNode(cloud.config, { log }));
        const rows: { node: string; local: string; peer: string; http: string; config: string }[] = [];
        for (const [index, node] of nodes.entries()) {
          const addresses = await node.start();
          rows.push({
            node: node.config.nodeId,
            local: addresses.local,
            peer: addresses.peer,
            http: addresses.http ?? '-',
            config: clouds[index]?.configPath ?? '',
          });
        }
        const addressOf = (node: AllianceNode | undefined): string => {
          const local = node?.config.listen.local;
          return local?.kind === 'tcp' ? `${local.host}:${local.port}` : '';
        };
        const firstAddress = addressOf(nodes[0]);
        const secondAddress = addressOf(nodes[1] ?? nodes[0]);
        process.stdout.write(
          [
            `Alliance dev federation: ${nodes.length} clouds on loopback (state in ${options.dir}).`,
            '',
            renderTable(
              [
                { header: 'NODE', value: (r) => r.node },
                { header: 'LOCAL API', value: (r) => r.local },
                { header: 'PEER', value: (r) => r.peer },
                { header: 'METRICS', value: (r) => r.http },
                { header: 'CONFIG', value: (r) => r.config },
              ],
              rows,
            ),
            '',
            'Try discovery:',
            `  npx alliance --address ${firstAddress} catalog            # every cloud's endpoints`,
            `  npx alliance --address ${firstAddress} status`,
            `  npx buf curl --protocol grpc --http2-prior-knowledge --connect-timeout 5 --timeout 10s --list-services http://${firstAddress}`,
            '',
            'Each cloud has users demo/demo (member of project demo) and admin/admin (admin of project admin);',
            "a remote cloud's member is mapped to member of the local project remote-<that cloud>.",
            'Try single sign-on and sign-out:',
            `  T=$(npx alliance --address ${firstAddress} token issue --user demo --password demo --project demo)`,
            `  npx alliance --address ${secondAddress} token validate "$T"   # another cloud accepts it`,
            `  npx alliance --address ${firstAddress} token revoke --token "$T"`,
            `  npx alliance --address ${secondAddress} token validate "$T"   # revoked there too`,
            '',
            'Ctrl-C stops every node.',
            '',
          ].join('\n'),
        );
      } catch (err) {
        await Promise.allSettled(nodes.map((node) => node.stop()));
        command.error(`alliance: dev federation failed to start: ${errorMessage(err)}`, { exitCode: 1 });
      }
      await untilStopSignal();
      process.stdout.write('stopping...\n');
      await Promise.all(nodes.map((node) => node.stop()));
      process.stdout.write('stopped.\n');
    });
}
