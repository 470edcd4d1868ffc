/**
 * `alliance peers`: the mesh connections of this node, from Admin.ListPeers.
 */
import type { Command } from 'commander';
import {
  AdminService,
  ListPeersResponse,
  PeerInfo_State,
  type PeerInfo,
} from '../../gen/alliance/v1/admin.js';
import { formatAgo, renderJson, renderTable, type Column } from '../output.js';
import type { CliContext } from '../program.js';

export function registerPeersCommand(program: Command, context: CliContext): void {
  program
    .command('peers')
    .description('list the peers of this node and the state of each connection')
    .option('--json', 'print the response as proto3 JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(AdminService).listPeers({});
        context.out(
          options.json
            ? renderJson(ListPeersResponse.toJSON(response))
            : renderPeersTable(response.peers, context.nowMs()),
        );
      });
    });
}

const stateLabels: Readonly<Record<PeerInfo_State, string>> = {
  [PeerInfo_State.STATE_UNSPECIFIED]: 'unspecified',
  [PeerInfo_State.STATE_CONNECTING]: 'connecting',
  [PeerInfo_State.STATE_CONNECTED]: 'connected',
  [PeerInfo_State.STATE_BACKOFF]: 'backoff',
  [PeerInfo_State.STATE_IDLE]: 'idle',
  [PeerInfo_State.UNRECOGNIZED]: 'unrecognized',
};

/** A newer node may send a state this CLI does not know; ts-proto then passes the number through. */
export function peerStateLabel(state: PeerInfo_State): string {
  return (stateLabels as Partial<Record<number, string>>)[state] ?? `state ${state}`;
}

export function renderPeersTable(peers: readonly PeerInfo[], nowMs: number): string {
  const columns: Column<PeerInfo>[] = [
    { header: 'NODE', value: (peer) => peer.nodeId },
    { header: 'CLOUD', value: (peer) => peer.cloud },
    { header: 'ADDRESS', value: (peer) => peer.address },
    { header: 'STATE', value: (peer) => peerStateLabel(peer.state) },
    { header: 'LAST CONTACT', value: (peer) => formatAgo(peer.lastContact, nowMs) },
    { header: 'LAG', value: (peer) => peer.lag.toString(), align: 'right' },
    { header: 'ERROR', value: (peer) => peer.lastError },
  ];
  return renderTable(columns, peers);
}
