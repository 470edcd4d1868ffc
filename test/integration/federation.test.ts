/**
 * Three clouds over real gRPC and mTLS on 127.0.0.1, each with its own SQLite file:
 * catalogs spread to every node, a node that was down catches up, and a node seeded
 * with one peer finds the rest. Times to converge are printed as FED {...} lines.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { devCatalog } from '../../src/dev/index.js';
import type { CatalogConfig } from '../../src/config/types.js';
import { AdminService } from '../../src/gen/alliance/v1/admin.js';
import { CatalogService } from '../../src/gen/alliance/v1/catalog.js';
import { TestFederation, onFederationChange, waitFor } from './harness.js';

let federation: TestFederation | undefined;

afterEach(async () => {
  await federation?.stop();
  federation = undefined;
});

function report(name: string, figures: Record<string, number>): void {
  console.log(`FED ${JSON.stringify({ name, ...figures })}`);
}

/** The dev catalog of `cloud` as NodeConfig has it, plus one extra endpoint. */
function catalogWithExtraEndpoint(federation: TestFederation, index: number, url: string): CatalogConfig {
  const base = federation.clouds[index]?.config.catalog;
  if (!base) throw new Error('no such cloud');
  return {
    ...base,
    endpoints: [
      ...base.endpoints,
      {
        id: 'extra',
        region: base.regions[0]?.id ?? '',
        serviceId: 'nova',
        interface: 'admin',
        url,
        enabled: true,
      },
    ],
  };
}

function endpointUrlsSeenBy(federation: TestFederation, index: number): string[] {
  return federation
    .node(index)
    .catalog.listEndpoints({})
    .map((e) => `${e.cloud} ${e.url}`)
    .sort();
}

describe('a federation of three clouds', () => {
  it("lists every cloud's endpoints at every node, through the local gRPC API", async () => {
    const startedMs = Date.now();
    federation = await TestFederation.start({ clouds: 3 });
    const nodes = federation.running();
    await waitFor(
      'every node to see three clouds',
      () => nodes.every((n) => n.catalog.listClouds().length === 3),
      onFederationChange(nodes),
    );
    report('three-clouds-converge', { clouds: 3, msFromFirstStart: Date.now() - startedMs });

    const expected = ['cloud-a', 'cloud-b', 'cloud-c']
      .flatMap((cloud) =>
        (devCatalog(cloud).endpoints ?? []).map((e) => ({
          cloud,
          id: e.id,
          url: e.url,
          interface: e.interface,
        })),
      )
      .sort((a, b) => `${a.cloud}/${a.id}`.localeCompare(`${b.cloud}/${b.id}`));
    for (let i = 0; i < 3; i++) {
      const api = federation.localApi(i);
      const response = await api
        .client(CatalogService)
        .listEndpoints({ cloud: '', region: '', serviceType: '', interface: '' });
      api.close();
      const seen = response.endpoints
        .map((e) => ({ cloud: e.cloud, id: e.id, url: e.url, interface: e.interface }))
        .sort((a, b) => `${a.cloud}/${a.id}`.localeCompare(`${b.cloud}/${b.id}`));
      expect(seen).toEqual(expected);
    }

    // Filters answer for the whole federation: one query finds compute in any cloud.
    const api = federation.localApi(2);
    const compute = await api.client(CatalogService).listEndpoints({
      cloud: '',
      region: 'region-a1',
      serviceType: 'compute',
      interface: 'public',
    });
    api.close();
    expect(compute.endpoints.map((e) => e.url)).toEqual(['https://cloud-a.alliance.test:8774/v2.1']);
  });

  it('catches up a node that was stopped while its peers changed their catalogs', async () => {
    federation = await TestFederation.start({ clouds: 3 });
    await federation.fullyConnected();
    const before = federation.node(2).mesh.versions().get('cloud-c/n1') ?? 0;
    await federation.stopNode(2);

    // While cloud-c is down, cloud-a and cloud-b publish new endpoints.
    federation
      .node(0)
      .catalog.publish(catalogWithExtraEndpoint(federation, 0, 'https://admin.cloud-a.test/'));
    federation
      .node(1)
      .catalog.publish(catalogWithExtraEndpoint(federation, 1, 'https://admin.cloud-b.test/'));

    const restartedMs = Date.now();
    const restarted = await federation.startNode(2);
    // Its own state survived the restart, and its versions move on without reuse.
    expect(restarted.catalog.listClouds().map((c) => c.id)).toEqual(['cloud-a', 'cloud-b', 'cloud-c']);
    expect(restarted.mesh.versions().get('cloud-c/n1') ?? 0).toBeGreaterThan(before);

    await waitFor(
      'the restarted node to see both new endpoints',
      () => endpointUrlsSeenBy(federation!, 2).filter((u) => u.includes('admin.cloud-')).length === 2,
      onFederationChange([restarted]),
    );
    report('restarted-node-catches-up', { msFromRestart: Date.now() - restartedMs });
    expect(endpointUrlsSeenBy(federation, 2)).toEqual(endpointUrlsSeenBy(federation, 0));
  });

  it('connects a node seeded with a single peer to every other node', async () => {
    // dev seeds cloud-d (and b, c) with cloud-a only; member records bring the rest.
    federation = await TestFederation.start({ clouds: 4 });
    expect(federation.clouds[3]?.config.seeds).toHaveLength(1);
    await federation.fullyConnected();
    expect(federation.node(3).mesh.connectedPeers()).toEqual(['cloud-a/n1', 'cloud-b/n1', 'cloud-c/n1']);
    const api = federation.localApi(3);
    const status = await api.client(AdminService).getStatus({});
    api.close();
    expect(status.nodeId).toBe('cloud-d/n1');
    expect(status.peers.map((p) => [p.nodeId, p.state])).toEqual([
      ['cloud-a/n1', 2],
      ['cloud-b/n1', 2],
      ['cloud-c/n1', 2],
    ]);
    expect(status.origins.map((o) => o.origin)).toEqual([
      'cloud-a/n1',
      'cloud-b/n1',
      'cloud-c/n1',
      'cloud-d/n1',
    ]);
    expect(status.rejections).toEqual([]);
  });
});
