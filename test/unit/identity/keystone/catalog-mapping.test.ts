/** Keystone's regions, services and endpoints as Alliance's CatalogConfig, ids kept as Keystone gives them. */
import { describe, expect, it } from 'vitest';
import { mapKeystoneCatalog } from '../../../../src/identity/keystone/catalog-mapping.js';

describe('mapKeystoneCatalog', () => {
  it('maps the bootstrapped catalog of a real Keystone exactly', () => {
    const regions = { regions: [{ id: 'RegionOne', description: '', parent_region_id: null, links: {} }] };
    const services = {
      services: [
        { name: 'keystone', id: '466c605e84c74066a828f45ea58f94c5', type: 'identity', enabled: true },
      ],
    };
    const ep = (id: string, iface: string) => ({
      id,
      interface: iface,
      region_id: 'RegionOne',
      service_id: '466c605e84c74066a828f45ea58f94c5',
      url: 'http://127.0.0.1:5000/v3/',
      enabled: true,
      region: 'RegionOne',
    });
    const endpoints = { endpoints: [ep('e1', 'public'), ep('e2', 'internal'), ep('e3', 'admin')] };
    const endpoint = (id: string, iface: 'public' | 'internal' | 'admin') => ({
      id,
      region: 'RegionOne',
      serviceId: '466c605e84c74066a828f45ea58f94c5',
      interface: iface,
      url: 'http://127.0.0.1:5000/v3/',
      enabled: true,
    });
    expect(mapKeystoneCatalog(regions, services, endpoints)).toEqual({
      catalog: {
        regions: [{ id: 'RegionOne', description: '', parentRegionId: '' }],
        services: [
          {
            id: '466c605e84c74066a828f45ea58f94c5',
            type: 'identity',
            name: 'keystone',
            description: '',
            enabled: true,
          },
        ],
        endpoints: [endpoint('e1', 'public'), endpoint('e2', 'internal'), endpoint('e3', 'admin')],
      },
      skipped: [],
    });
  });

  it('keeps parent regions, disabled entries and the deprecated region spelling', () => {
    const { catalog } = mapKeystoneCatalog(
      { regions: [{ id: 'child', description: 'c', parent_region_id: 'RegionOne' }] },
      { services: [{ id: 's', type: 'compute', enabled: false, description: 'nova' }] },
      {
        endpoints: [
          { id: 'e', interface: 'public', region: 'child', service_id: 's', url: 'http://x', enabled: false },
        ],
      },
    );
    expect(catalog).toEqual({
      regions: [{ id: 'child', description: 'c', parentRegionId: 'RegionOne' }],
      services: [{ id: 's', type: 'compute', name: '', description: 'nova', enabled: false }],
      endpoints: [
        { id: 'e', region: 'child', serviceId: 's', interface: 'public', url: 'http://x', enabled: false },
      ],
    });
  });

  it('leaves out and reports what it cannot represent', () => {
    const result = mapKeystoneCatalog(
      { regions: [{ description: 'no id' }] },
      { services: [{ id: 's' }] },
      {
        endpoints: [
          { id: 'e1', interface: 'private', service_id: 's', url: 'u' },
          { id: 'e2', interface: 'public', url: 'u' },
        ],
      },
    );
    expect(result).toEqual({
      catalog: { regions: [], services: [], endpoints: [] },
      skipped: [
        'region without id',
        'service without id or type',
        'endpoint e1: interface private is not public, internal or admin',
        'endpoint e2: no service_id or url',
      ],
    });
  });

  it('throws when a list is missing altogether', () => {
    expect(() => mapKeystoneCatalog({}, { services: [] }, { endpoints: [] })).toThrow('no "regions" list');
  });
});
