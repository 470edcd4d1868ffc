/**
 * A whole local federation on loopback for trying Alliance and for tests: a federation CA,
 * a certificate and a config file per cloud, written to one folder and reused on the next
 * run, so nodes restarted from it keep their identity and their state.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileConfig, renderConfigYaml } from '../config/load.js';
import type { RawConfigInput } from '../config/load.js';
import type { NodeConfig } from '../config/types.js';
import {
  createFederationCa,
  issueNodeCertificate,
  readCaFederation,
  writeCertificateFiles,
} from '../pki/index.js';

export const devFederation = 'alliance-dev';
export const devCloudsMax = 26;
export const devBasePortDefault = 7700;

export interface DevCloudPorts {
  local: number;
  peer: number;
  http: number;
}

export interface DevFederationOptions {
  dir: string;
  clouds: number;
  /** Ports of cloud `index` (0-based). */
  portsOf: (index: number) => DevCloudPorts;
  logLevel?: NodeConfig['log']['level'];
  antiEntropyIntervalMs?: number;
}

export interface DevCloud {
  cloud: string;
  configPath: string;
  config: NodeConfig;
  ports: DevCloudPorts;
}

/** Cloud i (0-based) uses local API port P+10i, peer port P+10i+1, HTTP port P+10i+2. */
export function devPorts(basePort: number): (index: number) => DevCloudPorts {
  return (index) => ({
    local: basePort + 10 * index,
    peer: basePort + 10 * index + 1,
    http: basePort + 10 * index + 2,
  });
}

export function devCloudName(index: number): string {
  return `cloud-${String.fromCharCode('a'.charCodeAt(0) + index)}`;
}

/** The catalog a dev cloud publishes: a region and a few services, as a small OpenStack has. */
export function devCatalog(cloud: string): NonNullable<RawConfigInput['catalog']> {
  const letter = cloud.slice(-1);
  const region = `region-${letter}1`;
  const host = `${cloud}.alliance.test`;
  return {
    regions: [{ id: region, description: `The first region of ${cloud}` }],
    services: [
      { id: 'keystone', type: 'identity', name: 'keystone' },
      { id: 'nova', type: 'compute', name: 'nova' },
      { id: 'neutron', type: 'network', name: 'neutron' },
      { id: 'glance', type: 'image', name: 'glance' },
    ],
    endpoints: [
      {
        id: 'keystone-public',
        region,
        service: 'keystone',
        interface: 'public',
        url: `https://${host}:5000/v3`,
      },
      { id: 'nova-public', region, service: 'nova', interface: 'public', url: `https://${host}:8774/v2.1` },
      {
        id: 'nova-internal',
        region,
        service: 'nova',
        interface: 'internal',
        url: `http://nova.${host}:8774/v2.1`,
      },
      { id: 'neutron-public', region, service: 'neutron', interface: 'public', url: `https://${host}:9696` },
      { id: 'glance-public', region, service: 'glance', interface: 'public', url: `https://${host}:9292` },
    ],
  };
}

/**
 * The built-in identity of a dev cloud: a `demo` user (password `demo`, role `member` on
 * project `demo`) and an `admin` (password `admin`, role `admin` on project `admin`), plus
 * one project per other cloud, `remote-<cloud>`, where that cloud's members are mapped.
 */
export function devIdentity(
  cloud: string,
  otherClouds: readonly string[],
): NonNullable<RawConfigInput['identity']> {
  return {
    kind: 'static',
    projects: [
      { name: 'demo', domain: 'default' },
      { name: 'admin', domain: 'default' },
      ...otherClouds.map((other) => ({ id: `remote-${other}`, name: `remote-${other}`, domain: 'default' })),
    ],
    users: [
      { name: 'demo', password: 'demo', domain: 'default', roles: [{ project: 'demo', role: 'member' }] },
      { name: 'admin', password: 'admin', domain: 'default', roles: [{ project: 'admin', role: 'admin' }] },
    ],
  };
}

/** A remote `member` becomes `member` of the local project `remote-<its cloud>`. */
export const devMapping: NonNullable<RawConfigInput['mapping']> = [
  {
    name: 'remote-members',
    match: { roles: ['member'] },
    grant: { project: 'remote-{cloud}', roles: ['member'] },
  },
];

/** Every dev cloud expects these services to handle every event, so the whole flow can be tried at once. */
export const devExpectedSubscribers = ['nova', 'neutron'] as const;

/** Writes (or reuses) the CA, certificates and configs; returns each cloud's compiled config. */
export function prepareDevFederation(options: DevFederationOptions): DevCloud[] {
  if (!Number.isInteger(options.clouds) || options.clouds < 1 || options.clouds > devCloudsMax) {
    throw new Error(`--clouds must be a whole number from 1 to ${devCloudsMax}`);
  }
  const dir = resolve(options.dir);
  const caDir = join(dir, 'ca');
  const caCertFile = join(caDir, 'ca.pem');
  const caKeyFile = join(caDir, 'ca.key.pem');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  if (!existsSync(caCertFile) || readCaFederation(readFileSync(caCertFile, 'utf8')) !== devFederation) {
    writeCertificateFiles(caDir, createFederationCa({ federation: devFederation }), {
      certName: 'ca.pem',
      keyName: 'ca.key.pem',
      force: true,
    });
  }
  const caCertPem = readFileSync(caCertFile, 'utf8');
  const caKeyPem = readFileSync(caKeyFile, 'utf8');

  const clouds: DevCloud[] = [];
  for (let index = 0; index < options.clouds; index++) {
    const cloud = devCloudName(index);
    const ports = options.portsOf(index);
    const cloudDir = join(dir, cloud);
    const certDir = join(cloudDir, 'certs');
    if (!existsSync(join(certDir, 'node.pem')) || !existsSync(join(certDir, 'node.key.pem'))) {
      mkdirSync(certDir, { recursive: true, mode: 0o700 });
      writeCertificateFiles(certDir, issueNodeCertificate({ caCertPem, caKeyPem, cloud, node: 'n1' }), {
        certName: 'node.pem',
        keyName: 'node.key.pem',
        force: true,
      });
    }
    writeFileSync(join(certDir, 'ca.pem'), caCertPem);
    // Each cloud is seeded with one other only; member records spread the rest.
    const seedIndex = index === 0 ? 1 : 0;
    const raw: RawConfigInput = {
      federation: devFederation,
      cloud,
      node: 'n1',
      dataDir: 'data',
      listen: {
        local: `127.0.0.1:${ports.local}`,
        peer: `127.0.0.1:${ports.peer}`,
        http: `127.0.0.1:${ports.http}`,
      },
      tls: { ca: 'certs/ca.pem', cert: 'certs/node.pem', key: 'certs/node.key.pem' },
      seeds: seedIndex < options.clouds ? [`127.0.0.1:${options.portsOf(seedIndex).peer}`] : [],
      catalog: devCatalog(cloud),
      identity: devIdentity(
        cloud,
        Array.from({ length: options.clouds }, (_, i) => devCloudName(i)).filter((other) => other !== cloud),
      ),
      mapping: devMapping,
      events: { expectedSubscribers: [...devExpectedSubscribers] },
      mesh: options.antiEntropyIntervalMs ? { antiEntropyIntervalMs: options.antiEntropyIntervalMs } : {},
      log: { level: options.logLevel ?? 'info' },
    };
    const configPath = join(cloudDir, 'alliance.yaml');
    writeFileSync(configPath, renderConfigYaml(raw));
    clouds.push({ cloud, configPath, config: compileConfig(raw, cloudDir, { source: configPath }), ports });
  }
  return clouds;
}
