/**
 * The read side of the catalog capability, as the local API consumes it.
 * Answers for the whole federation from this node's replicated copy; no I/O per call.
 */
import type { CloudCatalog, CloudInfo, Endpoint, Region, Service } from '../gen/alliance/v1/catalog.js';

export interface CatalogFilter {
  /** Empty or undefined matches everything, for every field. */
  cloud?: string;
  region?: string;
  serviceType?: string;
  interface?: string;
}

export type CatalogChange = { kind: 'updated' | 'removed'; catalog: CloudCatalog };

export interface CatalogView {
  listClouds(): CloudInfo[];
  listRegions(filter: Pick<CatalogFilter, 'cloud'>): Region[];
  listServices(filter: Pick<CatalogFilter, 'cloud' | 'serviceType'>): Service[];
  listEndpoints(filter: CatalogFilter): Endpoint[];
  /** The current catalog of every cloud (or of one). */
  snapshot(cloud?: string): CloudCatalog[];
  /** Calls `listener` on every change until the returned function is called. */
  watch(listener: (change: CatalogChange) => void): () => void;
}
