/**
 * The pure catalog logic that sits on top of the mesh: which publication of a cloud wins,
 * which catalogs a node may publish, and how the merged view is filtered.
 */
import { describe, expect, it } from 'vitest';
import {
  checkPublishedCatalog,
  cloudInfo,
  filterEndpoints,
  filterRegions,
  filterServices,
  mergeCatalogs,
} from '../../../src/catalog/merge.js';
import type { MergedCloud } from '../../../src/catalog/merge.js';
import type { CatalogFilter } from '../../../src/catalog/view.js';
import type { CloudCatalog, Endpoint, Region, Service } from '../../../src/gen/alliance/v1/catalog.js';

const t0 = 1_700_000_000_000;

function region(cloud: string, id: string): Region {
  return { cloud, id, description: '', parentRegionId: '' };
}

function service(cloud: string, id: string, type: string): Service {
  return { cloud, id, type, name: id, description: '', enabled: true };
}

function endpoint(cloud: string, id: string, fields: Partial<Endpoint> = {}): Endpoint {
  return {
    cloud,
    id,
    region: `${cloud}-r1`,
    serviceId: 'nova',
    serviceType: 'compute',
    serviceName: 'nova',
    interface: 'public',
    url: `https://${cloud}.test/${id}`,
    enabled: true,
    ...fields,
  };
}

/** A catalog of `cloud` published by `node` at t0 + `atMs` (undefined: no publication time). */
function catalog(cloud: string, node: string, atMs: number | undefined, tag = ''): CloudCatalog {
  return {
    cloud,
    publishedBy: `${cloud}/${node}`,
    publishedAt: atMs === undefined ? undefined : new Date(t0 + atMs),
    regions: [region(cloud, `${cloud}-r1${tag}`)],
    services: [service(cloud, 'nova', 'compute')],
    endpoints: [endpoint(cloud, `e${tag}`)],
  };
}

/** cloud -> [winning publisher, nodes listed], the shape a merge is judged by. */
function winners(merged: Map<string, MergedCloud>): [string, string, string[]][] {
  return [...merged].map(([cloud, m]) => [cloud, m.catalog.publishedBy, m.nodes]);
}

describe('mergeCatalogs', () => {
  it.each<[string, CloudCatalog[], [string, string, string[]][]]>([
    ['nothing published', [], []],
    ['one publication', [catalog('a', 'n1', 0)], [['a', 'a/n1', ['a/n1']]]],
    [
      'the newest publication of a cloud wins, whatever the order',
      [catalog('a', 'n2', 5), catalog('a', 'n1', 9), catalog('a', 'n3', 1)],
      [['a', 'a/n1', ['a/n1', 'a/n2', 'a/n3']]],
    ],
    [
      'the newest wins when listed first too',
      [catalog('a', 'n1', 9), catalog('a', 'n2', 5)],
      [['a', 'a/n1', ['a/n1', 'a/n2']]],
    ],
    [
      'a tie in time goes to the higher node id',
      [catalog('a', 'n2', 5), catalog('a', 'n1', 5)],
      [['a', 'a/n2', ['a/n1', 'a/n2']]],
    ],
    [
      'a tie goes to the higher node id when it comes first',
      [catalog('a', 'n1', 5), catalog('a', 'n2', 5)],
      [['a', 'a/n2', ['a/n1', 'a/n2']]],
    ],
    [
      'a publication without a time loses to one with a time',
      [catalog('a', 'n9', undefined), catalog('a', 'n1', 0)],
      [['a', 'a/n1', ['a/n1', 'a/n9']]],
    ],
    [
      'clouds are merged separately and listed in order',
      [catalog('b', 'n1', 3), catalog('a', 'n1', 1), catalog('c', 'n1', 0), catalog('a', 'n2', 2)],
      [
        ['a', 'a/n2', ['a/n1', 'a/n2']],
        ['b', 'b/n1', ['b/n1']],
        ['c', 'c/n1', ['c/n1']],
      ],
    ],
  ])('%s', (_name, published, expected) => {
    expect(winners(mergeCatalogs(published))).toEqual(expected);
  });

  it('keeps the winning catalog whole and summarises it for ListClouds', () => {
    const newest = catalog('a', 'n2', 7, '-new');
    const merged = mergeCatalogs([catalog('a', 'n1', 1, '-old'), newest]);
    const a = merged.get('a');
    expect(a).toEqual({ catalog: newest, nodes: ['a/n1', 'a/n2'] });
    expect(a && cloudInfo(a)).toEqual({
      id: 'a',
      nodes: ['a/n1', 'a/n2'],
      regionCount: 1,
      serviceCount: 1,
      endpointCount: 1,
      updatedAt: new Date(t0 + 7),
    });
  });
});

describe('checkPublishedCatalog', () => {
  const own = catalog('a', 'n1', 0);

  it.each<[string, string, CloudCatalog, string | null]>([
    ['its own cloud, under its own name', 'a/n1', own, null],
    ['another cloud', 'b/n1', { ...own }, 'node b/n1 may not publish the catalog of a'],
    ['under another node of its cloud', 'a/n2', own, 'catalog claims publisher a/n1'],
    ['with no publisher', 'a/n1', { ...own, publishedBy: '' }, 'catalog claims publisher '],
    [
      'with a region of another cloud',
      'a/n1',
      { ...own, regions: [region('a', 'r1'), region('b', 'r2')] },
      'catalog entries name another cloud',
    ],
    [
      'with a service of another cloud',
      'a/n1',
      { ...own, services: [service('b', 'nova', 'compute')] },
      'catalog entries name another cloud',
    ],
    [
      'with an endpoint of another cloud',
      'a/n1',
      { ...own, endpoints: [endpoint('a', 'e1'), endpoint('b', 'e2')] },
      'catalog entries name another cloud',
    ],
    [
      'with an entry that names no cloud',
      'a/n1',
      { ...own, endpoints: [endpoint('', 'e1')] },
      'catalog entries name another cloud',
    ],
  ])('a node publishing %s: %s', (_name, origin, published, error) => {
    const check = (): void => checkPublishedCatalog(origin, published);
    if (error === null) expect(check).not.toThrow();
    else expect(check).toThrow(new Error(error));
  });
});

describe('filters over the merged catalog', () => {
  const merged = mergeCatalogs([
    {
      ...catalog('a', 'n1', 0),
      regions: [region('a', 'a-r1'), region('a', 'a-r2')],
      services: [service('a', 'nova', 'compute'), service('a', 'keystone', 'identity')],
      endpoints: [
        endpoint('a', 'a-nova-pub'),
        endpoint('a', 'a-nova-int', { interface: 'internal' }),
        endpoint('a', 'a-nova-r2', { region: 'a-r2' }),
        endpoint('a', 'a-ks-pub', {
          serviceId: 'keystone',
          serviceType: 'identity',
          serviceName: 'keystone',
        }),
      ],
    },
    {
      ...catalog('b', 'n1', 0),
      regions: [region('b', 'b-r1')],
      services: [service('b', 'nova', 'compute')],
      endpoints: [endpoint('b', 'b-nova-pub'), endpoint('b', 'b-nova-adm', { interface: 'admin' })],
    },
  ]).values();
  const clouds = [...merged];

  it.each<[string, Pick<CatalogFilter, 'cloud'>, string[]]>([
    ['no filter', {}, ['a/a-r1', 'a/a-r2', 'b/b-r1']],
    ['an empty cloud, which matches every cloud', { cloud: '' }, ['a/a-r1', 'a/a-r2', 'b/b-r1']],
    ['cloud b', { cloud: 'b' }, ['b/b-r1']],
    ['an unknown cloud', { cloud: 'z' }, []],
  ])('filterRegions with %s', (_name, filter, expected) => {
    expect(filterRegions(clouds, filter).map((r) => `${r.cloud}/${r.id}`)).toEqual(expected);
  });

  it.each<[string, Pick<CatalogFilter, 'cloud' | 'serviceType'>, string[]]>([
    ['no filter', {}, ['a/nova', 'a/keystone', 'b/nova']],
    ['a service type', { serviceType: 'compute' }, ['a/nova', 'b/nova']],
    ['a cloud', { cloud: 'a' }, ['a/nova', 'a/keystone']],
    ['a cloud and a type', { cloud: 'a', serviceType: 'identity' }, ['a/keystone']],
    ['a type no cloud offers', { serviceType: 'dns' }, []],
  ])('filterServices with %s', (_name, filter, expected) => {
    expect(filterServices(clouds, filter).map((s) => `${s.cloud}/${s.id}`)).toEqual(expected);
  });

  it.each<[string, CatalogFilter, string[]]>([
    ['no filter', {}, ['a-nova-pub', 'a-nova-int', 'a-nova-r2', 'a-ks-pub', 'b-nova-pub', 'b-nova-adm']],
    [
      'every field empty',
      { cloud: '', region: '', serviceType: '', interface: '' },
      ['a-nova-pub', 'a-nova-int', 'a-nova-r2', 'a-ks-pub', 'b-nova-pub', 'b-nova-adm'],
    ],
    ['a cloud', { cloud: 'b' }, ['b-nova-pub', 'b-nova-adm']],
    ['a region', { region: 'a-r2' }, ['a-nova-r2']],
    ['a service type', { serviceType: 'identity' }, ['a-ks-pub']],
    ['an interface', { interface: 'public' }, ['a-nova-pub', 'a-nova-r2', 'a-ks-pub', 'b-nova-pub']],
    [
      'every field at once',
      { cloud: 'a', region: 'a-r1', serviceType: 'compute', interface: 'internal' },
      ['a-nova-int'],
    ],
    ['fields that contradict each other', { cloud: 'b', region: 'a-r1' }, []],
  ])('filterEndpoints with %s', (_name, filter, expected) => {
    expect(filterEndpoints(clouds, filter).map((e) => e.id)).toEqual(expected);
  });
});
