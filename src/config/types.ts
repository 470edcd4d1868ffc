/**
 * The compiled configuration a node runs with: every field present, units in names.
 * src/config/load.ts turns a YAML file (documented in docs/CONFIGURATION.md) into this.
 */
export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface RegionConfig {
  id: string;
  description: string;
  parentRegionId: string;
}

export interface ServiceConfig {
  id: string;
  type: string;
  name: string;
  description: string;
  enabled: boolean;
}

export interface EndpointConfig {
  id: string;
  region: string;
  /** Refers to ServiceConfig.id. */
  serviceId: string;
  interface: 'public' | 'internal' | 'admin';
  url: string;
  enabled: boolean;
}

export interface CatalogConfig {
  regions: RegionConfig[];
  services: ServiceConfig[];
  endpoints: EndpointConfig[];
}

export interface MeshConfig {
  /** How often each connection runs anti-entropy (digest exchange). */
  antiEntropyIntervalMs: number;
  reconnectBackoffMinMs: number;
  reconnectBackoffMaxMs: number;
  peersMax: number;
  eagerFanoutMax: number;
}

export interface StaticDomainConfig {
  id: string;
  name: string;
}

export interface StaticProjectConfig {
  /** 32 hex characters like Keystone's; derived from cloud, domain and name when not given. */
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
}

export interface StaticUserConfig {
  /** 32 hex characters like Keystone's; derived from cloud, domain and name when not given. */
  id: string;
  name: string;
  domainId: string;
  password: string;
  enabled: boolean;
  /** Role assignments: a role on a project (by project name, in the user's domain). */
  roles: { project: string; role: string }[];
}

/** The built-in identity source: a small Keystone for clouds (and demos) without one. */
export interface StaticIdentityConfig {
  kind: 'static';
  domains: StaticDomainConfig[];
  projects: StaticProjectConfig[];
  users: StaticUserConfig[];
  /** Lifetime of the tokens it issues. */
  tokenTtlMs: number;
}

/** A real Keystone, over its v3 REST API with a service account. */
export interface KeystoneIdentityConfig {
  kind: 'keystone';
  /** Keystone's base URL, without /v3 (e.g. http://127.0.0.1:5000). */
  url: string;
  serviceUser: {
    name: string;
    password: string;
    domainId: string;
    projectName: string;
    projectDomainId: string;
  };
  /** Keystone's [jwt_tokens] jws_public_key_repository, for a JWS cloud; null for Fernet. */
  jwsPublicKeyDir: string | null;
  /** How often GET /v3/OS-REVOKE/events is polled. */
  revocationPollMs: number;
  /** How often the catalog and the JWS keys are re-read. */
  refreshMs: number;
  requestTimeoutMs: number;
  /** Keystone's notifications on RabbitMQ (oslo.messaging); null: not consumed. */
  notifications: { url: string; exchange: string; queue: string } | null;
}

export type IdentityConfig = StaticIdentityConfig | KeystoneIdentityConfig;

/**
 * One mapping rule: remote identities it matches get a local project and roles here.
 * Rules are tried in order; the first match wins. No match: valid identity, no local rights.
 */
export interface MappingRule {
  name: string;
  match: {
    /** Origin clouds; empty: any cloud but this one. */
    clouds: string[];
    /** Empty: any. */
    domains: string[];
    /** Project ids or names at the origin; empty: any. */
    projects: string[];
    /** The identity holds at least one of these roles; empty: any. */
    roles: string[];
  };
  grant: {
    /** Local project id; `{cloud}`, `{project}` and `{project_name}` are replaced. */
    project: string;
    roles: string[];
  };
}

export interface TokensConfig {
  /** Longest lifetime of a federation token issued here (never beyond its home token). */
  federationTokenTtlMaxMs: number;
  /** How long a "no such token" answer from an issuing cloud is cached. */
  negativeCacheMs: number;
  /** How long an issuing cloud has to answer an opaque-token validation. */
  originTimeoutMs: number;
  /** Revocations are kept this long past their issued_before: the longest token lifetime in the federation. */
  revocationRetentionMs: number;
}

/** Delivery of account-state events and meter records to this cloud's services. */
export interface EventsConfig {
  /**
   * Subscribers this cloud expects to handle every event (e.g. nova, neutron): they receive
   * every event since the node first started, and an event counts as handled in this cloud
   * when all of them acked it. Any other subscriber name starts from its first Subscribe.
   */
  expectedSubscribers: string[];
  /** Deliveries one subscriber may hold unacknowledged; the stream waits beyond it. */
  windowMax: number;
  /** A failed delivery is retried after a backoff from min to max, doubling. */
  retryBackoffMinMs: number;
  retryBackoffMaxMs: number;
  /** After this many failed attempts a delivery is parked (a visible dead letter). */
  attemptsMax: number;
  /** Events expire from every node this long after publication. */
  retentionMs: number;
}

export interface NodeConfig {
  federation: string;
  cloud: string;
  node: string;
  /** `<cloud>/<node>`. */
  nodeId: string;
  dataDir: string;
  listen: {
    /** Local API: loopback TCP or a unix socket unless configured otherwise. */
    local: ListenAddress;
    /** Peer API (mTLS). */
    peer: { host: string; port: number };
    /** Metrics and HTTP health; null disables it. */
    http: { host: string; port: number } | null;
  };
  /** host:port other nodes dial to reach this node's peer API. */
  advertisePeerAddress: string;
  tls: TlsFiles;
  /** Peer API addresses (host:port) to dial at start. */
  seeds: string[];
  catalog: CatalogConfig;
  mesh: MeshConfig;
  identity: IdentityConfig;
  mapping: MappingRule[];
  tokens: TokensConfig;
  events: EventsConfig;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
}
