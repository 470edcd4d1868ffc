/**
 * The operator's view of the mesh, as the local Admin API consumes it.
 */
import type { OriginStatus, PeerInfo, RejectionCount } from '../gen/alliance/v1/admin.js';

export interface MeshStatus {
  nodeId: string;
  cloud: string;
  node: string;
  federation: string;
  startedAtMs: number;
  peers: PeerInfo[];
  origins: OriginStatus[];
  rejections: RejectionCount[];
}

export interface MeshStatusView {
  status(): MeshStatus;
  peers(): PeerInfo[];
}
