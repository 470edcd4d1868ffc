/**
 * alliance.v1.Admin over the mesh's MeshStatusView: the operator's view of this node and its
 * peers, answered from memory.
 */
import type { AdminServer } from '../gen/alliance/v1/admin.js';
import type { Logger } from '../lib/logger.js';
import type { MeshStatusView } from '../mesh/index.js';
import { unary } from './handlers.js';

export interface AdminHandlerDeps {
  view: MeshStatusView;
  /** The running build's version, reported as software_version. */
  softwareVersion: string;
  log: Logger;
}

export function createAdminHandlers({ view, softwareVersion, log }: AdminHandlerDeps): AdminServer {
  return {
    getStatus: unary(log, () => {
      const status = view.status();
      return {
        nodeId: status.nodeId,
        cloud: status.cloud,
        node: status.node,
        federation: status.federation,
        softwareVersion,
        startedAt: new Date(status.startedAtMs),
        peers: status.peers,
        origins: status.origins,
        rejections: status.rejections,
      };
    }),
    listPeers: unary(log, () => ({ peers: view.peers() })),
  };
}
