/**
 * `alliance status`: this node, its peers, how far it is behind each origin, and what it refused,
 * from Admin.GetStatus.
 */
import type { Command } from 'commander';
import {
  AdminService,
  GetStatusResponse,
  type OriginStatus,
  type RejectionCount,
} from '../../gen/alliance/v1/admin.js';
import { formatAgo, formatTimestamp, renderFields, renderJson, renderTable, type Column } from '../output.js';
import type { CliContext } from '../program.js';
import { renderPeersTable } from './peers.js';

export function registerStatusCommand(program: Command, context: CliContext): void {
  program
    .command('status')
    .description('show this node, its peers and its replication state')
    .option('--json', 'print the response as proto3 JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(AdminService).getStatus({});
        context.out(
          options.json
            ? renderJson(GetStatusResponse.toJSON(response))
            : renderStatus(response, context.nowMs()),
        );
      });
    });
}

const originColumns: readonly Column<OriginStatus>[] = [
  { header: 'ORIGIN', value: (origin) => origin.origin },
  { header: 'VERSION', value: (origin) => origin.version.toString(), align: 'right' },
  { header: 'BEST KNOWN', value: (origin) => origin.bestKnownVersion.toString(), align: 'right' },
  { header: 'LAG', value: (origin) => origin.lag.toString(), align: 'right' },
  { header: 'RECORDS', value: (origin) => origin.recordCount.toString(), align: 'right' },
];

const rejectionColumns: readonly Column<RejectionCount>[] = [
  { header: 'REASON', value: (rejection) => rejection.reason },
  { header: 'COUNT', value: (rejection) => rejection.count.toString(), align: 'right' },
];

export function renderStatus(status: GetStatusResponse, nowMs: number): string {
  const started =
    status.startedAt === undefined
      ? '-'
      : `${formatTimestamp(status.startedAt)} (${formatAgo(status.startedAt, nowMs)})`;
  const sections = [
    renderFields([
      ['Node', status.nodeId],
      ['Cloud', status.cloud],
      ['Federation', status.federation],
      ['Version', status.softwareVersion],
      ['Started', started],
    ]),
    section('Peers', status.peers.length, () => renderPeersTable(status.peers, nowMs)),
    section('Origins', status.origins.length, () => renderTable(originColumns, status.origins)),
  ];
  // Rejections are rare and alarming: shown only when there are some.
  if (status.rejections.length > 0) {
    sections.push(
      section('Rejected records', status.rejections.length, () =>
        renderTable(rejectionColumns, status.rejections),
      ),
    );
  }
  return sections.join('\n');
}

function section(title: string, count: number, renderBody: () => string): string {
  return count === 0 ? `${title}: none\n` : `${title} (${count}):\n${renderBody()}`;
}
