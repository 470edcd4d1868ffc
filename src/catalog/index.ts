/**
 * Catalog discovery: each node publishes its cloud's regions, services and endpoints as
 * a replicated record, and answers for every cloud of the federation from memory.
 */
import type { Logger } from 'pino';
import { CloudCatalog } from '../gen/alliance/v1/catalog.js';
import type { CatalogConfig } from '../config/types.js';
import type { Clock } from '../lib/clock.js';
import type { Mesh, MeshRecord, Topic } from '../mesh/index.js';
import {
  buildCloudCatalog,
  checkPublishedCatalog,
  cloudInfo,
  filterEndpoints,
  filterRegions,
  filterServices,
  mergeCatalogs,
  sameCatalogContent,
} from './merge.js';
import type { MergedCloud } from './merge.js';
import type { CatalogChange, CatalogView } from './view.js';

export type { CatalogChange, CatalogFilter, CatalogView } from './view.js';

export const catalogTopic = 'catalog';
/** One catalog record per node, under this key. */
const catalogKey = 'catalog';

export interface CatalogOptions {
  cloud: string;
  nodeId: string;
  /**
   * This cloud's catalog from the configuration, published at start; null when another source
   * (Keystone) publishes it, so a restart does not publish the file's catalog and then Keystone's.
   */
  catalog: CatalogConfig | null;
}

export interface CatalogDeps {
  mesh: Pick<Mesh, 'registerTopic'>;
  clock: Clock;
  log: Logger;
}

export interface Catalog extends CatalogView {
  /** Publishes this cloud's catalog if it differs from the one last published. */
  start(): void;
  stop(): void;
  /** Replaces this cloud's catalog (e.g. read from Keystone) and publishes it. */
  publish(catalog: CatalogConfig): void;
}

export function createCatalog(deps: CatalogDeps, options: CatalogOptions): Catalog {
  const log = deps.log.child({ component: 'catalog' });
  const published = new Map<string, CloudCatalog>();
  const watchers = new Set<(change: CatalogChange) => void>();
  let merged = new Map<string, MergedCloud>();
  let unsubscribe: (() => void) | null = null;

  const topic: Topic = deps.mesh.registerTopic({
    name: catalogTopic,
    validate(record) {
      checkPublishedCatalog(record.origin, CloudCatalog.decode(record.payload));
    },
  });

  function remerge(): void {
    merged = mergeCatalogs([...published.values()]);
  }

  function onRecord(record: MeshRecord): void {
    let changedCloud: string;
    if (record.deleted) {
      const previous = published.get(record.origin);
      if (!previous) return;
      published.delete(record.origin);
      changedCloud = previous.cloud;
    } else {
      let catalog: CloudCatalog;
      try {
        catalog = CloudCatalog.decode(record.payload);
        checkPublishedCatalog(record.origin, catalog);
      } catch (err) {
        // The mesh validated it on arrival; this is our own stored copy gone bad.
        log.error({ err, origin: record.origin }, 'catalog record does not decode');
        return;
      }
      published.set(record.origin, catalog);
      changedCloud = catalog.cloud;
    }
    remerge();
    const now = merged.get(changedCloud);
    const change: CatalogChange = now
      ? { kind: 'updated', catalog: now.catalog }
      : {
          kind: 'removed',
          catalog: {
            cloud: changedCloud,
            publishedBy: record.origin,
            regions: [],
            services: [],
            endpoints: [],
          },
        };
    for (const watcher of watchers) watcher(change);
  }

  function publish(config: CatalogConfig): void {
    const next = buildCloudCatalog(options.cloud, options.nodeId, config, deps.clock.nowMs());
    const current = published.get(options.nodeId);
    if (current && sameCatalogContent(current, next)) return;
    topic.publish(catalogKey, CloudCatalog.encode(next).finish());
    log.info({ regions: next.regions.length, endpoints: next.endpoints.length }, 'catalog published');
  }

  return {
    start() {
      for (const record of topic.list()) onRecord(record);
      unsubscribe = topic.onChange(onRecord);
      if (options.catalog) publish(options.catalog);
    },
    stop() {
      unsubscribe?.();
      watchers.clear();
    },
    publish,
    listClouds: () => [...merged.values()].map(cloudInfo),
    listRegions: (filter) => filterRegions(merged.values(), filter),
    listServices: (filter) => filterServices(merged.values(), filter),
    listEndpoints: (filter) => filterEndpoints(merged.values(), filter),
    snapshot: (cloud) =>
      [...merged.values()].filter((m) => !cloud || m.catalog.cloud === cloud).map((m) => m.catalog),
    watch(listener) {
      watchers.add(listener);
      return () => watchers.delete(listener);
    },
  };
}
