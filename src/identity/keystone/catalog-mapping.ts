/**
 * Keystone's catalog lists (GET /v3/regions, /v3/services, /v3/endpoints) as Alliance's
 * CatalogConfig. Pure. Ids are kept as Keystone gives them; an endpoint's service is referred to
 * by Keystone's service id. Entries that cannot be represented are left out and reported.
 */
import type { CatalogConfig, EndpointConfig, RegionConfig, ServiceConfig } from '../../config/types.js';
import { isObject } from './token-mapping.js';

export interface CatalogMapping {
  catalog: CatalogConfig;
  /** One line per entry left out, saying why. */
  skipped: string[];
}

const interfaces = new Set(['public', 'internal', 'admin']);

export function mapKeystoneCatalog(
  regionsBody: unknown,
  servicesBody: unknown,
  endpointsBody: unknown,
): CatalogMapping {
  const skipped: string[] = [];
  const regions: RegionConfig[] = [];
  for (const r of list(regionsBody, 'regions')) {
    if (!isObject(r) || !nonEmpty(r['id'])) {
      skipped.push('region without id');
      continue;
    }
    regions.push({
      id: r['id'],
      description: str(r['description']),
      parentRegionId: str(r['parent_region_id']),
    });
  }
  const services: ServiceConfig[] = [];
  for (const s of list(servicesBody, 'services')) {
    if (!isObject(s) || !nonEmpty(s['id']) || !nonEmpty(s['type'])) {
      skipped.push('service without id or type');
      continue;
    }
    services.push({
      id: s['id'],
      type: s['type'],
      name: str(s['name']),
      description: str(s['description']),
      enabled: s['enabled'] !== false,
    });
  }
  const endpoints: EndpointConfig[] = [];
  for (const e of list(endpointsBody, 'endpoints')) {
    if (!isObject(e) || !nonEmpty(e['id'])) {
      skipped.push('endpoint without id');
      continue;
    }
    const iface = e['interface'];
    if (typeof iface !== 'string' || !interfaces.has(iface)) {
      skipped.push(`endpoint ${e['id']}: interface ${String(iface)} is not public, internal or admin`);
      continue;
    }
    if (!nonEmpty(e['service_id']) || !nonEmpty(e['url'])) {
      skipped.push(`endpoint ${e['id']}: no service_id or url`);
      continue;
    }
    endpoints.push({
      id: e['id'],
      // region_id since v3.2; `region` is the deprecated spelling of the same id.
      region: str(e['region_id']) || str(e['region']),
      serviceId: e['service_id'],
      interface: iface as EndpointConfig['interface'],
      url: e['url'],
      enabled: e['enabled'] !== false,
    });
  }
  return { catalog: { regions, services, endpoints }, skipped };
}

function list(body: unknown, key: string): unknown[] {
  const items = isObject(body) ? body[key] : undefined;
  if (!Array.isArray(items)) throw new Error(`Keystone's answer has no "${key}" list`);
  return items;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
