/** What the config tests share: the smallest valid file, what it compiles to, and a problem catcher. */
import { ConfigError } from '../../../src/config/load.js';
import type { ConfigProblem, RawConfigInput } from '../../../src/config/load.js';
import type { NodeConfig } from '../../../src/config/types.js';

export const baseDir = '/etc/alliance';

export const minimalYaml = `
federation: demo
cloud: cloud-a
node: n1
dataDir: data
tls: { ca: ca.pem, cert: node.pem, key: node.key.pem }
`;

export const minimalRaw = {
  federation: 'demo',
  cloud: 'cloud-a',
  node: 'n1',
  dataDir: 'data',
  tls: { ca: 'ca.pem', cert: 'node.pem', key: 'node.key.pem' },
} satisfies RawConfigInput;

/** The identity, mapping and tokens of a file that has none of those keys: the documented defaults. */
export const defaultIdentityMappingTokens: Pick<NodeConfig, 'identity' | 'mapping' | 'tokens' | 'events'> = {
  identity: {
    kind: 'static',
    domains: [{ id: 'default', name: 'Default' }],
    projects: [],
    users: [],
    tokenTtlMs: 3_600_000,
  },
  mapping: [],
  tokens: {
    federationTokenTtlMaxMs: 3_600_000,
    negativeCacheMs: 5000,
    originTimeoutMs: 2000,
    revocationRetentionMs: 90_000_000,
  },
  events: {
    expectedSubscribers: [],
    windowMax: 64,
    retryBackoffMinMs: 1_000,
    retryBackoffMaxMs: 60_000,
    attemptsMax: 5,
    retentionMs: 604_800_000,
  },
};

/** What minimalYaml compiles to (with baseDir): every default. */
export const minimalConfig: NodeConfig = {
  federation: 'demo',
  cloud: 'cloud-a',
  node: 'n1',
  nodeId: 'cloud-a/n1',
  dataDir: '/etc/alliance/data',
  listen: {
    local: { kind: 'tcp', host: '127.0.0.1', port: 7700 },
    peer: { host: '127.0.0.1', port: 7701 },
    http: { host: '127.0.0.1', port: 7702 },
  },
  advertisePeerAddress: '127.0.0.1:7701',
  tls: {
    caFile: '/etc/alliance/ca.pem',
    certFile: '/etc/alliance/node.pem',
    keyFile: '/etc/alliance/node.key.pem',
  },
  seeds: [],
  catalog: { regions: [], services: [], endpoints: [] },
  mesh: {
    antiEntropyIntervalMs: 2000,
    reconnectBackoffMinMs: 200,
    reconnectBackoffMaxMs: 10000,
    peersMax: 64,
    eagerFanoutMax: 16,
  },
  ...defaultIdentityMappingTokens,
  log: { level: 'info' },
};

/** The problems a call reports, or a failure if it did not throw a ConfigError. */
export function problemsOf(run: () => unknown): ConfigProblem[] {
  return configErrorOf(run).problems;
}

/** The ConfigError a call throws, or a failure if it threw nothing or something else. */
export function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
