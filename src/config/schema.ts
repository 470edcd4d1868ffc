/**
 * The configuration file as an operator writes it (YAML, camelCase keys), field by field.
 * docs/CONFIGURATION.md is the operator's version of this file; load.ts compiles the parsed
 * result into NodeConfig (types.ts): addresses parsed, paths resolved, every default filled.
 *
 * Every object is strict: an unknown key is an error, because a misspelt key that is
 * silently ignored leaves the node running with the default the operator meant to change.
 * Every problem is reported, not only the first: the checks between fields (references,
 * duplicates, the loopback rule) run even when other fields are malformed, so they read
 * the value defensively, as `unknown`.
 */
import { z } from 'zod';
import { checkHostPort, checkListenAddress, isLoopbackHost, isUnspecifiedHost } from './address.js';
import { limits } from './limits.js';
import type { NodeConfig } from './types.js';

/** Values used when a key is absent. */
export const configDefaults = {
  listen: {
    local: '127.0.0.1:7700',
    peer: '127.0.0.1:7701',
    http: '127.0.0.1:7702',
    allowNonLoopbackLocal: false,
  },
  mesh: {
    antiEntropyIntervalMs: 2000,
    reconnectBackoffMinMs: 200,
    reconnectBackoffMaxMs: 10_000,
    peersMax: limits.peersMax,
    eagerFanoutMax: limits.eagerFanoutMax,
  },
  logLevel: 'info',
} as const;

/**
 * Bounds on configuration values, each with its reason. They guard against typos and unit
 * mistakes in a file; the runtime limits (message sizes, queues, peers) are in limits.ts.
 */
export const configBounds = {
  /** Keystone's column width for region, service and endpoint ids, types and names. */
  catalogIdLengthMax: 255,
  /** A description is a line for humans, not a document. */
  catalogDescriptionLengthMax: 1024,
  /** Far above any real endpoint URL; catches a pasted blob. */
  urlLengthMax: 2048,
  /** One cloud's catalog is one record: these keep it well under limits.recordPayloadBytesMax. */
  catalogRegionsMax: 1024,
  catalogServicesMax: 1024,
  catalogEndpointsMax: 4096,
  /** Intervals and backoffs above an hour mean repair is effectively off: almost surely a unit mistake. */
  durationMsMax: 3_600_000,
  /** PATH_MAX on Linux. */
  pathLengthMax: 4096,
  /** A config file is a page of YAML; anything this large is the wrong file (a log, a binary). */
  configFileBytesMax: 1024 * 1024,
} as const;

type LogLevel = NodeConfig['log']['level'];
type EndpointInterface = NodeConfig['catalog']['endpoints'][number]['interface'];

export const logLevels = [
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
  'silent',
] as const satisfies readonly LogLevel[];

export const endpointInterfaces = [
  'public',
  'internal',
  'admin',
] as const satisfies readonly EndpointInterface[];

const idPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** federation, cloud and node ids: they appear in SPIFFE URIs, record keys and file names. */
const lowercaseId = z.string().regex(idPattern, {
  error: (issue) =>
    `${describeValue(issue.input)} is not a valid id: 1 to 63 characters, lowercase letters, digits and "-", starting with a letter or digit`,
});

/** Region, service and endpoint ids and service types: Keystone's rules, minus invisible characters. */
const catalogId = z
  .string()
  .max(configBounds.catalogIdLengthMax, {
    error: `must be at most ${configBounds.catalogIdLengthMax} characters`,
  })
  .regex(/^\S(?:[^\p{Cc}]*\S)?$/u, {
    error: (issue) =>
      `${describeValue(issue.input)} is not a valid id: it must be non-empty, without leading or trailing spaces or control characters`,
  });

const catalogName = z.string().max(configBounds.catalogIdLengthMax, {
  error: `must be at most ${configBounds.catalogIdLengthMax} characters`,
});

const description = z.string().max(configBounds.catalogDescriptionLengthMax, {
  error: `must be at most ${configBounds.catalogDescriptionLengthMax} characters`,
});

/** A file system path; relative paths resolve against the config file's directory (in load.ts). */
const filePath = z.string().superRefine((text, ctx) => {
  const message = checkPath(text);
  if (message !== undefined) ctx.addIssue({ code: 'custom', message });
});

/** `host:port` something listens on; 0.0.0.0 and port 0 ("any free port") are fine. */
const listenHostPort = z.string().superRefine((text, ctx) => {
  const parsed = checkHostPort(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
});

/** `host:port` another node dials: it must name one reachable host and a real port. */
const dialHostPort = z.string().superRefine((text, ctx) => {
  const parsed = checkHostPort(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
  else if (isUnspecifiedHost(parsed.value.host)) {
    ctx.addIssue({
      code: 'custom',
      message: `${parsed.value.host} means "every interface" and cannot be dialled; give a reachable address`,
    });
  } else if (parsed.value.port === 0) {
    ctx.addIssue({ code: 'custom', message: 'port 0 cannot be dialled; give the port the peer listens on' });
  }
});

/** `host:port` or `unix:/path/to.sock`. */
const localListenAddress = z.string().superRefine((text, ctx) => {
  const parsed = checkListenAddress(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
});

const httpUrl = z.string().superRefine((text, ctx) => {
  const message = checkHttpUrl(text);
  if (message !== undefined) ctx.addIssue({ code: 'custom', message });
});

function durationMs(min: number): z.ZodNumber {
  return integerFrom(min, configBounds.durationMsMax, ' (milliseconds)');
}

function integerFrom(min: number, max: number, note = ''): z.ZodNumber {
  return z.number().refine((n) => Number.isInteger(n) && n >= min && n <= max, {
    error: (issue) => `must be an integer from ${min} to ${max}${note}; got ${describeValue(issue.input)}`,
  });
}

const listenSchema = z.strictObject({
  /** Local API (Keystone, the cloud's services, operators): host:port or unix:/path. */
  local: localListenAddress.default(configDefaults.listen.local),
  /** Peer API (mTLS), host:port. Other nodes dial advertisePeerAddress. */
  peer: listenHostPort.default(configDefaults.listen.peer),
  /** Prometheus metrics and HTTP health, host:port; null or false turns it off. */
  http: z
    .union([listenHostPort, z.null(), z.literal(false)], {
      error: (issue) => `expected host:port, null or false; got ${describeValue(issue.input)}`,
    })
    .default(configDefaults.listen.http),
  /**
   * The local API lets its callers validate and revoke tokens, publish events and request
   * provisioning on behalf of this cloud; it is refused on a non-loopback host unless this is true.
   */
  allowNonLoopbackLocal: z.boolean().default(configDefaults.listen.allowNonLoopbackLocal),
});

const tlsSchema = z.strictObject({
  /** Federation CA certificate (PEM) every peer certificate must chain to. */
  ca: filePath,
  /** This node's certificate (PEM), with the SPIFFE URI SAN of this node. */
  cert: filePath,
  /** This node's private key (PEM); keep it mode 0600. */
  key: filePath,
});

const regionSchema = z.strictObject({
  /** Keystone region id, e.g. RegionOne; unique among regions. */
  id: catalogId,
  description: description.default(''),
  /** Id of a declared region, or "" for a top-level region. */
  parentRegionId: z.string().default(''),
});

const serviceSchema = z.strictObject({
  /** Keystone service id; unique among services; endpoints refer to it. */
  id: catalogId,
  /** Service type from the OpenStack service-types authority, e.g. compute, identity, image. */
  type: catalogId,
  /** Service name, e.g. nova. */
  name: catalogName.default(''),
  description: description.default(''),
  enabled: z.boolean().default(true),
});

const endpointSchema = z.strictObject({
  /** Keystone endpoint id; unique among endpoints. */
  id: catalogId,
  /** Id of a declared region. */
  region: catalogId,
  /** Id of a declared service (compiled to `serviceId`). */
  service: catalogId,
  interface: z.enum(endpointInterfaces),
  /** http(s) URL, kept exactly as written (Keystone substitutions such as %(tenant_id)s included). */
  url: httpUrl,
  enabled: z.boolean().default(true),
});

const catalogSchema = z.strictObject({
  regions: z
    .array(regionSchema)
    .max(configBounds.catalogRegionsMax, { error: `at most ${configBounds.catalogRegionsMax} regions` })
    .default(() => []),
  services: z
    .array(serviceSchema)
    .max(configBounds.catalogServicesMax, { error: `at most ${configBounds.catalogServicesMax} services` })
    .default(() => []),
  endpoints: z
    .array(endpointSchema)
    .max(configBounds.catalogEndpointsMax, { error: `at most ${configBounds.catalogEndpointsMax} endpoints` })
    .default(() => []),
});

const meshSchema = z.strictObject({
  /** How often each peer connection exchanges digests (anti-entropy repair). */
  antiEntropyIntervalMs: durationMs(1).default(configDefaults.mesh.antiEntropyIntervalMs),
  /** First delay before redialling a lost peer; doubles up to the maximum. */
  reconnectBackoffMinMs: durationMs(1).default(configDefaults.mesh.reconnectBackoffMinMs),
  reconnectBackoffMaxMs: durationMs(1).default(configDefaults.mesh.reconnectBackoffMaxMs),
  /** Peers this node keeps connections to; at most limits.peersMax. */
  peersMax: integerFrom(1, limits.peersMax, ' (limits.peersMax)').default(configDefaults.mesh.peersMax),
  /** Peers a new record is pushed to at once; anti-entropy repairs the rest. At most limits.eagerFanoutMax. */
  eagerFanoutMax: integerFrom(1, limits.eagerFanoutMax, ' (limits.eagerFanoutMax)').default(
    configDefaults.mesh.eagerFanoutMax,
  ),
});

const logSchema = z.strictObject({
  level: z.enum(logLevels).default(configDefaults.logLevel),
});

export const rawConfigSchema = z
  .strictObject({
    /** Federation id: every node of every cloud in the federation uses the same one. */
    federation: lowercaseId,
    /** This cloud's id, e.g. cloud-a. */
    cloud: lowercaseId,
    /** This node's id within the cloud, e.g. n1; the node id is `<cloud>/<node>`. */
    node: lowercaseId,
    /** Where the node keeps its SQLite database and state. */
    dataDir: filePath,
    listen: listenSchema.prefault({}),
    /** host:port peers dial; defaults to listen.peer, which must then not be 0.0.0.0 or ::. */
    advertisePeerAddress: dialHostPort.optional(),
    tls: tlsSchema,
    /** Peer addresses (host:port) to dial at start; member records spread the rest. */
    seeds: z
      .array(dialHostPort)
      .max(limits.peersMax, { error: `at most ${limits.peersMax} seeds (limits.peersMax)` })
      .default(() => []),
    /** This cloud's own regions, services and endpoints, published to the federation. */
    catalog: catalogSchema.prefault({}),
    mesh: meshSchema.prefault({}),
    log: logSchema.prefault({}),
  })
  // `when` makes the cross-field checks run even when some fields failed, so one pass
  // reports every problem; checkRelations therefore trusts nothing about the value.
  .superRefine(
    (value, ctx) => {
      checkRelations(value, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    },
    { when: () => true },
  );

/** What code (the `alliance dev` command, tests) builds: optional keys may be left out. */
export type RawConfigInput = z.input<typeof rawConfigSchema>;
/** The schema's output: the same shape, with every default filled. */
export type RawConfig = z.output<typeof rawConfigSchema>;

type Report = (path: (string | number)[], message: string) => void;

function checkRelations(value: unknown, report: Report): void {
  if (!isRecord(value)) return;
  const listen = isRecord(value.listen) ? value.listen : {};
  checkLocalIsLoopback(listen, report);
  checkAdvertiseAddress(listen, value.advertisePeerAddress, report);
  if (isRecord(value.catalog)) checkCatalog(value.catalog, report);
  if (isRecord(value.mesh)) checkBackoff(value.mesh, report);
}

/** Security requirement: the local API is reachable only from this host unless explicitly allowed. */
function checkLocalIsLoopback(listen: Record<string, unknown>, report: Report): void {
  if (listen.allowNonLoopbackLocal === true) return;
  const text = listen.local ?? configDefaults.listen.local;
  if (typeof text !== 'string') return;
  const parsed = checkListenAddress(text);
  if (!parsed.ok || parsed.value.kind !== 'tcp' || isLoopbackHost(parsed.value.host)) return;
  report(
    ['listen', 'local'],
    `${parsed.value.host} is not a loopback address; the local API (token validation and revocation, events, provisioning) ` +
      'listens only on loopback or a unix socket unless listen.allowNonLoopbackLocal is true',
  );
}

function checkAdvertiseAddress(listen: Record<string, unknown>, advertise: unknown, report: Report): void {
  if (advertise !== undefined) return;
  const text = listen.peer ?? configDefaults.listen.peer;
  if (typeof text !== 'string') return;
  const parsed = checkHostPort(text);
  if (!parsed.ok || !isUnspecifiedHost(parsed.value.host)) return;
  report(
    ['advertisePeerAddress'],
    `is required when listen.peer is ${describeValue(text)} (every interface): peers need an address they can dial`,
  );
}

function checkCatalog(catalog: Record<string, unknown>, report: Report): void {
  const regions = recordsAt(catalog, 'regions');
  const services = recordsAt(catalog, 'services');
  const endpoints = recordsAt(catalog, 'endpoints');
  const regionIds = checkUniqueIds('regions', regions, report);
  const serviceIds = checkUniqueIds('services', services, report);
  checkUniqueIds('endpoints', endpoints, report);
  if (regions !== undefined) checkParentRegions(regions, regionIds, report);
  for (const [index, endpoint] of (endpoints ?? []).entries()) {
    if (endpoint === undefined) continue;
    if (regions !== undefined) {
      checkReference(endpoint.region, regionIds, 'region', ['catalog', 'endpoints', index, 'region'], report);
    }
    if (services !== undefined) {
      checkReference(
        endpoint.service,
        serviceIds,
        'service',
        ['catalog', 'endpoints', index, 'service'],
        report,
      );
    }
  }
}

/** Reports every repeated id; returns each declared id with the index of its first declaration. */
function checkUniqueIds(
  list: 'regions' | 'services' | 'endpoints',
  items: (Record<string, unknown> | undefined)[] | undefined,
  report: Report,
): Map<string, number> {
  const firstIndex = new Map<string, number>();
  for (const [index, item] of (items ?? []).entries()) {
    const id = item?.id;
    if (typeof id !== 'string') continue;
    const first = firstIndex.get(id);
    if (first === undefined) firstIndex.set(id, index);
    else
      report(
        ['catalog', list, index, 'id'],
        `duplicate id ${describeValue(id)} (first declared at catalog.${list}[${first}])`,
      );
  }
  return firstIndex;
}

function checkReference(
  reference: unknown,
  declared: Map<string, number>,
  what: 'region' | 'service',
  path: (string | number)[],
  report: Report,
): void {
  if (typeof reference !== 'string' || declared.has(reference)) return;
  const known = [...declared.keys()];
  const listed =
    known.length === 0
      ? `no ${what}s are declared in catalog.${what}s`
      : `declared: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}`;
  report(path, `refers to undeclared ${what} ${describeValue(reference)} (${listed})`);
}

/** A parent must be a declared region, and following parents must end at a top-level region. */
function checkParentRegions(
  regions: (Record<string, unknown> | undefined)[],
  regionIds: Map<string, number>,
  report: Report,
): void {
  const parentOf = new Map<string, string>();
  for (const region of regions) {
    if (
      typeof region?.id === 'string' &&
      typeof region.parentRegionId === 'string' &&
      region.parentRegionId !== ''
    ) {
      parentOf.set(region.id, region.parentRegionId);
    }
  }
  for (const [index, region] of regions.entries()) {
    const id = region?.id;
    const parent = region?.parentRegionId;
    if (typeof id !== 'string' || typeof parent !== 'string' || parent === '') continue;
    if (regionIds.get(id) !== index) continue; // a duplicate, already reported
    const path = ['catalog', 'regions', index, 'parentRegionId'];
    if (parent === id) {
      report(path, 'a region cannot be its own parent');
      continue;
    }
    if (!regionIds.has(parent)) {
      checkReference(parent, regionIds, 'region', path, report);
      continue;
    }
    // Walk up; a cycle is reported once, at the region of the cycle declared first.
    const chain = [id];
    let current = parentOf.get(id);
    while (current !== undefined && !chain.includes(current)) {
      chain.push(current);
      current = parentOf.get(current);
    }
    if (current === id && chain.every((member) => (regionIds.get(member) ?? index) >= index)) {
      report(path, `parent regions form a cycle: ${[...chain, id].join(' → ')}`);
    }
  }
}

function checkBackoff(mesh: Record<string, unknown>, report: Report): void {
  const min = mesh.reconnectBackoffMinMs ?? configDefaults.mesh.reconnectBackoffMinMs;
  const max = mesh.reconnectBackoffMaxMs ?? configDefaults.mesh.reconnectBackoffMaxMs;
  if (typeof min !== 'number' || typeof max !== 'number' || min <= max) return;
  report(
    ['mesh', 'reconnectBackoffMinMs'],
    `must not exceed mesh.reconnectBackoffMaxMs (${max}); got ${min}`,
  );
}

function checkPath(text: string): string | undefined {
  if (text === '') return 'must not be empty';
  if (text.startsWith('~'))
    return '"~" is not expanded; use an absolute path or one relative to the config file';
  if (text.includes('\0')) return 'must not contain a NUL character';
  if (text.length > configBounds.pathLengthMax)
    return `must be at most ${configBounds.pathLengthMax} characters`;
  return undefined;
}

function checkHttpUrl(text: string): string | undefined {
  if (text.length > configBounds.urlLengthMax)
    return `must be at most ${configBounds.urlLengthMax} characters`;
  if (!/^https?:\/\//i.test(text) || !URL.canParse(text)) {
    return `${describeValue(text)} is not an http:// or https:// URL`;
  }
  return undefined;
}

function recordsAt(
  parent: Record<string, unknown>,
  key: string,
): (Record<string, unknown> | undefined)[] | undefined {
  const list = parent[key];
  if (!Array.isArray(list)) return undefined;
  return list.map((item: unknown) => (isRecord(item) ? item : undefined));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as an operator would recognise it from the YAML file. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
