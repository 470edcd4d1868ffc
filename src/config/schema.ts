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
import { deriveStaticId } from './derive-static-id.js';
import type { StaticIdKind } from './derive-static-id.js';
import { limits } from './limits.js';
import type { IdentityConfig, NodeConfig } from './types.js';

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
  identity: {
    kind: 'static',
    /** Keystone's default token lifetime ([token] expiration = 3600 s). */
    tokenTtlMs: 3_600_000,
    /** Keystone's own default domain, so clients that send no domain find their users. */
    domains: [{ id: 'default', name: 'Default' }],
    /** The domain a project, user or service user is in when none is named. */
    domainId: 'default',
    /** Revocations made at Keystone reach the federation within about a second. */
    revocationPollMs: 1000,
    refreshMs: 60_000,
    requestTimeoutMs: 5000,
    /** oslo.messaging's control_exchange for Keystone. */
    notificationsExchange: 'keystone',
  },
  tokens: {
    federationTokenTtlMaxMs: 3_600_000,
    negativeCacheMs: 5000,
    originTimeoutMs: 2000,
    /** 24 h, the longest token lifetime commonly configured in Keystone, plus an hour of margin. */
    revocationRetentionMs: 25 * 3_600_000,
  },
  events: {
    /** No service is expected to handle every event until the operator names it. */
    expectedSubscribers: [] as string[],
    /** Enough in flight to keep a service busy over a slow link; few to send again after a crash. */
    windowMax: 64,
    /** A second, doubling to a minute: a service that is restarting gets its events a moment later. */
    retryBackoffMinMs: 1_000,
    retryBackoffMaxMs: 60_000,
    /** Five failures (about 15 s of retries with the defaults) and the event is parked for an operator. */
    attemptsMax: 5,
    /** A week: a cloud or a service that is down over a long weekend still gets every event. */
    retentionMs: 7 * 24 * 3_600_000,
  },
  logLevel: 'info',
} as const;

/** The queue Keystone notifications are read from when none is named: one per node. */
export function defaultNotificationsQueue(cloud: string, node: string): string {
  return `alliance-${cloud}-${node}`;
}

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
  /** Keystone's id columns (project, user, domain) are 64 characters wide. */
  identityIdLengthMax: 64,
  /** Keystone's project.name column; domains are projects there, so the same width. */
  projectNameLengthMax: 64,
  /** Keystone's user and role name columns. */
  userNameLengthMax: 255,
  roleNameLengthMax: 255,
  /** Keystone's default [identity] max_password_length. */
  passwordLengthMax: 4096,
  /**
   * The built-in identity source is for demos and clouds without Keystone, configured by hand;
   * these are far above that and catch a generated file gone wrong.
   */
  staticDomainsMax: 256,
  staticProjectsMax: 4096,
  staticUsersMax: 4096,
  roleAssignmentsPerUserMax: 1024,
  /** A token shorter-lived than a minute expires while a client is still using it. */
  tokenTtlMsMin: 60_000,
  /** A week: longer-lived tokens are long-lived secrets; use application credentials instead. */
  tokenTtlMsMax: 7 * 24 * 3_600_000,
  /** tokenTtlMsMax plus a day of margin: keeping revocations longer protects no token. */
  revocationRetentionMsMax: 8 * 24 * 3_600_000,
  /** Polling Keystone more than ten times a second loads it for no gain. */
  keystonePollMsMin: 100,
  /** Beyond a minute, revocations made at Keystone arrive too late to call it single sign-out. */
  keystonePollMsMax: 60_000,
  /** Re-reading the catalog and JWS keys more than once a second loads Keystone for no gain. */
  keystoneRefreshMsMin: 1000,
  /** Below 100 ms a healthy Keystone or peer under load times out; beyond a minute the caller gave up. */
  requestTimeoutMsMin: 100,
  requestTimeoutMsMax: 60_000,
  /** keystonemiddleware caches a "yes" for 300 s; caching a "no" longer makes no sense. */
  negativeCacheMsMax: 300_000,
  /** AMQP 0-9-1 exchange and queue names are short strings of at most 255 bytes. */
  amqpNameLengthMax: 255,
  /** Rules are tried in order for each new remote identity; a thousand is beyond any real policy. */
  mappingRulesMax: 1024,
  mappingMatchEntriesMax: 1024,
  /** A grant's project is a template, not yet an id; the identity source checks what it expands to. */
  grantProjectLengthMax: 255,
  /** A failing service retried more than a hundred times is not going to succeed: park it sooner. */
  eventAttemptsMax: 100,
  /** Events kept less than a minute are gone before a restarting service or node is back. */
  eventRetentionMsMin: 60_000,
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

/**
 * Domain, project and user ids of the built-in identity source: Keystone's own (32 lowercase
 * hex characters, or `default`) or any short token of letters, digits, "_" and "-" an operator
 * may carry over. (The first form is a case of the second; it is spelled out because it is
 * what Keystone and deriveStaticId make.) Ids appear in tokens, revocations and events.
 */
const identityId = z
  .string()
  .regex(new RegExp(`^(?:[0-9a-f]{32}|[A-Za-z0-9_-]{1,${configBounds.identityIdLengthMax}})$`), {
    error: (issue) =>
      `${describeValue(issue.input)} is not a valid id: 32 lowercase hex characters like Keystone's, ` +
      `or 1 to ${configBounds.identityIdLengthMax} letters, digits, "_" and "-"`,
  });

/** A Keystone name (domain, project, user, role): non-empty, trimmed, no control characters. */
function keystoneName(lengthMax: number): z.ZodString {
  return z
    .string()
    .max(lengthMax, { error: `must be at most ${lengthMax} characters` })
    .regex(/^\S(?:[^\p{Cc}]*\S)?$/u, {
      error: (issue) =>
        `${describeValue(issue.input)} is not a valid name: it must be non-empty, without leading or trailing spaces or control characters`,
    });
}

const projectName = keystoneName(configBounds.projectNameLengthMax);
const userName = keystoneName(configBounds.userNameLengthMax);
const roleName = keystoneName(configBounds.roleNameLengthMax);

/**
 * A password. Its value never appears in a message (messages end up in logs and terminals):
 * a password YAML read as a number says so without repeating it.
 */
const password = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : `expected a string, got ${describeKind(issue.input)} (the value is not shown; quote the password)`,
  })
  .min(1, { error: 'must not be empty' })
  .max(configBounds.passwordLengthMax, {
    error: `must be at most ${configBounds.passwordLengthMax} characters`,
  });

/** Keystone's base URL; compiled without a trailing `/v3` or `/`. Not echoed: a URL can carry credentials. */
const keystoneUrl = z.string().superRefine((text, ctx) => {
  const message = checkKeystoneUrl(text);
  if (message !== undefined) ctx.addIssue({ code: 'custom', message });
});

/** amqp:// or amqps:// URL; not echoed, because it normally carries the broker password. */
const amqpUrl = z.string().superRefine((text, ctx) => {
  const message = checkAmqpUrl(text);
  if (message !== undefined) ctx.addIssue({ code: 'custom', message });
});

/** An AMQP exchange or queue name. */
const amqpName = z.string().regex(new RegExp(`^[A-Za-z0-9_.:-]{1,${configBounds.amqpNameLengthMax}}$`), {
  error: (issue) =>
    `${describeValue(issue.input)} is not a valid AMQP name: 1 to ${configBounds.amqpNameLengthMax} letters, digits, "_", ".", ":" and "-"`,
});

function integerMs(min: number, max: number): z.ZodNumber {
  return integerFrom(min, max, ' (milliseconds)');
}

const staticDomainSchema = z.strictObject({
  /** Keystone domain id, e.g. default; unique among domains. Projects and users refer to it. */
  id: identityId,
  /** Domain name, e.g. Default; unique among domains. */
  name: projectName,
});

const staticProjectSchema = z.strictObject({
  /** Derived from cloud, domain and name when absent (derive-static-id.ts). Unique among projects. */
  id: identityId.optional(),
  /** Project name; unique within its domain. */
  name: projectName,
  /** Id of a declared domain. */
  domain: identityId.default(configDefaults.identity.domainId),
  /** A disabled project cannot be scoped to; its tokens are refused. */
  enabled: z.boolean().default(true),
});

const roleAssignmentSchema = z.strictObject({
  /** Name of a declared project in the user's domain. */
  project: projectName,
  /** Role name, e.g. member, reader, admin. */
  role: roleName,
});

const staticUserSchema = z.strictObject({
  /** Derived from cloud, domain and name when absent (derive-static-id.ts). Unique among users. */
  id: identityId.optional(),
  /** User name; unique within its domain. */
  name: userName,
  /** Checked when the user asks for a token; never logged or shown in a message. */
  password,
  /** Id of a declared domain. */
  domain: identityId.default(configDefaults.identity.domainId),
  /** A disabled user gets no token and the user's tokens are refused. */
  enabled: z.boolean().default(true),
  roles: z
    .array(roleAssignmentSchema)
    .max(configBounds.roleAssignmentsPerUserMax, {
      error: `at most ${configBounds.roleAssignmentsPerUserMax} role assignments`,
    })
    .default(() => []),
});

const staticIdentitySchema = z.strictObject({
  kind: z.literal('static'),
  /** Lifetime of the tokens this source issues. */
  tokenTtlMs: integerMs(configBounds.tokenTtlMsMin, configBounds.tokenTtlMsMax).default(
    configDefaults.identity.tokenTtlMs,
  ),
  domains: z
    .array(staticDomainSchema)
    .min(1, { error: 'must declare at least one domain' })
    .max(configBounds.staticDomainsMax, { error: `at most ${configBounds.staticDomainsMax} domains` })
    .default(() => configDefaults.identity.domains.map((domain) => ({ ...domain }))),
  projects: z
    .array(staticProjectSchema)
    .max(configBounds.staticProjectsMax, { error: `at most ${configBounds.staticProjectsMax} projects` })
    .default(() => []),
  users: z
    .array(staticUserSchema)
    .max(configBounds.staticUsersMax, { error: `at most ${configBounds.staticUsersMax} users` })
    .default(() => []),
});

const serviceUserSchema = z.strictObject({
  /** The account Alliance authenticates as; it needs Keystone's `service` role to validate tokens. */
  name: userName,
  /** Exactly one of password and passwordFile. */
  password: password.optional(),
  /** A file holding the password (surrounding whitespace trimmed), read when the config is loaded. */
  passwordFile: filePath.optional(),
  /** Id (not name) of the service user's domain. */
  domain: identityId.default(configDefaults.identity.domainId),
  /** Name of the project the service token is scoped to, e.g. service. */
  project: projectName,
  /** Id (not name) of that project's domain. */
  projectDomain: identityId.default(configDefaults.identity.domainId),
});

const keystoneNotificationsSchema = z.strictObject({
  /** The broker Keystone's oslo.messaging notifier writes to, e.g. amqp://user:pass@host:5672/vhost. */
  url: amqpUrl,
  /** oslo.messaging's control_exchange for Keystone. */
  exchange: amqpName.default(configDefaults.identity.notificationsExchange),
  /** Durable queue bound to the exchange; default alliance-<cloud>-<node> (defaultNotificationsQueue). */
  queue: amqpName.optional(),
});

const keystoneIdentitySchema = z.strictObject({
  kind: z.literal('keystone'),
  /** http(s) base URL of Keystone; a trailing /v3 or / is dropped. */
  url: keystoneUrl,
  serviceUser: serviceUserSchema,
  /** Keystone's [jwt_tokens] jws_public_key_repository, for a JWS cloud; null (default) for Fernet. */
  jwsPublicKeyDir: filePath.nullable().default(null),
  /** How often GET /v3/OS-REVOKE/events is polled. */
  revocationPollMs: integerMs(configBounds.keystonePollMsMin, configBounds.keystonePollMsMax).default(
    configDefaults.identity.revocationPollMs,
  ),
  /** How often the catalog and the JWS public keys are re-read. */
  refreshMs: integerMs(configBounds.keystoneRefreshMsMin, configBounds.durationMsMax).default(
    configDefaults.identity.refreshMs,
  ),
  /** Timeout of each request to Keystone. */
  requestTimeoutMs: integerMs(configBounds.requestTimeoutMsMin, configBounds.requestTimeoutMsMax).default(
    configDefaults.identity.requestTimeoutMs,
  ),
  /** Keystone's notifications over RabbitMQ; null (default): not consumed. */
  notifications: keystoneNotificationsSchema.nullable().default(null),
});

export const identityKinds = ['static', 'keystone'] as const satisfies readonly IdentityConfig['kind'][];

const identitySchema = z.discriminatedUnion('kind', [staticIdentitySchema, keystoneIdentitySchema], {
  error: (issue) => {
    if (issue.code !== 'invalid_union') return undefined;
    const kind = isRecord(issue.input) ? issue.input.kind : undefined;
    return kind === undefined
      ? `is required: one of ${identityKinds.join(', ')}`
      : `expected one of ${identityKinds.join(', ')}; got ${describeValue(kind)}`;
  },
});

/** Placeholders a grant's project may contain, replaced with the remote identity's values. */
export const grantPlaceholders = ['{cloud}', '{project}', '{project_name}'] as const;

/** The local project of a grant, with placeholders (checked in checkGrantProject). */
const grantProject = z.string().superRefine((text, ctx) => {
  const message = checkGrantProject(text);
  if (message !== undefined) ctx.addIssue({ code: 'custom', message });
});

/**
 * An entry of a match list: a domain or project id or name, or a role name, at the origin
 * cloud; as long as the longest of those (Keystone's user and role name columns).
 */
const matchEntry = keystoneName(configBounds.userNameLengthMax);

function matchList<T extends z.ZodType>(entry: T) {
  return z
    .array(entry)
    .max(configBounds.mappingMatchEntriesMax, {
      error: `at most ${configBounds.mappingMatchEntriesMax} entries`,
    })
    .default(() => []);
}

const mappingRuleSchema = z.strictObject({
  /** Names the rule in logs; unique among rules. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
    error: (issue) =>
      `${describeValue(issue.input)} is not a valid rule name: 1 to 64 letters, digits, "_", "." and "-", starting with a letter or digit`,
  }),
  /**
   * Which remote identities the rule is for; every list given must match, an empty list matches
   * anything. Required, so that a rule matching everyone is written as `match: {}` on purpose.
   */
  match: z.strictObject(
    {
      /** Origin clouds; empty: any cloud but this one. */
      clouds: matchList(lowercaseId),
      /** Domain ids or names at the origin; empty: any. */
      domains: matchList(matchEntry),
      /** Project ids or names at the origin; empty: any. */
      projects: matchList(matchEntry),
      /** The identity holds at least one of these roles; empty: any. */
      roles: matchList(matchEntry),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type' && issue.input === undefined
          ? 'is required; write match: {} for a rule that matches every identity from another cloud'
          : undefined,
    },
  ),
  /** What a matching identity gets here. */
  grant: z.strictObject({
    /** Local project id; {cloud}, {project} and {project_name} are replaced with the remote identity's. */
    project: grantProject,
    /** Local roles on that project; at least one. */
    roles: z
      .array(roleName)
      .min(1, { error: 'must list at least one role' })
      .max(configBounds.mappingMatchEntriesMax, {
        error: `at most ${configBounds.mappingMatchEntriesMax} roles`,
      }),
  }),
});

const tokensSchema = z.strictObject({
  /** Longest lifetime of a federation token issued here (never beyond its home token). */
  federationTokenTtlMaxMs: integerMs(configBounds.tokenTtlMsMin, configBounds.tokenTtlMsMax).default(
    configDefaults.tokens.federationTokenTtlMaxMs,
  ),
  /** How long a "no such token" answer from an issuing cloud is cached; 0: not cached. */
  negativeCacheMs: integerMs(0, configBounds.negativeCacheMsMax).default(
    configDefaults.tokens.negativeCacheMs,
  ),
  /** How long an issuing cloud has to answer an opaque-token validation. */
  originTimeoutMs: integerMs(configBounds.requestTimeoutMsMin, configBounds.requestTimeoutMsMax).default(
    configDefaults.tokens.originTimeoutMs,
  ),
  /** How long revocations are kept past their issued_before: the longest token lifetime in the federation. */
  revocationRetentionMs: integerMs(configBounds.tokenTtlMsMin, configBounds.revocationRetentionMsMax).default(
    configDefaults.tokens.revocationRetentionMs,
  ),
});

/** A subscriber name: a service's, as it subscribes (e.g. nova); see src/events/event-codec.ts. */
const subscriberName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, {
  error: (issue) =>
    `${describeValue(issue.input)} is not a valid subscriber name: 1 to 63 lowercase letters, digits, "_", "." and "-", starting with a letter or digit`,
});

const eventsSchema = z.strictObject({
  /**
   * Services of this cloud that must handle every event: each gets every event held here, even
   * one published before it first subscribed, and an event counts as handled in this cloud when
   * all of them acked it. At most limits.expectedSubscribersMax.
   */
  expectedSubscribers: z
    .array(subscriberName)
    .max(limits.expectedSubscribersMax, {
      error: `at most ${limits.expectedSubscribersMax} expected subscribers (limits.expectedSubscribersMax)`,
    })
    .default(() => [...configDefaults.events.expectedSubscribers]),
  /** Deliveries one subscriber may hold unacked; at most limits.eventWindowMax. */
  windowMax: integerFrom(1, limits.eventWindowMax, ' (limits.eventWindowMax)').default(
    configDefaults.events.windowMax,
  ),
  /** First delay before a failed delivery is sent again; doubles up to the maximum. */
  retryBackoffMinMs: durationMs(1).default(configDefaults.events.retryBackoffMinMs),
  retryBackoffMaxMs: durationMs(1).default(configDefaults.events.retryBackoffMaxMs),
  /** Failed attempts after which a delivery is parked (a visible dead letter, never sent again). */
  attemptsMax: integerFrom(1, configBounds.eventAttemptsMax).default(configDefaults.events.attemptsMax),
  /** How long every node keeps an event after it was published. */
  retentionMs: integerMs(configBounds.eventRetentionMsMin, limits.eventRetentionMsMax).default(
    configDefaults.events.retentionMs,
  ),
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
    /** Where this cloud's identities and tokens come from: the built-in source, or a Keystone. */
    identity: identitySchema.prefault({ kind: configDefaults.identity.kind }),
    /** How identities from other clouds get local projects and roles here; tried in order. */
    mapping: z
      .array(mappingRuleSchema)
      .max(configBounds.mappingRulesMax, { error: `at most ${configBounds.mappingRulesMax} rules` })
      .default(() => []),
    tokens: tokensSchema.prefault({}),
    /** Delivery of account-state events and meter records to this cloud's services. */
    events: eventsSchema.prefault({}),
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
  if (isRecord(value.events)) checkEvents(value.events, report);
  const cloud = typeof value.cloud === 'string' ? value.cloud : undefined;
  const identity = isRecord(value.identity) ? value.identity : {};
  if (identity.kind === 'static') checkStaticIdentity(identity, cloud, report);
  if (identity.kind === 'keystone' && isRecord(identity.serviceUser)) {
    checkServiceUserPassword(identity.serviceUser, report);
  }
  const mapping = recordsAt(value, 'mapping');
  if (mapping !== undefined) checkMapping(mapping, cloud, report);
  checkRevocationRetention(isRecord(value.tokens) ? value.tokens : {}, identity, report);
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
  what: 'region' | 'service' | 'domain',
  path: (string | number)[],
  report: Report,
): void {
  if (typeof reference !== 'string' || declared.has(reference)) return;
  const list = what === 'domain' ? 'identity.domains' : `catalog.${what}s`;
  const listed =
    declared.size === 0 ? `no ${what}s are declared in ${list}` : `declared: ${listSome(declared.keys())}`;
  report(path, `refers to undeclared ${what} ${describeValue(reference)} (${listed})`);
}

/** The first ten of a list, for a message. */
function listSome(items: Iterable<string>): string {
  const all = [...items];
  return `${all.slice(0, 10).join(', ')}${all.length > 10 ? ', …' : ''}`;
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

function checkEvents(events: Record<string, unknown>, report: Report): void {
  const min = events.retryBackoffMinMs ?? configDefaults.events.retryBackoffMinMs;
  const max = events.retryBackoffMaxMs ?? configDefaults.events.retryBackoffMaxMs;
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    report(['events', 'retryBackoffMinMs'], `must not exceed events.retryBackoffMaxMs (${max}); got ${min}`);
  }
  const names = Array.isArray(events.expectedSubscribers) ? events.expectedSubscribers : [];
  const first = new Map<unknown, number>();
  for (const [index, name] of names.entries()) {
    const seen = first.get(name);
    if (seen === undefined) first.set(name, index);
    else {
      report(
        ['events', 'expectedSubscribers', index],
        `duplicate subscriber ${describeValue(name)} (first listed at ${formatPath(['events', 'expectedSubscribers', seen])})`,
      );
    }
  }
}

/**
 * The built-in identity source's references and uniqueness rules, Keystone's: domain ids and
 * names are unique; project and user names are unique within their domain; ids (given or
 * derived) are unique; a role assignment names a project of the user's own domain.
 */
function checkStaticIdentity(
  identity: Record<string, unknown>,
  cloud: string | undefined,
  report: Report,
): void {
  const domains = recordsAt(identity, 'domains') ?? [];
  const projects = recordsAt(identity, 'projects') ?? [];
  const users = recordsAt(identity, 'users') ?? [];
  const domainIds = checkUnique(['identity', 'domains'], domains, 'id', report);
  checkUnique(['identity', 'domains'], domains, 'name', report);
  const checkDomain = (item: Record<string, unknown> | undefined, path: (string | number)[]): void => {
    checkReference(domainOf(item), domainIds, 'domain', path, report);
  };
  for (const [index, project] of projects.entries()) {
    checkDomain(project, ['identity', 'projects', index, 'domain']);
  }
  for (const [index, user] of users.entries()) checkDomain(user, ['identity', 'users', index, 'domain']);
  const projectNames = checkUnique(['identity', 'projects'], projects, 'name', report, domainOf);
  checkUnique(['identity', 'users'], users, 'name', report, domainOf);
  checkStaticIds(['identity', 'projects'], 'project', projects, cloud, report);
  checkStaticIds(['identity', 'users'], 'user', users, cloud, report);
  for (const [userIndex, user] of users.entries()) {
    const domain = domainOf(user);
    if (domain === undefined || !domainIds.has(domain)) continue; // reported above
    const assignments = recordsAt(user ?? {}, 'roles') ?? [];
    const seen = new Map<string, number>();
    for (const [index, assignment] of assignments.entries()) {
      const path = ['identity', 'users', userIndex, 'roles', index];
      const project = assignment?.project;
      const role = assignment?.role;
      if (typeof project !== 'string') continue;
      if (!projectNames.has(scopedKey(domain, project))) {
        const inDomain = [...projectNames.keys()]
          .filter((key) => key.startsWith(scopedKey(domain, '')))
          .map((key) => key.slice(scopedKey(domain, '').length));
        const listed =
          inDomain.length === 0 ? 'no projects are declared there' : `declared there: ${listSome(inDomain)}`;
        report(
          [...path, 'project'],
          `refers to project ${describeValue(project)}, which is not declared in the user's domain ${describeValue(domain)} (${listed})`,
        );
        continue;
      }
      if (typeof role !== 'string') continue;
      const first = seen.get(scopedKey(project, role));
      if (first === undefined) seen.set(scopedKey(project, role), index);
      else {
        report(
          path,
          `duplicate role assignment: ${describeValue(role)} on ${describeValue(project)} ` +
            `(first declared at ${formatPath(['identity', 'users', userIndex, 'roles', first])})`,
        );
      }
    }
  }
}

/** A project's or user's domain, with the default filled in. */
function domainOf(item: Record<string, unknown> | undefined): string | undefined {
  const domain = item?.domain ?? configDefaults.identity.domainId;
  return typeof domain === 'string' ? domain : undefined;
}

function scopedKey(scope: string, value: string): string {
  return `${scope}\0${value}`;
}

/**
 * Reports every repeated value of `field` (within the same scope when `scopeOf` is given);
 * returns each value (as scopedKey(scope, value) when scoped) with the index of its first declaration.
 */
function checkUnique(
  list: (string | number)[],
  items: (Record<string, unknown> | undefined)[],
  field: string,
  report: Report,
  scopeOf?: (item: Record<string, unknown> | undefined) => string | undefined,
): Map<string, number> {
  const firstIndex = new Map<string, number>();
  for (const [index, item] of items.entries()) {
    const value = item?.[field];
    const scope = scopeOf === undefined ? undefined : scopeOf(item);
    if (typeof value !== 'string' || (scopeOf !== undefined && scope === undefined)) continue;
    const key = scope === undefined ? value : scopedKey(scope, value);
    const first = firstIndex.get(key);
    if (first === undefined) {
      firstIndex.set(key, index);
      continue;
    }
    const where = scope === undefined ? '' : ` in domain ${describeValue(scope)}`;
    report(
      [...list, index, field],
      `duplicate ${field} ${describeValue(value)}${where} (first declared at ${formatPath([...list, first])})`,
    );
  }
  return firstIndex;
}

/**
 * Ids given or derived must not repeat. Two derived ids only collide for the same domain and
 * name, already reported as a duplicate name; the cases left are a given id repeated, and a
 * derived id someone also wrote down for another entry.
 */
function checkStaticIds(
  list: (string | number)[],
  kind: StaticIdKind,
  items: (Record<string, unknown> | undefined)[],
  cloud: string | undefined,
  report: Report,
): void {
  const firstIndex = new Map<string, { index: number; given: boolean }>();
  for (const [index, item] of items.entries()) {
    const given = item?.id;
    const domain = domainOf(item);
    const name = item?.name;
    let id: string;
    if (typeof given === 'string') id = given;
    else if (given === undefined && cloud !== undefined && domain !== undefined && typeof name === 'string') {
      id = deriveStaticId(cloud, kind, domain, name);
    } else continue;
    const first = firstIndex.get(id);
    if (first === undefined) firstIndex.set(id, { index, given: given !== undefined });
    else if (given !== undefined) {
      report(
        [...list, index, 'id'],
        `duplicate id ${describeValue(id)} (first declared at ${formatPath([...list, first.index])})`,
      );
    } else if (first.given) {
      report(
        [...list, index, 'name'],
        `the id derived for this ${kind}, ${describeValue(id)}, is already the id of ${formatPath([...list, first.index])}; give this ${kind} an id`,
      );
    }
  }
}

/** Exactly one of password and passwordFile; neither value is shown. */
function checkServiceUserPassword(serviceUser: Record<string, unknown>, report: Report): void {
  const hasPassword = serviceUser.password !== undefined;
  const hasFile = serviceUser.passwordFile !== undefined;
  if (hasPassword && hasFile) {
    report(
      ['identity', 'serviceUser', 'passwordFile'],
      'cannot be given together with password; give exactly one of password and passwordFile',
    );
  } else if (!hasPassword && !hasFile) {
    report(
      ['identity', 'serviceUser', 'password'],
      'is required, or passwordFile naming a file that holds it; give exactly one',
    );
  }
}

function checkMapping(
  rules: (Record<string, unknown> | undefined)[],
  cloud: string | undefined,
  report: Report,
): void {
  checkUnique(['mapping'], rules, 'name', report);
  if (cloud === undefined) return;
  for (const [index, rule] of rules.entries()) {
    const clouds = isRecord(rule?.match) && Array.isArray(rule.match.clouds) ? rule.match.clouds : [];
    for (const [position, entry] of clouds.entries()) {
      if (entry !== cloud) continue;
      report(
        ['mapping', index, 'match', 'clouds', position],
        `${describeValue(entry)} is this cloud; mapping rules are for identities from other clouds ` +
          '(identities of this cloud have their roles here already)',
      );
    }
  }
}

/**
 * A revocation dropped before the tokens it revokes expire would bring them back to life, so
 * revocations are kept at least as long as the longest token this node knows can be issued.
 */
function checkRevocationRetention(
  tokens: Record<string, unknown>,
  identity: Record<string, unknown>,
  report: Report,
): void {
  const retention = tokens.revocationRetentionMs ?? configDefaults.tokens.revocationRetentionMs;
  if (typeof retention !== 'number') return;
  const lifetimes: [string, unknown][] = [
    [
      'tokens.federationTokenTtlMaxMs',
      tokens.federationTokenTtlMaxMs ?? configDefaults.tokens.federationTokenTtlMaxMs,
    ],
  ];
  if (identity.kind === 'static') {
    lifetimes.unshift(['identity.tokenTtlMs', identity.tokenTtlMs ?? configDefaults.identity.tokenTtlMs]);
  }
  // One problem, naming the longest lifetime (the first of equals): raising the retention to it fixes all.
  let longest: [string, number] | undefined;
  for (const [key, lifetime] of lifetimes) {
    if (typeof lifetime === 'number' && (longest === undefined || lifetime > longest[1])) {
      longest = [key, lifetime];
    }
  }
  if (longest === undefined || retention >= longest[1]) return;
  report(
    ['tokens', 'revocationRetentionMs'],
    `must be at least ${longest[0]} (${longest[1]}), or revocations are dropped while the tokens they revoke are still valid; got ${retention}`,
  );
}

function checkKeystoneUrl(text: string): string | undefined {
  if (text.length > configBounds.urlLengthMax)
    return `must be at most ${configBounds.urlLengthMax} characters`;
  // The value is not shown in these messages: it is a URL, and a URL can carry a password.
  if (!/^https?:\/\//i.test(text) || !URL.canParse(text)) return 'is not an http:// or https:// URL';
  const url = new URL(text);
  if (url.username !== '' || url.password !== '') {
    return 'must not contain credentials; the service user is identity.serviceUser';
  }
  if (/[?#]/.test(text)) {
    return 'must not have a query or a fragment: it is the base URL that paths such as /v3/auth/tokens are appended to';
  }
  return undefined;
}

function checkAmqpUrl(text: string): string | undefined {
  if (text.length > configBounds.urlLengthMax)
    return `must be at most ${configBounds.urlLengthMax} characters`;
  if (!/^amqps?:\/\//i.test(text) || !URL.canParse(text)) {
    return 'is not an amqp:// or amqps:// URL (the value is not shown: it may hold a password)';
  }
  return undefined;
}

function checkGrantProject(text: string): string | undefined {
  if (text === '') return 'must not be empty';
  if (text.length > configBounds.grantProjectLengthMax)
    return `must be at most ${configBounds.grantProjectLengthMax} characters`;
  if (/\p{Cc}/u.test(text)) return 'must not contain control characters';
  const allowed = `allowed: ${grantPlaceholders.join(', ')}`;
  const unknown = (text.match(/\{[^{}]*\}/g) ?? []).filter(
    (placeholder) => !(grantPlaceholders as readonly string[]).includes(placeholder),
  );
  if (unknown.length > 0) {
    return `${describeValue(text)} has unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ${allowed}`;
  }
  if (/[{}]/.test(text.replace(/\{[^{}]*\}/g, ''))) {
    return `${describeValue(text)} has an unmatched "{" or "}"; ${allowed}`;
  }
  return undefined;
}

/** `['identity', 'users', 2]` → `identity.users[2]`, for messages that point at another key. */
function formatPath(path: (string | number)[]): string {
  return path
    .map((segment, index) =>
      typeof segment === 'number' ? `[${segment}]` : index === 0 ? segment : `.${segment}`,
    )
    .join('');
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

/** What kind of value this is, without the value: for values that must not be shown (passwords). */
function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

/**
 * A value as an operator would recognise it from the YAML file. Never given a password: the
 * password schema and the checks on it describe only the kind of value (describeKind).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
