/**
 * Prometheus metrics for the mesh, read from its status when scraped (no bookkeeping
 * on the hot path).
 */
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { PeerInfo_State } from '../gen/alliance/v1/admin.js';
import type { Mesh } from './mesh.js';

export function createMeshMetrics(mesh: Mesh, registry: Registry): void {
  new Gauge({
    name: 'alliance_mesh_peers',
    help: 'Peers known to this node, by connection state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const peer of mesh.peers()) this.inc({ state: PeerInfo_State[peer.state] ?? 'unknown' });
    },
  });
  new Gauge({
    name: 'alliance_mesh_records_rejected',
    help: 'Records refused since start, by reason (bad signature, unknown origin, ...).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const rejection of mesh.status().rejections)
        this.set({ reason: rejection.reason }, Number(rejection.count));
    },
  });
  new Gauge({
    name: 'alliance_mesh_origin_lag_versions',
    help: 'Per origin, how many versions this node is behind the best version its peers announced.',
    labelNames: ['origin'],
    registers: [registry],
    collect() {
      this.reset();
      for (const origin of mesh.status().origins) this.set({ origin: origin.origin }, Number(origin.lag));
    },
  });
}
