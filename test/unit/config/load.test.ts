import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { compileConfig, loadConfig, parseConfig, renderConfigYaml } from '../../../src/config/load.js';
import type { RawConfigInput } from '../../../src/config/load.js';
import { deriveStaticId } from '../../../src/config/derive-static-id.js';
import type { NodeConfig } from '../../../src/config/types.js';
import {
  baseDir,
  defaultIdentityMappingTokens,
  minimalConfig,
  minimalRaw,
  minimalYaml,
  problemsOf,
} from './config-fixtures.js';

const fullYaml = `
federation: demo
cloud: cloud-a
node: n1
dataDir: ./data/cloud-a
listen:
  local: 127.0.0.1:7700
  peer: 0.0.0.0:7701
  http: 127.0.0.1:7702
  allowNonLoopbackLocal: false
advertisePeerAddress: 10.0.0.5:7701
tls: { ca: certs/ca.pem, cert: certs/node.pem, key: /secure/node.key.pem }
seeds: [127.0.0.1:7711, "[::1]:7721", peer.cloud-b.example:7701]
catalog:
  regions:
    - { id: RegionOne, description: "", parentRegionId: "" }
    - { id: RegionOne-East, description: East side, parentRegionId: RegionOne }
  services:
    - { id: nova, type: compute, name: nova, description: Compute, enabled: true }
    - { id: glance, type: image, name: glance, description: "", enabled: false }
  endpoints:
    - { id: nova-public, region: RegionOne, service: nova, interface: public, url: "https://nova.a.example:8774/v2.1", enabled: true }
    - { id: glance-internal, region: RegionOne-East, service: glance, interface: internal, url: "http://10.0.0.7:9292", enabled: false }
mesh:
  antiEntropyIntervalMs: 5000
  reconnectBackoffMinMs: 100
  reconnectBackoffMaxMs: 30000
  peersMax: 32
  eagerFanoutMax: 8
identity:
  kind: static
  tokenTtlMs: 7200000
  domains:
    - { id: default, name: Default }
    - { id: ops, name: Operations }
  projects:
    - { name: demo, domain: default, enabled: true }
    - { id: 0123456789abcdef0123456789abcdef, name: admin, domain: default, enabled: false }
    - { name: demo, domain: ops }
  users:
    - name: demo
      password: demo
      domain: default
      enabled: true
      roles: [{ project: demo, role: member }, { project: admin, role: admin }]
    - { id: alice-ops, name: alice, password: "s3cret: with a colon", domain: ops, enabled: false, roles: [{ project: demo, role: reader }] }
mapping:
  - name: remote-members
    match: { clouds: [cloud-b], domains: [], projects: [], roles: [member] }
    grant: { project: "{cloud}-guests", roles: [member] }
  - name: anyone-else
    match: {}
    grant: { project: "{cloud}-{project}", roles: [reader, viewer] }
tokens:
  federationTokenTtlMaxMs: 1800000
  negativeCacheMs: 0
  originTimeoutMs: 1500
  revocationRetentionMs: 7200000
events:
  expectedSubscribers: [nova, neutron, billing.v2]
  windowMax: 16
  retryBackoffMinMs: 500
  retryBackoffMaxMs: 30000
  attemptsMax: 8
  retentionMs: 86400000
log: { level: debug }
`;

const fullConfig: NodeConfig = {
  federation: 'demo',
  cloud: 'cloud-a',
  node: 'n1',
  nodeId: 'cloud-a/n1',
  dataDir: '/etc/alliance/data/cloud-a',
  listen: {
    local: { kind: 'tcp', host: '127.0.0.1', port: 7700 },
    peer: { host: '0.0.0.0', port: 7701 },
    http: { host: '127.0.0.1', port: 7702 },
  },
  advertisePeerAddress: '10.0.0.5:7701',
  tls: {
    caFile: '/etc/alliance/certs/ca.pem',
    certFile: '/etc/alliance/certs/node.pem',
    keyFile: '/secure/node.key.pem',
  },
  seeds: ['127.0.0.1:7711', '[::1]:7721', 'peer.cloud-b.example:7701'],
  catalog: {
    regions: [
      { id: 'RegionOne', description: '', parentRegionId: '' },
      { id: 'RegionOne-East', description: 'East side', parentRegionId: 'RegionOne' },
    ],
    services: [
      { id: 'nova', type: 'compute', name: 'nova', description: 'Compute', enabled: true },
      { id: 'glance', type: 'image', name: 'glance', description: '', enabled: false },
    ],
    endpoints: [
      {
        id: 'nova-public',
        region: 'RegionOne',
        serviceId: 'nova',
        interface: 'public',
        url: 'https://nova.a.example:8774/v2.1',
        enabled: true,
      },
      {
        id: 'glance-internal',
        region: 'RegionOne-East',
        serviceId: 'glance',
        interface: 'internal',
        url: 'http://10.0.0.7:9292',
        enabled: false,
      },
    ],
  },
  mesh: {
    antiEntropyIntervalMs: 5000,
    reconnectBackoffMinMs: 100,
    reconnectBackoffMaxMs: 30000,
    peersMax: 32,
    eagerFanoutMax: 8,
  },
  identity: {
    kind: 'static',
    domains: [
      { id: 'default', name: 'Default' },
      { id: 'ops', name: 'Operations' },
    ],
    projects: [
      // sha256("cloud-a:project:default:demo"), first 32 hex characters.
      { id: '7f39fae68e9b9b4c0f42c3fdc5ec6d70', name: 'demo', domainId: 'default', enabled: true },
      { id: '0123456789abcdef0123456789abcdef', name: 'admin', domainId: 'default', enabled: false },
      // Same name, another domain: another project, another id.
      { id: 'd505b3df41f639b86b27eaab7f664233', name: 'demo', domainId: 'ops', enabled: true },
    ],
    users: [
      {
        id: '2d58eed1c974d02f85d72603562a8828',
        name: 'demo',
        domainId: 'default',
        password: 'demo',
        enabled: true,
        roles: [
          { project: 'demo', role: 'member' },
          { project: 'admin', role: 'admin' },
        ],
      },
      {
        id: 'alice-ops',
        name: 'alice',
        domainId: 'ops',
        password: 's3cret: with a colon',
        enabled: false,
        roles: [{ project: 'demo', role: 'reader' }],
      },
    ],
    tokenTtlMs: 7_200_000,
  },
  mapping: [
    {
      name: 'remote-members',
      match: { clouds: ['cloud-b'], domains: [], projects: [], roles: ['member'] },
      grant: { project: '{cloud}-guests', roles: ['member'] },
    },
    {
      name: 'anyone-else',
      match: { clouds: [], domains: [], projects: [], roles: [] },
      grant: { project: '{cloud}-{project}', roles: ['reader', 'viewer'] },
    },
  ],
  tokens: {
    federationTokenTtlMaxMs: 1_800_000,
    negativeCacheMs: 0,
    originTimeoutMs: 1500,
    revocationRetentionMs: 7_200_000,
  },
  events: {
    expectedSubscribers: ['nova', 'neutron', 'billing.v2'],
    windowMax: 16,
    retryBackoffMinMs: 500,
    retryBackoffMaxMs: 30_000,
    attemptsMax: 8,
    retentionMs: 86_400_000,
  },
  log: { level: 'debug' },
};

describe('parseConfig', () => {
  test('a full config compiles, with relative paths resolved against the base directory', () => {
    expect(parseConfig(fullYaml, { baseDir })).toEqual(fullConfig);
  });

  test('a minimal config compiles with every default filled', () => {
    expect(parseConfig(minimalYaml, { baseDir })).toEqual(minimalConfig);
  });

  test('a config without identity, mapping or tokens gets the documented defaults', () => {
    const config = parseConfig(minimalYaml, { baseDir });
    expect({ identity: config.identity, mapping: config.mapping, tokens: config.tokens }).toEqual({
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
    });
  });

  test('an invalid config reports every bad key, not just the first', () => {
    const yaml = `
federation: Demo
cloud: cloud-a
node: n1
dataDir: data
dataDri: typo
listen:
  local: 0.0.0.0:7700
  peer: 127.0.0.1:77001
tls: { ca: ca.pem, cert: node.pem, key: node.key.pem }
catalog:
  regions: [{ id: RegionOne }]
  services:
    - { id: nova, type: compute }
    - { id: nova, type: compute }
  endpoints:
    - { id: e1, region: RegionOne, service: nova, interface: public, url: "https://nova.example" }
    - { id: e2, region: RegionOne, service: glance, interface: public, url: "ftp://glance.example" }
    - { id: e1, region: RegionTwo, service: nova, interface: admin, url: "https://nova.example:8774" }
`;
    expect(problemsOf(() => parseConfig(yaml, { baseDir }))).toEqual([
      {
        key: 'federation',
        message:
          '"Demo" is not a valid id: 1 to 63 characters, lowercase letters, digits and "-", starting with a letter or digit',
      },
      { key: 'listen.peer', message: 'port "77001" is not a number from 0 to 65535' },
      {
        key: 'catalog.endpoints[1].url',
        message: '"ftp://glance.example" is not an http:// or https:// URL',
      },
      { key: 'dataDri', message: 'unknown key; did you mean dataDir?' },
      {
        key: 'listen.local',
        message:
          '0.0.0.0 is not a loopback address; the local API (token validation and revocation, events, provisioning) ' +
          'listens only on loopback or a unix socket unless listen.allowNonLoopbackLocal is true',
      },
      {
        key: 'catalog.services[1].id',
        message: 'duplicate id "nova" (first declared at catalog.services[0])',
      },
      {
        key: 'catalog.endpoints[2].id',
        message: 'duplicate id "e1" (first declared at catalog.endpoints[0])',
      },
      {
        key: 'catalog.endpoints[1].service',
        message: 'refers to undeclared service "glance" (declared: nova)',
      },
      {
        key: 'catalog.endpoints[2].region',
        message: 'refers to undeclared region "RegionTwo" (declared: RegionOne)',
      },
    ]);
  });

  test('the error message lists every problem on its own line, starting with the key', () => {
    const yaml = `${minimalYaml}listen: { local: "0.0.0.0:7700" }\nlog: { level: loud }\n`;
    expect(() => parseConfig(yaml, { baseDir, source: '/etc/alliance/node.yaml' })).toThrow(
      'invalid configuration in /etc/alliance/node.yaml (2 problems):\n' +
        'log.level: expected one of trace, debug, info, warn, error, fatal, silent; got "loud"\n' +
        'listen.local: 0.0.0.0 is not a loopback address; the local API (token validation and revocation, ' +
        'events, provisioning) listens only on loopback or a unix socket unless listen.allowNonLoopbackLocal is true',
    );
  });

  test('a non-loopback local API address is accepted when allowNonLoopbackLocal is true', () => {
    const yaml = `${minimalYaml}listen: { local: "0.0.0.0:7700", allowNonLoopbackLocal: true }\n`;
    expect(parseConfig(yaml, { baseDir }).listen.local).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 7700 });
  });

  test('localhost and the IPv6 loopback are loopback hosts for the local API', () => {
    const local = (address: string) =>
      parseConfig(`${minimalYaml}listen: { local: "${address}" }\n`, { baseDir }).listen.local;
    expect([local('localhost:7700'), local('[::1]:0')]).toEqual([
      { kind: 'tcp', host: 'localhost', port: 7700 },
      { kind: 'tcp', host: '::1', port: 0 },
    ]);
  });

  test('a unix socket local address resolves a relative path against the base directory', () => {
    const local = (address: string) =>
      parseConfig(`${minimalYaml}listen: { local: "${address}" }\n`, { baseDir }).listen.local;
    expect([
      local('unix:/run/alliance.sock'),
      local('unix:run/alliance.sock'),
      local('unix:///tmp/a.sock'),
    ]).toEqual([
      { kind: 'unix', path: '/run/alliance.sock' },
      { kind: 'unix', path: '/etc/alliance/run/alliance.sock' },
      { kind: 'unix', path: '/tmp/a.sock' },
    ]);
  });

  test('a unix socket path longer than the operating system allows is refused', () => {
    const path = `/run/${'s'.repeat(110)}.sock`;
    expect(
      problemsOf(() => parseConfig(`${minimalYaml}listen: { local: "unix:${path}" }\n`, { baseDir })),
    ).toEqual([
      {
        key: 'listen.local',
        message: `the unix socket path "${path.slice(0, 77)}..." is 120 bytes; the operating system allows 107`,
      },
    ]);
  });

  test('the HTTP listener is disabled by null or false', () => {
    const http = (value: string) =>
      parseConfig(`${minimalYaml}listen: { http: ${value} }\n`, { baseDir }).listen.http;
    expect([http('null'), http('false'), http('~')]).toEqual([null, null, null]);
  });

  test('a peer listener on every interface needs an advertised address', () => {
    expect(
      problemsOf(() => parseConfig(`${minimalYaml}listen: { peer: "[::]:7701" }\n`, { baseDir })),
    ).toEqual([
      {
        key: 'advertisePeerAddress',
        message:
          'is required when listen.peer is "[::]:7701" (every interface): peers need an address they can dial',
      },
    ]);
  });

  test('the advertised address defaults to the peer listen address, IPv6 in brackets', () => {
    const config = parseConfig(`${minimalYaml}listen: { peer: "[::1]:7801" }\n`, { baseDir });
    expect(config.advertisePeerAddress).toBe('[::1]:7801');
  });

  test('addresses that cannot be dialled are refused as seeds and as the advertised address', () => {
    const yaml = `${minimalYaml}advertisePeerAddress: 0.0.0.0:7701\nseeds: [10.0.0.1:0, 10.0.0.2, "::1:7701"]\n`;
    expect(problemsOf(() => parseConfig(yaml, { baseDir }))).toEqual([
      {
        key: 'advertisePeerAddress',
        message: '0.0.0.0 means "every interface" and cannot be dialled; give a reachable address',
      },
      { key: 'seeds[0]', message: 'port 0 cannot be dialled; give the port the peer listens on' },
      {
        key: 'seeds[1]',
        message: '"10.0.0.2" has no port; expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700',
      },
      { key: 'seeds[2]', message: '"::1:7701": an IPv6 host must be in brackets, as in [::1]:7700' },
    ]);
  });

  test('types, required keys, enums and mesh bounds are each reported under their key', () => {
    const yaml = `
federation: demo
cloud: 7
dataDir: "~/alliance"
tls: { ca: ca.pem, cert: node.pem, key: node.key.pem, password: x }
listen: { http: yes, peer: 1, allowNonLoopbackLocal: "true" }
catalog:
  regions: [{ id: " RegionOne" }]
  endpoints: [{ id: e, region: RegionOne, service: nova, interface: pubic, url: "https://x" }]
mesh: { reconnectBackoffMinMs: 20000, peersMax: 65, eagerFanoutMax: 1.5, antiEntropyIntervalMs: 0 }
`;
    expect(problemsOf(() => parseConfig(yaml, { baseDir }))).toEqual([
      { key: 'cloud', message: 'expected a string, got 7' },
      { key: 'node', message: 'is required' },
      {
        key: 'dataDir',
        message: '"~" is not expanded; use an absolute path or one relative to the config file',
      },
      { key: 'listen.peer', message: 'expected a string, got 1' },
      {
        key: 'listen.http',
        message: '"yes" has no port; expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700',
      },
      { key: 'listen.allowNonLoopbackLocal', message: 'expected true or false, got "true"' },
      { key: 'tls.password', message: 'unknown key; expected one of ca, cert, key' },
      {
        key: 'catalog.regions[0].id',
        message:
          '" RegionOne" is not a valid id: it must be non-empty, without leading or trailing spaces or control characters',
      },
      {
        key: 'catalog.endpoints[0].interface',
        message: 'expected one of public, internal, admin; got "pubic"',
      },
      {
        key: 'mesh.antiEntropyIntervalMs',
        message: 'must be an integer from 1 to 3600000 (milliseconds); got 0',
      },
      { key: 'mesh.peersMax', message: 'must be an integer from 1 to 64 (limits.peersMax); got 65' },
      {
        key: 'mesh.eagerFanoutMax',
        message: 'must be an integer from 1 to 16 (limits.eagerFanoutMax); got 1.5',
      },
      {
        key: 'catalog.endpoints[0].region',
        message: 'refers to undeclared region "RegionOne" (declared:  RegionOne)',
      },
      {
        key: 'catalog.endpoints[0].service',
        message: 'refers to undeclared service "nova" (no services are declared in catalog.services)',
      },
      {
        key: 'mesh.reconnectBackoffMinMs',
        message: 'must not exceed mesh.reconnectBackoffMaxMs (10000); got 20000',
      },
    ]);
  });

  test('parent regions must be declared and must not form a cycle', () => {
    const yaml = `${minimalYaml}catalog:
  regions:
    - { id: a, parentRegionId: b }
    - { id: b, parentRegionId: a }
    - { id: c, parentRegionId: c }
    - { id: d, parentRegionId: nowhere }
`;
    expect(problemsOf(() => parseConfig(yaml, { baseDir }))).toEqual([
      { key: 'catalog.regions[0].parentRegionId', message: 'parent regions form a cycle: a → b → a' },
      { key: 'catalog.regions[2].parentRegionId', message: 'a region cannot be its own parent' },
      {
        key: 'catalog.regions[3].parentRegionId',
        message: 'refers to undeclared region "nowhere" (declared: a, b, c, d)',
      },
    ]);
  });

  test('a YAML syntax error is one problem with its line and column', () => {
    const yaml = 'federation: demo\ncloud: [cloud-a\nnode: n1\n';
    expect(problemsOf(() => parseConfig(yaml, { baseDir }))).toEqual([
      {
        key: '(yaml)',
        message:
          'line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
      },
    ]);
  });

  test('a key repeated in the YAML mapping is a syntax problem, not a silent override', () => {
    expect(problemsOf(() => parseConfig(`${minimalYaml}node: n2\n`, { baseDir }))).toEqual([
      { key: '(yaml)', message: 'line 7, column 1: Map keys must be unique' },
    ]);
  });

  test('a bad events section reports each problem under its key', () => {
    const yaml = `${minimalYaml}events:
  expectedSubscribers: [nova, Neutron, nova]
  windowMax: 0
  retryBackoffMinMs: 5000
  retryBackoffMaxMs: 1000
  attemptsMax: 101
  retentionMs: 1000
  retries: 3
`;
    expect(problemsOf(() => parseConfig(yaml, { baseDir }))).toEqual([
      {
        key: 'events.expectedSubscribers[1]',
        message:
          '"Neutron" is not a valid subscriber name: 1 to 63 lowercase letters, digits, "_", "." and "-", starting with a letter or digit',
      },
      {
        key: 'events.windowMax',
        message: 'must be an integer from 1 to 1024 (limits.eventWindowMax); got 0',
      },
      { key: 'events.attemptsMax', message: 'must be an integer from 1 to 100; got 101' },
      {
        key: 'events.retentionMs',
        message: 'must be an integer from 60000 to 2678400000 (milliseconds); got 1000',
      },
      {
        key: 'events.retries',
        message:
          'unknown key; expected one of expectedSubscribers, windowMax, retryBackoffMinMs, retryBackoffMaxMs, attemptsMax, retentionMs',
      },
      {
        key: 'events.retryBackoffMinMs',
        message: 'must not exceed events.retryBackoffMaxMs (1000); got 5000',
      },
      {
        key: 'events.expectedSubscribers[2]',
        message: 'duplicate subscriber "nova" (first listed at events.expectedSubscribers[0])',
      },
    ]);
  });

  test('an empty document is one problem at the root', () => {
    expect(problemsOf(() => parseConfig('# nothing yet\n', { baseDir }))).toEqual([
      { key: '(root)', message: 'the document is empty' },
    ]);
  });
});

describe('docs/CONFIGURATION.md', () => {
  const docs = readFileSync(
    join(dirname(fileURLToPath(import.meta.url)), '../../../docs/CONFIGURATION.md'),
    'utf8',
  );
  const examples = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
  const complete = examples.find((text) => text.startsWith('# /etc/alliance/cloud-a.yaml\n')) ?? '';
  const smallest = examples.find((text) => text.startsWith('federation: demo\n')) ?? '';
  /** The examples of one section, each meant to be added to the smallest file. */
  const fragments = examples.filter((text) => text.startsWith('# Added to the smallest file below'));
  const fragment = (marker: string) => fragments.find((text) => text.includes(marker)) ?? '';

  test('has the complete example, the smallest file and one fragment for each of identity and mapping', () => {
    expect([complete !== '', smallest !== '', examples.length, fragments.length]).toEqual([true, true, 6, 4]);
  });

  test('the complete example compiles to what the page says', () => {
    const config = parseConfig(complete, { baseDir: '/etc/alliance' });
    expect({
      nodeId: config.nodeId,
      dataDir: config.dataDir,
      caFile: config.tls.caFile,
      advertisePeerAddress: config.advertisePeerAddress,
      seeds: config.seeds,
      endpoints: config.catalog.endpoints.map(
        (endpoint) => `${endpoint.region}/${endpoint.serviceId}/${endpoint.interface}`,
      ),
      mesh: config.mesh,
      identity: config.identity,
      mapping: config.mapping,
      tokens: config.tokens,
      events: config.events,
    }).toEqual({
      nodeId: 'cloud-a/n1',
      dataDir: '/etc/alliance/data/cloud-a',
      caFile: '/etc/alliance/certs/ca.pem',
      advertisePeerAddress: 'alliance.cloud-a.example:7701',
      seeds: ['alliance.cloud-b.example:7701', '[2001:db8::10]:7701'],
      endpoints: ['RegionOne/keystone/public', 'RegionOne-East/nova/public', 'RegionOne-East/nova/internal'],
      mesh: minimalConfig.mesh,
      identity: {
        kind: 'static',
        domains: [{ id: 'default', name: 'Default' }],
        projects: [
          { id: '7f39fae68e9b9b4c0f42c3fdc5ec6d70', name: 'demo', domainId: 'default', enabled: true },
          { id: 'cloud-b-guests', name: 'cloud-b-guests', domainId: 'default', enabled: true },
        ],
        users: [
          {
            id: '2d58eed1c974d02f85d72603562a8828',
            name: 'demo',
            domainId: 'default',
            password: 'demo',
            enabled: true,
            roles: [{ project: 'demo', role: 'member' }],
          },
        ],
        tokenTtlMs: 3_600_000,
      },
      mapping: [
        {
          name: 'remote-members',
          match: { clouds: ['cloud-b'], domains: [], projects: [], roles: ['member'] },
          grant: { project: '{cloud}-guests', roles: ['member'] },
        },
      ],
      tokens: defaultIdentityMappingTokens.tokens,
      events: { ...defaultIdentityMappingTokens.events, expectedSubscribers: ['nova', 'neutron'] },
    });
  });

  test('the smallest file compiles to the defaults the page lists', () => {
    expect(parseConfig(smallest, { baseDir })).toEqual({
      ...minimalConfig,
      tls: {
        caFile: '/etc/alliance/certs/ca.pem',
        certFile: '/etc/alliance/certs/node.pem',
        keyFile: '/etc/alliance/certs/node.key.pem',
      },
    });
  });

  test('the static identity example compiles, with the derived id the page gives', () => {
    const identity = parseConfig(`${smallest}${fragment('kind: static')}`, { baseDir }).identity;
    expect(identity.kind === 'static' ? identity.projects[0] : undefined).toEqual({
      id: '7f39fae68e9b9b4c0f42c3fdc5ec6d70',
      name: 'demo',
      domainId: 'default',
      enabled: true,
    });
    expect(identity.kind === 'static' ? identity.users.map((user) => user.name) : []).toEqual([
      'demo',
      'admin',
      'robot',
    ]);
  });

  test('the keystone example compiles, reading the password file next to the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alliance-docs-'));
    try {
      writeFileSync(join(dir, 'keystone-password'), 'secret\n');
      writeFileSync(join(dir, 'node.yaml'), `${smallest}${fragment('kind: keystone')}`);
      expect(loadConfig(join(dir, 'node.yaml')).identity).toEqual({
        kind: 'keystone',
        url: 'http://127.0.0.1:5000',
        serviceUser: {
          name: 'alliance',
          password: 'secret',
          domainId: 'default',
          projectName: 'service',
          projectDomainId: 'default',
        },
        jwsPublicKeyDir: '/etc/keystone/jws-keys/public',
        revocationPollMs: 1000,
        refreshMs: 60_000,
        requestTimeoutMs: 5000,
        notifications: {
          url: 'amqp://guest:guest@127.0.0.1:5672/',
          exchange: 'keystone',
          queue: 'alliance-cloud-a-n1',
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the events example compiles, over the event defaults', () => {
    expect(parseConfig(`${smallest}${fragment('\nevents:\n')}`, { baseDir }).events).toEqual({
      ...defaultIdentityMappingTokens.events,
      expectedSubscribers: ['nova', 'neutron'],
      retryBackoffMaxMs: 300_000,
      attemptsMax: 10,
    });
  });

  test('the mapping example compiles, its rules in order', () => {
    expect(
      parseConfig(`${smallest}${fragment('\nmapping:\n')}`, { baseDir }).mapping.map(
        (rule) => `${rule.name} → ${rule.grant.project}`,
      ),
    ).toEqual([
      'b-ops-admins → shared-ops',
      'remote-members → {cloud}-guests',
      'everyone-else → {cloud}-{project}',
    ]);
  });
});

describe('compileConfig', () => {
  test('compiles a config object built in memory, as alliance dev does', () => {
    expect(compileConfig(minimalRaw, baseDir)).toEqual(minimalConfig);
  });

  test('resolves a relative base directory against the working directory', () => {
    expect(compileConfig(minimalRaw, 'relative/dir').dataDir).toBe(join(process.cwd(), 'relative/dir/data'));
  });

  test('refuses a value of the wrong shape at the root', () => {
    expect(problemsOf(() => compileConfig(['not', 'a', 'mapping'], baseDir))).toEqual([
      { key: '(root)', message: 'expected a mapping, got a list' },
    ]);
  });
});

describe('renderConfigYaml', () => {
  test('round-trips through parseConfig to the same compiled config', () => {
    const raw: RawConfigInput = {
      federation: 'demo',
      cloud: 'cloud-b',
      node: 'n2',
      dataDir: './data/cloud-b',
      listen: { local: 'unix:run/local.sock', peer: '127.0.0.1:0', http: false },
      tls: { ca: 'certs/ca.pem', cert: 'certs/cloud-b-n2.pem', key: 'certs/cloud-b-n2.key.pem' },
      seeds: ['127.0.0.1:7711', '[::1]:7721'],
      catalog: {
        regions: [{ id: 'RegionOne' }],
        services: [{ id: 'nova', type: 'compute', name: 'nova', description: 'yes' }],
        endpoints: [
          {
            id: 'nova-public',
            region: 'RegionOne',
            service: 'nova',
            interface: 'public',
            url: 'https://nova.b.example:8774/v2.1/%(tenant_id)s',
          },
        ],
      },
      mesh: { antiEntropyIntervalMs: 50 },
      identity: {
        kind: 'keystone',
        url: 'http://127.0.0.1:5000/v3/',
        serviceUser: { name: 'alliance', password: 'no', project: 'service' },
        jwsPublicKeyDir: 'keys/jws',
        revocationPollMs: 250,
        notifications: { url: 'amqp://guest:guest@127.0.0.1:5672/a', queue: 'alliance.b' },
      },
      mapping: [
        {
          name: 'remote-members',
          match: { clouds: ['cloud-a'], roles: ['member'] },
          grant: { project: '{cloud}-{project_name}', roles: ['member'] },
        },
      ],
      tokens: { negativeCacheMs: 0, revocationRetentionMs: 86_400_000 },
      log: { level: 'silent' },
    };
    const text = renderConfigYaml(raw);
    expect(text.startsWith('# Alliance node cloud-b/n2 of federation demo.\n')).toBe(true);
    expect(parseConfig(text, { baseDir })).toEqual(compileConfig(raw, baseDir));
  });

  test('round-trips a static identity whose strings YAML would otherwise read as other types', () => {
    const raw: RawConfigInput = {
      ...minimalRaw,
      identity: {
        kind: 'static',
        tokenTtlMs: 600_000,
        domains: [{ id: 'default', name: 'Default' }],
        projects: [{ name: 'null' }, { id: '0123456789abcdef0123456789abcdef', name: '42' }],
        users: [
          { name: 'true', password: '123456', roles: [{ project: 'null', role: 'yes' }] },
          { name: 'o', password: '# not a comment: {x}', enabled: false },
        ],
      },
    };
    expect(parseConfig(renderConfigYaml(raw), { baseDir })).toEqual(compileConfig(raw, baseDir));
    expect(compileConfig(raw, baseDir).identity).toEqual({
      kind: 'static',
      domains: [{ id: 'default', name: 'Default' }],
      projects: [
        {
          id: deriveStaticId('cloud-a', 'project', 'default', 'null'),
          name: 'null',
          domainId: 'default',
          enabled: true,
        },
        { id: '0123456789abcdef0123456789abcdef', name: '42', domainId: 'default', enabled: true },
      ],
      users: [
        {
          id: deriveStaticId('cloud-a', 'user', 'default', 'true'),
          name: 'true',
          domainId: 'default',
          password: '123456',
          enabled: true,
          roles: [{ project: 'null', role: 'yes' }],
        },
        {
          id: deriveStaticId('cloud-a', 'user', 'default', 'o'),
          name: 'o',
          domainId: 'default',
          password: '# not a comment: {x}',
          enabled: false,
          roles: [],
        },
      ],
      tokenTtlMs: 600_000,
    });
  });

  test('writes a custom header as comment lines', () => {
    expect(renderConfigYaml(minimalRaw, { header: 'Made by a test.\n\nDo not edit.' })).toBe(
      '# Made by a test.\n#\n# Do not edit.\n' +
        'federation: demo\ncloud: cloud-a\nnode: n1\ndataDir: data\n' +
        'tls:\n  ca: ca.pem\n  cert: node.pem\n  key: node.key.pem\n',
    );
  });
});

describe('loadConfig', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'alliance-config-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('reads a file and resolves relative paths against its directory', () => {
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'node.yaml'), minimalYaml);
    const config = loadConfig(join(dir, 'etc', 'node.yaml'));
    expect(config).toEqual({
      ...minimalConfig,
      dataDir: join(dir, 'etc', 'data'),
      tls: {
        caFile: join(dir, 'etc', 'ca.pem'),
        certFile: join(dir, 'etc', 'node.pem'),
        keyFile: join(dir, 'etc', 'node.key.pem'),
      },
    });
  });

  test('a missing file is a ConfigError naming the path', () => {
    const path = join(dir, 'missing.yaml');
    expect(() => loadConfig(path)).toThrow(
      `invalid configuration in ${path} (1 problem):\n(file): cannot read ${path}: no such file`,
    );
    expect(problemsOf(() => loadConfig(path))).toEqual([
      { key: '(file)', message: `cannot read ${path}: no such file` },
    ]);
  });

  test('a directory in place of the file is a ConfigError naming the path', () => {
    expect(problemsOf(() => loadConfig(dir))).toEqual([
      { key: '(file)', message: `cannot read ${dir}: it is a directory` },
    ]);
  });

  test('problems in a file name the file in the message', () => {
    const path = join(dir, 'node.yaml');
    writeFileSync(path, minimalYaml.replace('cloud: cloud-a', 'cloud: Cloud_A'));
    expect(() => loadConfig(path)).toThrow(
      `invalid configuration in ${path} (1 problem):\n` +
        'cloud: "Cloud_A" is not a valid id: 1 to 63 characters, lowercase letters, digits and "-", starting with a letter or digit',
    );
  });
});
