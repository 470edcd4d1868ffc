/**
 * An in-memory CatalogView with a small fixed federation (cloud-a, cloud-b, cloud-c), whose
 * changes a test pushes by hand; it counts watch listeners so a test can wait for a stream's
 * cleanup instead of sleeping.
 */
import type { CatalogChange, CatalogFilter, CatalogView } from '../../src/catalog/view.js';
import type {
  CloudCatalog,
  CloudInfo,
  Endpoint,
  Region,
  Service,
} from '../../src/gen/alliance/v1/catalog.js';

const publishedAt = new Date('2024-05-01T10:00:00.000Z');

function region(cloud: string, id: string, parentRegionId = ''): Region {
  return { cloud, id, description: `${id} of ${cloud}`, parentRegionId };
}

function service(cloud: string, id: string, type: string, name: string): Service {
  return { cloud, id, type, name, description: `${name} service`, enabled: true };
}

function endpoint(cloud: string, id: string, regionId: string, svc: Service, iface: string): Endpoint {
  return {
    cloud,
    id,
    region: regionId,
    serviceId: svc.id,
    serviceType: svc.type,
    serviceName: svc.name,
    interface: iface,
    url: `https://${svc.type}.${regionId.toLowerCase()}.${cloud}.example:8443/`,
    enabled: true,
  };
}

export function fixtureCatalogs(): CloudCatalog[] {
  const novaA = service('cloud-a', 'svc-a-nova', 'compute', 'nova');
  const keystoneA = service('cloud-a', 'svc-a-keystone', 'identity', 'keystone');
  const neutronB = service('cloud-b', 'svc-b-neutron', 'network', 'neutron');
  const novaB = service('cloud-b', 'svc-b-nova', 'compute', 'nova');
  return [
    {
      cloud: 'cloud-a',
      publishedBy: 'cloud-a/node-1',
      publishedAt,
      regions: [region('cloud-a', 'RegionOne'), region('cloud-a', 'RegionTwo', 'RegionOne')],
      services: [novaA, keystoneA],
      endpoints: [
        endpoint('cloud-a', 'ep-a-nova-public', 'RegionOne', novaA, 'public'),
        endpoint('cloud-a', 'ep-a-nova-internal', 'RegionOne', novaA, 'internal'),
        endpoint('cloud-a', 'ep-a-keystone-public', 'RegionTwo', keystoneA, 'public'),
      ],
    },
    {
      cloud: 'cloud-b',
      publishedBy: 'cloud-b/node-1',
      publishedAt,
      regions: [region('cloud-b', 'RegionOne')],
      services: [neutronB, novaB],
      endpoints: [
        endpoint('cloud-b', 'ep-b-neutron-public', 'RegionOne', neutronB, 'public'),
        endpoint('cloud-b', 'ep-b-nova-admin', 'RegionOne', novaB, 'admin'),
      ],
    },
    {
      cloud: 'cloud-c',
      publishedBy: 'cloud-c/node-2',
      publishedAt,
      regions: [],
      services: [],
      endpoints: [],
    },
  ];
}

const matches = (wanted: string | undefined, actual: string): boolean =>
  wanted === undefined || wanted === '' || wanted === actual;

export class FakeCatalogView implements CatalogView {
  private readonly catalogs = new Map<string, CloudCatalog>();
  private readonly listeners = new Set<(change: CatalogChange) => void>();
  private readonly countWaiters: { count: number; resolve: () => void }[] = [];

  constructor(catalogs: CloudCatalog[] = fixtureCatalogs()) {
    for (const catalog of catalogs) this.catalogs.set(catalog.cloud, catalog);
  }

  listClouds(): CloudInfo[] {
    return [...this.catalogs.values()].map((c) => ({
      id: c.cloud,
      nodes: [c.publishedBy],
      regionCount: c.regions.length,
      serviceCount: c.services.length,
      endpointCount: c.endpoints.length,
      updatedAt: c.publishedAt,
    }));
  }

  listRegions(filter: Pick<CatalogFilter, 'cloud'>): Region[] {
    return this.all((c) => c.regions).filter((r) => matches(filter.cloud, r.cloud));
  }

  listServices(filter: Pick<CatalogFilter, 'cloud' | 'serviceType'>): Service[] {
    return this.all((c) => c.services).filter(
      (s) => matches(filter.cloud, s.cloud) && matches(filter.serviceType, s.type),
    );
  }

  listEndpoints(filter: CatalogFilter): Endpoint[] {
    return this.all((c) => c.endpoints).filter(
      (e) =>
        matches(filter.cloud, e.cloud) &&
        matches(filter.region, e.region) &&
        matches(filter.serviceType, e.serviceType) &&
        matches(filter.interface, e.interface),
    );
  }

  snapshot(cloud?: string): CloudCatalog[] {
    return [...this.catalogs.values()].filter((c) => matches(cloud, c.cloud));
  }

  watch(listener: (change: CatalogChange) => void): () => void {
    this.listeners.add(listener);
    this.settleWaiters();
    return () => {
      this.listeners.delete(listener);
      this.settleWaiters();
    };
  }

  /** Applies a change and tells every watcher, synchronously, as the real view does. */
  push(change: CatalogChange): void {
    if (change.kind === 'removed') this.catalogs.delete(change.catalog.cloud);
    else this.catalogs.set(change.catalog.cloud, change.catalog);
    for (const listener of [...this.listeners]) listener(change);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Resolves once exactly `count` watch listeners are subscribed. */
  whenListenerCount(count: number): Promise<void> {
    if (this.listeners.size === count) return Promise.resolve();
    return new Promise((resolve) => this.countWaiters.push({ count, resolve }));
  }

  private settleWaiters(): void {
    for (const waiter of [...this.countWaiters]) {
      if (waiter.count !== this.listeners.size) continue;
      this.countWaiters.splice(this.countWaiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  private all<T>(pick: (catalog: CloudCatalog) => T[]): T[] {
    return [...this.catalogs.values()].flatMap(pick);
  }
}
