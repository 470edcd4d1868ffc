import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CatalogClient,
  WatchCatalogResponse_Kind,
  type CloudCatalog,
  type Endpoint,
  type ListEndpointsResponse,
  type ListServicesResponse,
} from '../../../src/gen/alliance/v1/catalog.js';
import { fixtureCatalogs } from '../../fakes/catalog-view.js';
import {
  call,
  failure,
  insecure,
  reader,
  startLocalServer,
  type RunningServer,
} from './local-server-harness.js';

const ids = (items: { cloud: string; id: string }[]): string[] =>
  items.map((item) => `${item.cloud}/${item.id}`);

function fixture(cloud: string): CloudCatalog {
  const catalog = fixtureCatalogs().find((c) => c.cloud === cloud);
  if (!catalog) throw new Error(`no fixture for ${cloud}`);
  return catalog;
}

describe('Catalog list calls', () => {
  let running: RunningServer;
  let client: CatalogClient;

  beforeEach(async () => {
    running = await startLocalServer();
    client = new CatalogClient(running.address, insecure);
  });

  afterEach(async () => {
    client.close();
    await running.server.stop();
  });

  it('ListClouds returns every cloud with its counts and publishing nodes', async () => {
    const response = await call((cb) => client.listClouds({}, cb));
    const updatedAt = new Date('2024-05-01T10:00:00.000Z');
    expect(response).toEqual({
      clouds: [
        {
          id: 'cloud-a',
          nodes: ['cloud-a/node-1'],
          regionCount: 2,
          serviceCount: 2,
          endpointCount: 3,
          updatedAt,
        },
        {
          id: 'cloud-b',
          nodes: ['cloud-b/node-1'],
          regionCount: 1,
          serviceCount: 2,
          endpointCount: 2,
          updatedAt,
        },
        {
          id: 'cloud-c',
          nodes: ['cloud-c/node-2'],
          regionCount: 0,
          serviceCount: 0,
          endpointCount: 0,
          updatedAt,
        },
      ],
    });
  });

  it('ListRegions without a filter returns the regions of every cloud', async () => {
    const response = await call((cb) => client.listRegions({ cloud: '' }, cb));
    expect(response).toEqual({ regions: [...fixture('cloud-a').regions, ...fixture('cloud-b').regions] });
  });

  it('ListRegions filtered by cloud returns only that cloud’s regions', async () => {
    const response = await call((cb) => client.listRegions({ cloud: 'cloud-a' }, cb));
    expect(response).toEqual({
      regions: [
        { cloud: 'cloud-a', id: 'RegionOne', description: 'RegionOne of cloud-a', parentRegionId: '' },
        {
          cloud: 'cloud-a',
          id: 'RegionTwo',
          description: 'RegionTwo of cloud-a',
          parentRegionId: 'RegionOne',
        },
      ],
    });
  });

  it('ListRegions of an unknown cloud returns an empty list', async () => {
    expect(await call((cb) => client.listRegions({ cloud: 'cloud-z' }, cb))).toEqual({ regions: [] });
  });

  it.each([
    [
      { cloud: '', type: '' },
      ['cloud-a/svc-a-nova', 'cloud-a/svc-a-keystone', 'cloud-b/svc-b-neutron', 'cloud-b/svc-b-nova'],
    ],
    [{ cloud: 'cloud-b', type: '' }, ['cloud-b/svc-b-neutron', 'cloud-b/svc-b-nova']],
    [{ cloud: '', type: 'compute' }, ['cloud-a/svc-a-nova', 'cloud-b/svc-b-nova']],
    [{ cloud: 'cloud-a', type: 'compute' }, ['cloud-a/svc-a-nova']],
    [{ cloud: 'cloud-a', type: 'network' }, []],
  ])('ListServices with filter %j returns exactly %j', async (request, expected) => {
    const response = await call<ListServicesResponse>((cb) => client.listServices(request, cb));
    expect(ids(response.services)).toEqual(expected);
  });

  it('ListServices returns whole service records', async () => {
    const response = await call((cb) => client.listServices({ cloud: 'cloud-b', type: 'network' }, cb));
    expect(response).toEqual({
      services: [
        {
          cloud: 'cloud-b',
          id: 'svc-b-neutron',
          type: 'network',
          name: 'neutron',
          description: 'neutron service',
          enabled: true,
        },
      ],
    });
  });

  const allEndpoints = [
    'cloud-a/ep-a-nova-public',
    'cloud-a/ep-a-nova-internal',
    'cloud-a/ep-a-keystone-public',
    'cloud-b/ep-b-neutron-public',
    'cloud-b/ep-b-nova-admin',
  ];
  const noFilter = { cloud: '', region: '', serviceType: '', interface: '' };

  it.each([
    [{}, allEndpoints],
    [
      { cloud: 'cloud-a' },
      ['cloud-a/ep-a-nova-public', 'cloud-a/ep-a-nova-internal', 'cloud-a/ep-a-keystone-public'],
    ],
    [{ region: 'RegionTwo' }, ['cloud-a/ep-a-keystone-public']],
    [
      { serviceType: 'compute' },
      ['cloud-a/ep-a-nova-public', 'cloud-a/ep-a-nova-internal', 'cloud-b/ep-b-nova-admin'],
    ],
    [
      { interface: 'public' },
      ['cloud-a/ep-a-nova-public', 'cloud-a/ep-a-keystone-public', 'cloud-b/ep-b-neutron-public'],
    ],
    [
      { cloud: 'cloud-a', region: 'RegionOne', serviceType: 'compute', interface: 'internal' },
      ['cloud-a/ep-a-nova-internal'],
    ],
    [{ cloud: 'cloud-b', interface: 'internal' }, []],
  ])('ListEndpoints with filter %j returns exactly %j', async (filter, expected) => {
    const response = await call<ListEndpointsResponse>((cb) =>
      client.listEndpoints({ ...noFilter, ...filter }, cb),
    );
    expect(ids(response.endpoints)).toEqual(expected);
  });

  it('ListEndpoints returns whole endpoint records', async () => {
    const response = await call((cb) =>
      client.listEndpoints({ ...noFilter, cloud: 'cloud-b', serviceType: 'network' }, cb),
    );
    const expected: Endpoint = {
      cloud: 'cloud-b',
      id: 'ep-b-neutron-public',
      region: 'RegionOne',
      serviceId: 'svc-b-neutron',
      serviceType: 'network',
      serviceName: 'neutron',
      interface: 'public',
      url: 'https://network.regionone.cloud-b.example:8443/',
      enabled: true,
    };
    expect(response).toEqual({ endpoints: [expected] });
  });

  it.each([
    ['cloud', { ...noFilter, cloud: 'c'.repeat(257) }],
    ['region', { ...noFilter, region: 'r'.repeat(257) }],
    ['service_type', { ...noFilter, serviceType: 's'.repeat(257) }],
    ['interface', { ...noFilter, interface: 'i'.repeat(257) }],
  ])(
    'ListEndpoints refuses an over-long %s filter with INVALID_ARGUMENT naming it',
    async (field, request) => {
      expect(await failure(call((cb) => client.listEndpoints(request, cb)))).toEqual({
        code: status.INVALID_ARGUMENT,
        details: `${field} is 257 bytes long; the limit is 256 bytes`,
      });
    },
  );

  it('counts filter length in UTF-8 bytes, not characters', async () => {
    // 129 two-byte characters: 258 bytes.
    expect(await failure(call((cb) => client.listRegions({ cloud: 'é'.repeat(129) }, cb)))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'cloud is 258 bytes long; the limit is 256 bytes',
    });
  });

  it('accepts a filter of exactly the limit', async () => {
    expect(await call((cb) => client.listServices({ cloud: '', type: 't'.repeat(256) }, cb))).toEqual({
      services: [],
    });
  });
});

describe('WatchCatalog', () => {
  let running: RunningServer;
  let client: CatalogClient;

  const start = async (
    limits: { watchersMax?: number; watchQueueMessagesMax?: number } = {},
  ): Promise<void> => {
    running = await startLocalServer({ limits });
    client = new CatalogClient(running.address, insecure);
  };

  afterEach(async () => {
    client.close();
    await running.server.stop();
  });

  const updatedB: CloudCatalog = { ...fixture('cloud-b'), publishedBy: 'cloud-b/node-2', regions: [] };

  it('sends every cloud as a snapshot, then SNAPSHOT_END, then updates and removals as they happen', async () => {
    await start();
    const watch = reader(client.watchCatalog({ cloud: '' }));
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT,
      catalog: fixture('cloud-a'),
    });
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT,
      catalog: fixture('cloud-b'),
    });
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT,
      catalog: fixture('cloud-c'),
    });
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT_END,
      catalog: undefined,
    });

    running.catalog.push({ kind: 'updated', catalog: updatedB });
    expect(await watch.next()).toEqual({ kind: WatchCatalogResponse_Kind.KIND_UPDATED, catalog: updatedB });
    running.catalog.push({ kind: 'removed', catalog: fixture('cloud-c') });
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_REMOVED,
      catalog: fixture('cloud-c'),
    });
  });

  it('with a cloud filter, sends only that cloud’s snapshot and changes', async () => {
    await start();
    const watch = reader(client.watchCatalog({ cloud: 'cloud-b' }));
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT,
      catalog: fixture('cloud-b'),
    });
    expect(await watch.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT_END,
      catalog: undefined,
    });

    running.catalog.push({ kind: 'removed', catalog: fixture('cloud-a') });
    running.catalog.push({ kind: 'updated', catalog: updatedB });
    expect(await watch.next()).toEqual({ kind: WatchCatalogResponse_Kind.KIND_UPDATED, catalog: updatedB });
  });

  it('unsubscribes from the view when the client cancels', async () => {
    await start();
    const stream = client.watchCatalog({ cloud: '' });
    stream.on('error', () => {}); // the client's own CANCELLED
    const watch = reader(stream);
    for (let i = 0; i < 4; i++) await watch.next();
    expect(running.catalog.listenerCount).toBe(1);
    stream.cancel();
    await running.catalog.whenListenerCount(0);
    expect(running.catalog.listenerCount).toBe(0);
  });

  it('refuses a watcher beyond watchersMax with RESOURCE_EXHAUSTED and accepts one again after a cancel', async () => {
    await start({ watchersMax: 2 });
    const first = client.watchCatalog({ cloud: 'cloud-c' });
    first.on('error', () => {});
    const firstWatch = reader(first);
    const secondWatch = reader(client.watchCatalog({ cloud: 'cloud-c' }));
    for (const watch of [firstWatch, secondWatch]) {
      await watch.next();
      expect((await watch.next()).kind).toBe(WatchCatalogResponse_Kind.KIND_SNAPSHOT_END);
    }

    expect(await reader(client.watchCatalog({ cloud: '' })).end()).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: 'this node already serves 2 catalog watchers (the limit); retry later',
      messages: [],
    });

    first.cancel();
    await running.catalog.whenListenerCount(1);
    const third = reader(client.watchCatalog({ cloud: 'cloud-c' }));
    expect(await third.next()).toEqual({
      kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT,
      catalog: fixture('cloud-c'),
    });
  });

  it('ends a watcher that falls more than watchQueueMessagesMax changes behind with RESOURCE_EXHAUSTED', async () => {
    await start({ watchQueueMessagesMax: 2 });
    const watch = reader(client.watchCatalog({ cloud: 'cloud-b' }));
    await watch.next();
    await watch.next();
    // Pushed in one synchronous burst: the stream cannot send any of them before the third.
    for (let i = 0; i < 3; i++) running.catalog.push({ kind: 'updated', catalog: updatedB });
    expect(await watch.end()).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: 'watcher fell behind: more than 2 catalog changes waiting; reconnect for a fresh snapshot',
      messages: [],
    });
    await running.catalog.whenListenerCount(0);
  });

  it('ends open watchers with UNAVAILABLE when the server stops', async () => {
    await start();
    const watch = reader(client.watchCatalog({ cloud: 'cloud-a' }));
    await watch.next();
    await watch.next();
    const stopped = running.server.stop();
    expect(await watch.end()).toEqual({
      code: status.UNAVAILABLE,
      details: 'the node is shutting down',
      messages: [],
    });
    await stopped;
    expect(running.catalog.listenerCount).toBe(0);
  });
});
