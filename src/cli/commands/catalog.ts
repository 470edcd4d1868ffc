/**
 * `alliance catalog`: where every service of every federated cloud is, from this node's
 * replicated copy (the Catalog service). `alliance catalog` alone lists endpoints, the question
 * operators ask most ("where is compute in cloud-b?").
 */
import { Option, type Command } from 'commander';
import {
  CatalogService,
  ListCloudsResponse,
  ListEndpointsResponse,
  ListRegionsResponse,
  ListServicesResponse,
  WatchCatalogResponse,
  WatchCatalogResponse_Kind,
  type CloudInfo,
  type Endpoint,
  type Region,
  type Service,
} from '../../gen/alliance/v1/catalog.js';
import {
  formatAgo,
  formatTimestamp,
  renderJson,
  renderTable,
  toOneLine,
  type Column,
  jsonOption,
  type JsonOption,
} from '../output.js';
import type { CliContext } from '../program.js';

const cloudOption = (): Option => new Option('--cloud <id>', 'only this cloud');
const typeOption = (): Option => new Option('--type <type>', 'only this service type, e.g. compute');

export function registerCatalogCommand(program: Command, context: CliContext): void {
  const catalog = program
    .command('catalog')
    .description('the federated service catalog; without a subcommand, lists endpoints');

  catalog
    .command('clouds')
    .description('list the clouds this node knows and who published their catalogs')
    .addOption(jsonOption())
    .action(async (options: JsonOption, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(CatalogService).listClouds({});
        context.out(
          options.json
            ? renderJson(ListCloudsResponse.toJSON(response))
            : renderTable(cloudColumns(context.nowMs()), response.clouds),
        );
      });
    });

  catalog
    .command('regions')
    .description('list regions')
    .addOption(cloudOption())
    .addOption(jsonOption())
    .action(async (options: JsonOption & { cloud?: string }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(CatalogService).listRegions({ cloud: options.cloud ?? '' });
        context.out(
          options.json
            ? renderJson(ListRegionsResponse.toJSON(response))
            : renderTable(regionColumns, response.regions),
        );
      });
    });

  catalog
    .command('services')
    .description('list services')
    .addOption(cloudOption())
    .addOption(typeOption())
    .addOption(jsonOption())
    .action(async (options: JsonOption & { cloud?: string; type?: string }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api
          .client(CatalogService)
          .listServices({ cloud: options.cloud ?? '', type: options.type ?? '' });
        context.out(
          options.json
            ? renderJson(ListServicesResponse.toJSON(response))
            : renderTable(serviceColumns, response.services),
        );
      });
    });

  catalog
    .command('endpoints', { isDefault: true })
    .description('list endpoints (the default)')
    .addOption(cloudOption())
    .addOption(new Option('--region <id>', 'only this region'))
    .addOption(typeOption())
    .addOption(
      new Option('--interface <name>', 'only this interface').choices(['public', 'internal', 'admin']),
    )
    .addOption(jsonOption())
    .action(
      async (
        options: JsonOption & { cloud?: string; region?: string; type?: string; interface?: string },
        command: Command,
      ) => {
        await context.withLocalApi(command, async (api) => {
          const response = await api.client(CatalogService).listEndpoints({
            cloud: options.cloud ?? '',
            region: options.region ?? '',
            serviceType: options.type ?? '',
            interface: options.interface ?? '',
          });
          context.out(
            options.json
              ? renderJson(ListEndpointsResponse.toJSON(response))
              : renderTable(endpointColumns, response.endpoints),
          );
        });
      },
    );

  catalog
    .command('watch')
    .description('print each cloud catalog, then every change, until interrupted (Ctrl-C)')
    .addOption(cloudOption())
    .addOption(new Option('--json', 'print one proto3 JSON object per line'))
    .action(async (options: JsonOption & { cloud?: string }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const changes = api
          .client(CatalogService)
          .watchCatalog({ cloud: options.cloud ?? '' }, { signal: context.signal });
        for await (const change of changes) {
          context.out(
            options.json
              ? `${JSON.stringify(WatchCatalogResponse.toJSON(change))}\n`
              : `${describeCatalogChange(change)}\n`,
          );
        }
      });
    });
}

const orDash = (text: string): string => (text === '' ? '-' : text);

function cloudColumns(nowMs: number): Column<CloudInfo>[] {
  return [
    { header: 'CLOUD', value: (cloud) => cloud.id },
    { header: 'REGIONS', value: (cloud) => String(cloud.regionCount), align: 'right' },
    { header: 'SERVICES', value: (cloud) => String(cloud.serviceCount), align: 'right' },
    { header: 'ENDPOINTS', value: (cloud) => String(cloud.endpointCount), align: 'right' },
    { header: 'UPDATED', value: (cloud) => formatAgo(cloud.updatedAt, nowMs) },
    { header: 'NODES', value: (cloud) => cloud.nodes.join(',') },
  ];
}

const regionColumns: readonly Column<Region>[] = [
  { header: 'CLOUD', value: (region) => region.cloud },
  { header: 'REGION', value: (region) => region.id },
  { header: 'PARENT', value: (region) => orDash(region.parentRegionId) },
  { header: 'DESCRIPTION', value: (region) => region.description },
];

const serviceColumns: readonly Column<Service>[] = [
  { header: 'CLOUD', value: (service) => service.cloud },
  { header: 'TYPE', value: (service) => service.type },
  { header: 'NAME', value: (service) => orDash(service.name) },
  { header: 'ENABLED', value: (service) => (service.enabled ? 'yes' : 'no') },
  { header: 'ID', value: (service) => service.id },
];

const endpointColumns: readonly Column<Endpoint>[] = [
  { header: 'CLOUD', value: (endpoint) => endpoint.cloud },
  { header: 'REGION', value: (endpoint) => orDash(endpoint.region) },
  { header: 'SERVICE TYPE', value: (endpoint) => endpoint.serviceType },
  { header: 'SERVICE', value: (endpoint) => orDash(endpoint.serviceName) },
  { header: 'INTERFACE', value: (endpoint) => endpoint.interface },
  { header: 'URL', value: (endpoint) => endpoint.url },
];

/** One line for one message of WatchCatalog, e.g. `updated  cloud-b: 1 region, 3 services, 6 endpoints (...)`. */
export function describeCatalogChange(change: WatchCatalogResponse): string {
  const catalog = change.catalog;
  const cloud = toOneLine(catalog?.cloud ?? '?');
  const contents =
    catalog === undefined
      ? ''
      : `: ${count(catalog.regions.length, 'region')}, ${count(catalog.services.length, 'service')}, ` +
        `${count(catalog.endpoints.length, 'endpoint')} (published by ${toOneLine(orDash(catalog.publishedBy))} ` +
        `at ${formatTimestamp(catalog.publishedAt)})`;
  switch (change.kind) {
    case WatchCatalogResponse_Kind.KIND_SNAPSHOT:
      return `snapshot ${cloud}${contents}`;
    case WatchCatalogResponse_Kind.KIND_SNAPSHOT_END:
      return 'snapshot complete; watching for changes';
    case WatchCatalogResponse_Kind.KIND_UPDATED:
      return `updated  ${cloud}${contents}`;
    case WatchCatalogResponse_Kind.KIND_REMOVED:
      return `removed  ${cloud}`;
    default:
      return `change (kind ${change.kind}) ${cloud}${contents}`;
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
