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
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
}
