/**
 * Pure catalog logic: building a cloud's published catalog from configuration, checking
 * a received one, and merging what every node published into one view per cloud.
 * No I/O here, so it is tested by tables.
 */
import type { CloudCatalog, CloudInfo, Endpoint, Region, Service } from '../gen/alliance/v1/catalog.js';
import type { CatalogConfig } from '../config/types.js';
import type { CatalogFilter } from './view.js';
import { cloudOfNode } from '../lib/node-id.js';

export function buildCloudCatalog(
  cloud: string,
  nodeId: string,
  config: CatalogConfig,
  nowMs: number,
): CloudCatalog {
  const services = new Map(config.services.map((s) => [s.id, s]));
  return {
    cloud,
    publishedBy: nodeId,
    publishedAt: new Date(nowMs),
    regions: config.regions.map((r) => ({
      cloud,
      id: r.id,
      description: r.description,
      parentRegionId: r.parentRegionId,
    })),
    services: config.services.map((s) => ({
      cloud,
      id: s.id,
      type: s.type,
      name: s.name,
      description: s.description,
      enabled: s.enabled,
    })),
    endpoints: config.endpoints.map((e) => ({
      cloud,
      id: e.id,
      region: e.region,
      serviceId: e.serviceId,
      serviceType: services.get(e.serviceId)?.type ?? '',
      serviceName: services.get(e.serviceId)?.name ?? '',
      interface: e.interface,
      url: e.url,
      enabled: e.enabled,
    })),
  };
}

/** True when two catalogs list the same regions, services and endpoints (publication time aside). */
export function sameCatalogContent(a: CloudCatalog, b: CloudCatalog): boolean {
  const content = (c: CloudCatalog): string => JSON.stringify([c.cloud, c.regions, c.services, c.endpoints]);
  return content(a) === content(b);
}

/** The cloud part of a node id `<cloud>/<node>`. */
/** The cloud part of a node id (kept under this name for the catalog's callers). */
export const cloudOf = cloudOfNode;

/**
 * Throws unless `catalog` is one the node `origin` may publish: only its own cloud's,
 * under its own name. A node of one cloud cannot speak for another.
 */
export function checkPublishedCatalog(origin: string, catalog: CloudCatalog): void {
  const cloud = cloudOf(origin);
  if (catalog.cloud !== cloud)
    throw new Error(`node ${origin} may not publish the catalog of ${catalog.cloud}`);
  if (catalog.publishedBy !== origin) throw new Error(`catalog claims publisher ${catalog.publishedBy}`);
  const items = [...catalog.regions, ...catalog.services, ...catalog.endpoints];
  if (items.some((item) => item.cloud !== cloud)) throw new Error('catalog entries name another cloud');
}

export interface MergedCloud {
  catalog: CloudCatalog;
  nodes: string[];
}

/**
 * One catalog per cloud: a cloud with several nodes may have several publications;
 * the most recently published wins (ties broken by node id, so every node agrees).
 */
export function mergeCatalogs(published: readonly CloudCatalog[]): Map<string, MergedCloud> {
  const byCloud = new Map<string, MergedCloud>();
  const time = (c: CloudCatalog): number => c.publishedAt?.getTime() ?? 0;
  for (const catalog of published) {
    const current = byCloud.get(catalog.cloud);
    if (!current) {
      byCloud.set(catalog.cloud, { catalog, nodes: [catalog.publishedBy] });
      continue;
    }
    current.nodes.push(catalog.publishedBy);
    const newer =
      time(catalog) > time(current.catalog) ||
      (time(catalog) === time(current.catalog) && catalog.publishedBy > current.catalog.publishedBy);
    if (newer) current.catalog = catalog;
  }
  for (const merged of byCloud.values()) merged.nodes.sort();
  return new Map([...byCloud].sort(([a], [b]) => a.localeCompare(b)));
}

export function cloudInfo(merged: MergedCloud): CloudInfo {
  return {
    id: merged.catalog.cloud,
    nodes: merged.nodes,
    regionCount: merged.catalog.regions.length,
    serviceCount: merged.catalog.services.length,
    endpointCount: merged.catalog.endpoints.length,
    updatedAt: merged.catalog.publishedAt,
  };
}

const matches = (wanted: string | undefined, actual: string): boolean => !wanted || wanted === actual;

export function filterRegions(clouds: Iterable<MergedCloud>, filter: Pick<CatalogFilter, 'cloud'>): Region[] {
  return [...clouds].filter((m) => matches(filter.cloud, m.catalog.cloud)).flatMap((m) => m.catalog.regions);
}

export function filterServices(
  clouds: Iterable<MergedCloud>,
  filter: Pick<CatalogFilter, 'cloud' | 'serviceType'>,
): Service[] {
  return [...clouds]
    .filter((m) => matches(filter.cloud, m.catalog.cloud))
    .flatMap((m) => m.catalog.services)
    .filter((s) => matches(filter.serviceType, s.type));
}

export function filterEndpoints(clouds: Iterable<MergedCloud>, filter: CatalogFilter): Endpoint[] {
  return [...clouds]
    .filter((m) => matches(filter.cloud, m.catalog.cloud))
    .flatMap((m) => m.catalog.endpoints)
    .filter(
      (e) =>
        matches(filter.region, e.region) &&
        matches(filter.serviceType, e.serviceType) &&
        matches(filter.interface, e.interface),
    );
}
