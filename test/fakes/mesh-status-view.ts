/**
 * A MeshStatusView with a fixed node, two peers, origins and rejection counts.
 */
import { PeerInfo_State, type PeerInfo } from '../../src/gen/alliance/v1/admin.js';
import type { MeshStatus, MeshStatusView } from '../../src/mesh/status-view.js';

export function fixturePeers(): PeerInfo[] {
  return [
    {
      nodeId: 'cloud-b/node-1',
      cloud: 'cloud-b',
      address: '10.0.0.2:7443',
      state: PeerInfo_State.STATE_CONNECTED,
      lastContact: new Date('2024-05-01T10:05:00.000Z'),
      connectedSince: new Date('2024-05-01T10:00:00.000Z'),
      lag: 3n,
      lastError: '',
      outbound: true,
      failedDials: 0,
    },
    {
      nodeId: 'cloud-c/node-2',
      cloud: 'cloud-c',
      address: '10.0.0.3:7443',
      state: PeerInfo_State.STATE_BACKOFF,
      lastContact: new Date('2024-05-01T09:00:00.000Z'),
      connectedSince: undefined,
      lag: 0n,
      lastError: 'connect ECONNREFUSED 10.0.0.3:7443',
      outbound: false,
      failedDials: 4,
    },
  ];
}

export function fixtureMeshStatus(): MeshStatus {
  return {
    nodeId: 'cloud-a/node-1',
    cloud: 'cloud-a',
    node: 'node-1',
    federation: 'test-federation',
    startedAtMs: Date.parse('2024-05-01T09:59:00.000Z'),
    peers: fixturePeers(),
    origins: [
      { origin: 'cloud-a/node-1', version: 42n, bestKnownVersion: 42n, lag: 0n, recordCount: 7n },
      { origin: 'cloud-b/node-1', version: 10n, bestKnownVersion: 13n, lag: 3n, recordCount: 4n },
    ],
    rejections: [{ reason: 'bad_signature', count: 2n }],
  };
}

export class FakeMeshStatusView implements MeshStatusView {
  constructor(private readonly current: MeshStatus = fixtureMeshStatus()) {}

  status(): MeshStatus {
    return this.current;
  }

  peers(): PeerInfo[] {
    return this.current.peers;
  }
}
