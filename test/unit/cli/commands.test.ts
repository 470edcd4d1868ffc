/**
 * The `alliance` client commands against a real grpc-js server with canned Admin and Catalog data:
 * whole outputs for a fixed dataset and a fixed "now", and every way a call can fail.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  cannedHandlers,
  capture,
  parseExpectingError,
  run,
  startServer,
  unusedAddress,
  type ReceivedRequests,
  type RunningServer,
} from './fixture-server.js';

const peersTable = [
  'NODE            CLOUD    ADDRESS                            STATE      LAST CONTACT                   LAG  ERROR',
  'cloud-b/node-1  cloud-b  10.0.2.1:7443                      connected  2s ago                           0',
  'cloud-c/node-2  cloud-c  10.0.3.2:7443                      backoff    5m ago                          12  connect ECONNREFUSED [31mretry in 8s',
  'cloud-d/node-1  cloud-d  alliance.cloud-d.example.org:7443  idle       never         18446744073709551615',
];

const lines = (...text: string[]): string => text.map((line) => `${line}\n`).join('');

let server: RunningServer;
let received: ReceivedRequests;

beforeAll(async () => {
  received = {};
  server = await startServer(cannedHandlers(received));
});

afterAll(() => server.stop());

afterEach(() => {
  for (const key of Object.keys(received)) delete received[key];
});

describe('alliance status', () => {
  test('prints the node, then its peers, origins and rejected records as aligned tables', async () => {
    const result = await run(['--address', server.address, 'status']);

    expect(result).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'Node:       cloud-a/node-1',
        'Cloud:      cloud-a',
        'Federation: acme',
        'Version:    0.1.0',
        'Started:    2024-01-15T09:55:00Z (2h ago)',
        '',
        'Peers (3):',
        ...peersTable,
        '',
        'Origins (2):',
        'ORIGIN         VERSION     BEST KNOWN  LAG  RECORDS',
        'cloud-a             42             42    0        7',
        'cloud-b  1234567890123  1234567890125    2        9',
        '',
        'Rejected records (2):',
        'REASON          COUNT',
        'bad signature       3',
        'unknown origin     12',
      ),
    });
  });

  test('says "none" for empty sections and leaves rejections out when there are none', async () => {
    const empty = await startServer({
      admin: {
        getStatus: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
          callback(null, {
            nodeId: 'solo/node-1',
            cloud: 'solo',
            node: 'node-1',
            federation: 'acme',
            softwareVersion: '0.1.0',
            startedAt: new Date(Date.UTC(2024, 0, 15, 11, 59, 59)),
            peers: [],
            origins: [],
            rejections: [],
          }),
        listPeers: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
          callback(null, { peers: [] }),
      },
    });
    try {
      const result = await run(['--address', empty.address, 'status']);
      expect(result.stdout).toBe(
        lines(
          'Node:       solo/node-1',
          'Cloud:      solo',
          'Federation: acme',
          'Version:    0.1.0',
          'Started:    2024-01-15T11:59:59Z (1s ago)',
          '',
          'Peers: none',
          '',
          'Origins: none',
        ),
      );
      expect((await run(['--address', empty.address, 'peers'])).stdout).toBe(
        lines('NODE  CLOUD  ADDRESS  STATE  LAST CONTACT  LAG  ERROR'),
      );
      expect(JSON.parse((await run(['--address', empty.address, 'peers', '--json'])).stdout)).toEqual({});
    } finally {
      empty.stop();
    }
  });

  test('--json prints the response as one proto3 JSON document: 64-bit numbers as strings, times in RFC 3339', async () => {
    const result = await run(['--address', server.address, 'status', '--json']);

    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      nodeId: 'cloud-a/node-1',
      cloud: 'cloud-a',
      node: 'node-1',
      federation: 'acme',
      softwareVersion: '0.1.0',
      startedAt: '2024-01-15T09:55:00.000Z',
      peers: [
        {
          nodeId: 'cloud-b/node-1',
          cloud: 'cloud-b',
          address: '10.0.2.1:7443',
          state: 'STATE_CONNECTED',
          lastContact: '2024-01-15T11:59:58.000Z',
          connectedSince: '2024-01-15T11:00:00.000Z',
          outbound: true,
        },
        {
          nodeId: 'cloud-c/node-2',
          cloud: 'cloud-c',
          address: '10.0.3.2:7443',
          state: 'STATE_BACKOFF',
          lastContact: '2024-01-15T11:54:30.000Z',
          lag: '12',
          lastError: 'connect ECONNREFUSED\n\u001b[31mretry in 8s',
          outbound: true,
          failedDials: 3,
        },
        {
          nodeId: 'cloud-d/node-1',
          cloud: 'cloud-d',
          address: 'alliance.cloud-d.example.org:7443',
          state: 'STATE_IDLE',
          lag: '18446744073709551615',
        },
      ],
      origins: [
        { origin: 'cloud-a', version: '42', bestKnownVersion: '42', recordCount: '7' },
        {
          origin: 'cloud-b',
          version: '1234567890123',
          bestKnownVersion: '1234567890125',
          lag: '2',
          recordCount: '9',
        },
      ],
      rejections: [
        { reason: 'bad signature', count: '3' },
        { reason: 'unknown origin', count: '12' },
      ],
    });
  });
});

describe('alliance peers', () => {
  test('prints the peers table', async () => {
    expect(await run(['--address', server.address, 'peers'])).toEqual({
      exitCode: 0,
      stdout: lines(...peersTable),
      stderr: '',
    });
  });

  test('--json prints ListPeersResponse as proto3 JSON', async () => {
    const result = await run(['--address', server.address, 'peers', '--json']);
    const parsed = JSON.parse(result.stdout) as { peers: { nodeId: string; state: string; lag?: string }[] };
    expect(parsed.peers.map((peer) => [peer.nodeId, peer.state, peer.lag])).toEqual([
      ['cloud-b/node-1', 'STATE_CONNECTED', undefined],
      ['cloud-c/node-2', 'STATE_BACKOFF', '12'],
      ['cloud-d/node-1', 'STATE_IDLE', '18446744073709551615'],
    ]);
  });
});

describe('alliance catalog', () => {
  const endpointsTable = lines(
    'CLOUD    REGION     SERVICE TYPE  SERVICE   INTERFACE  URL',
    'cloud-a  RegionOne  compute       nova      public     https://compute.cloud-a.example.org/v2.1',
    'cloud-a  RegionOne  identity      keystone  internal   http://10.0.1.5:5000/v3',
    'cloud-b  -          object-store  -         public     https://swift.cloud-b.example.org/v1/AUTH_%(project_id)s',
  );

  test('clouds lists each cloud with its counts, freshness and publishing nodes', async () => {
    expect((await run(['--address', server.address, 'catalog', 'clouds'])).stdout).toBe(
      lines(
        'CLOUD    REGIONS  SERVICES  ENDPOINTS  UPDATED  NODES',
        'cloud-a        2         3          9  40s ago  cloud-a/node-1,cloud-a/node-2',
        'cloud-b        1         2          2  3d ago   cloud-b/node-1',
      ),
    );
  });

  test('regions lists regions and sends the cloud filter', async () => {
    const result = await run(['--address', server.address, 'catalog', 'regions', '--cloud', 'cloud-a']);
    expect(result.stdout).toBe(
      lines(
        'CLOUD    REGION          PARENT     DESCRIPTION',
        'cloud-a  RegionOne       -          Main site',
        'cloud-a  RegionOne-edge  RegionOne',
        'cloud-b  fr-par          -          Paris',
      ),
    );
    expect(received['listRegions']).toEqual([{ cloud: 'cloud-a' }]);
  });

  test('services lists services and sends the cloud and type filters', async () => {
    const result = await run(['--address', server.address, 'catalog', 'services', '--type', 'compute']);
    expect(result.stdout).toBe(
      lines(
        'CLOUD    TYPE          NAME      ENABLED  ID',
        'cloud-a  compute       nova      yes      2b1a9c',
        'cloud-a  identity      keystone  yes      7f03d2',
        'cloud-b  object-store  -         no       c41e00',
      ),
    );
    expect(received['listServices']).toEqual([{ cloud: '', type: 'compute' }]);
  });

  test('endpoints lists endpoints and sends every filter', async () => {
    const result = await run([
      '--address',
      server.address,
      'catalog',
      'endpoints',
      '--cloud',
      'cloud-a',
      '--region',
      'RegionOne',
      '--type',
      'compute',
      '--interface',
      'public',
    ]);
    expect(result).toEqual({ exitCode: 0, stdout: endpointsTable, stderr: '' });
    expect(received['listEndpoints']).toEqual([
      { cloud: 'cloud-a', region: 'RegionOne', serviceType: 'compute', interface: 'public' },
    ]);
  });

  test('catalog alone is catalog endpoints, options included', async () => {
    expect((await run(['--address', server.address, 'catalog'])).stdout).toBe(endpointsTable);

    const result = await run(['--address', server.address, 'catalog', '--cloud', 'cloud-b', '--json']);
    expect(received['listEndpoints']).toEqual([
      { cloud: '', region: '', serviceType: '', interface: '' },
      { cloud: 'cloud-b', region: '', serviceType: '', interface: '' },
    ]);
    expect((JSON.parse(result.stdout) as { endpoints: unknown[] }).endpoints[2]).toEqual({
      cloud: 'cloud-b',
      id: 'e3',
      serviceId: 'c41e00',
      serviceType: 'object-store',
      interface: 'public',
      url: 'https://swift.cloud-b.example.org/v1/AUTH_%(project_id)s',
      enabled: true,
    });
  });

  test('--json on each list prints its response message as proto3 JSON', async () => {
    const clouds = JSON.parse(
      (await run(['--address', server.address, 'catalog', 'clouds', '--json'])).stdout,
    );
    expect(clouds).toEqual({
      clouds: [
        {
          id: 'cloud-a',
          nodes: ['cloud-a/node-1', 'cloud-a/node-2'],
          regionCount: 2,
          serviceCount: 3,
          endpointCount: 9,
          updatedAt: '2024-01-15T11:59:20.000Z',
        },
        {
          id: 'cloud-b',
          nodes: ['cloud-b/node-1'],
          regionCount: 1,
          serviceCount: 2,
          endpointCount: 2,
          updatedAt: '2024-01-12T12:00:00.000Z',
        },
      ],
    });
    const regions = JSON.parse(
      (await run(['--address', server.address, 'catalog', 'regions', '--json'])).stdout,
    );
    expect(regions).toEqual({
      regions: [
        { cloud: 'cloud-a', id: 'RegionOne', description: 'Main site' },
        { cloud: 'cloud-a', id: 'RegionOne-edge', parentRegionId: 'RegionOne' },
        { cloud: 'cloud-b', id: 'fr-par', description: 'Paris' },
      ],
    });
    const services = JSON.parse(
      (await run(['--address', server.address, 'catalog', 'services', '--json'])).stdout,
    );
    expect(services).toEqual({
      services: [
        {
          cloud: 'cloud-a',
          id: '2b1a9c',
          type: 'compute',
          name: 'nova',
          description: 'Compute',
          enabled: true,
        },
        { cloud: 'cloud-a', id: '7f03d2', type: 'identity', name: 'keystone', enabled: true },
        { cloud: 'cloud-b', id: 'c41e00', type: 'object-store' },
      ],
    });
  });

  test('an interface outside public, internal and admin is refused before any call', async () => {
    const result = await run([
      '--address',
      server.address,
      'catalog',
      'endpoints',
      '--interface',
      'external',
    ]);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr:
        "error: option '--interface <name>' argument 'external' is invalid. Allowed choices are public, internal, admin.\n",
    });
    expect(received['listEndpoints']).toBeUndefined();
  });
});

describe('alliance catalog watch', () => {
  test('prints one line per message until the stream ends', async () => {
    const result = await run(['--address', server.address, 'catalog', 'watch', '--cloud', 'cloud-b']);
    expect(result).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'snapshot cloud-a: 2 regions, 2 services, 2 endpoints (published by cloud-a/node-1 at 2024-01-15T11:59:00Z)',
        'snapshot cloud-b: 1 region, 1 service, 1 endpoint (published by cloud-b/node-1 at 2024-01-15T11:59:30Z)',
        'snapshot complete; watching for changes',
        'updated  cloud-b: 1 region, 1 service, 1 endpoint (published by cloud-b/node-1 at 2024-01-15T12:00:00Z)',
        'removed  cloud-b',
      ),
    });
    expect(received['watchCatalog']).toEqual([{ cloud: 'cloud-b' }]);
  });

  test('--json prints one proto3 JSON object per line', async () => {
    const result = await run(['--address', server.address, 'catalog', 'watch', '--json']);
    const messages = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; catalog?: { cloud: string; publishedAt?: string } });
    expect(messages.map((m) => [m.kind, m.catalog?.cloud, m.catalog?.publishedAt])).toEqual([
      ['KIND_SNAPSHOT', 'cloud-a', '2024-01-15T11:59:00.000Z'],
      ['KIND_SNAPSHOT', 'cloud-b', '2024-01-15T11:59:30.000Z'],
      ['KIND_SNAPSHOT_END', undefined, undefined],
      ['KIND_UPDATED', 'cloud-b', '2024-01-15T12:00:00.000Z'],
      ['KIND_REMOVED', 'cloud-b', '2024-01-15T11:59:30.000Z'],
    ]);
    expect(messages[3]).toEqual({
      kind: 'KIND_UPDATED',
      catalog: {
        cloud: 'cloud-b',
        publishedBy: 'cloud-b/node-1',
        publishedAt: '2024-01-15T12:00:00.000Z',
        regions: [{ cloud: 'cloud-b', id: 'fr-par', description: 'Paris' }],
        services: [{ cloud: 'cloud-b', id: 'c41e00', type: 'object-store' }],
        endpoints: [
          {
            cloud: 'cloud-b',
            id: 'e3',
            serviceId: 'c41e00',
            serviceType: 'object-store',
            interface: 'public',
            url: 'https://swift.cloud-b.example.org/v1/AUTH_%(project_id)s',
            enabled: true,
          },
        ],
      },
    });
  });

  test('an abort (Ctrl-C) ends an open watch cleanly with exit code 0', async () => {
    let cancelled!: () => void;
    const serverSawCancel = new Promise<void>((resolve) => (cancelled = resolve));
    const open = await startServer({
      catalog: {
        watchCatalog: (call: {
          write(message: unknown): boolean;
          on(event: 'cancelled', listener: () => void): void;
        }) => {
          call.on('cancelled', () => cancelled());
          call.write({ kind: 2 });
          // Never ends: only the client's cancellation finishes this call.
        },
      },
    });
    try {
      const interrupt = new AbortController();
      const captured = capture({
        signal: interrupt.signal,
        onStdout: (text) => {
          if (text.includes('watching for changes')) interrupt.abort();
        },
      });
      const result = await run(['--address', open.address, 'catalog', 'watch'], captured);
      expect(result).toEqual({
        exitCode: 0,
        stdout: 'snapshot complete; watching for changes\n',
        stderr: '',
      });
      await serverSawCancel;
    } finally {
      open.stop();
    }
  });

  test('a stream that fails after some messages prints them, then one error line', async () => {
    const failing = await startServer({
      catalog: {
        watchCatalog: (call: {
          write(message: unknown): boolean;
          emit(event: 'error', err: unknown): boolean;
        }) => {
          call.write({ kind: 2 });
          // grpc-js ends a server stream with a status by emitting it as an error.
          call.emit('error', { code: GrpcStatus.INTERNAL, details: 'catalog store closed' });
        },
      },
    });
    try {
      expect(await run(['--address', failing.address, 'catalog', 'watch'])).toEqual({
        exitCode: 1,
        stdout: 'snapshot complete; watching for changes\n',
        stderr: 'alliance: INTERNAL: catalog store closed\n',
      });
    } finally {
      failing.stop();
    }
  });
});

describe('reaching the local API', () => {
  test('an unreachable address is one line on stderr and exit code 1, never a stack trace', async () => {
    const address = await unusedAddress();
    expect(await run(['--address', address, 'status'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `alliance: cannot reach the local API at ${address} (is the node running?)\n`,
    });
  });

  test('parseAsync rejects with a CommanderError carrying exit code 1 after writing the line', async () => {
    const address = await unusedAddress();
    const captured = capture();
    const error = await parseExpectingError(['--address', address, 'catalog', 'watch'], captured);
    expect([error.exitCode, error.code]).toEqual([1, 'alliance.unavailable']);
    expect(captured.stderr()).toBe(
      `alliance: cannot reach the local API at ${address} (is the node running?)\n`,
    );
  });

  test('the address defaults to ALLIANCE_ADDRESS, and --address overrides it', async () => {
    const viaEnv = await run(['peers'], capture({ env: { ALLIANCE_ADDRESS: server.address } }));
    expect(viaEnv.stdout).toBe(lines(...peersTable));

    const unused = await unusedAddress();
    const overridden = await run(
      ['--address', unused, 'peers'],
      capture({ env: { ALLIANCE_ADDRESS: server.address } }),
    );
    expect(overridden.stderr).toBe(
      `alliance: cannot reach the local API at ${unused} (is the node running?)\n`,
    );
  });

  test('the address defaults to 127.0.0.1:7700 without ALLIANCE_ADDRESS', async () => {
    const help = await run(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('(default: "127.0.0.1:7700")');
  });

  test('a unix socket address works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alliance-cli-'));
    const onSocket = await startServer(cannedHandlers({}), `unix:${join(dir, 'api.sock')}`);
    try {
      expect((await run(['--address', onSocket.address, 'peers'])).stdout).toBe(lines(...peersTable));
    } finally {
      onSocket.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a node without the service answers UNIMPLEMENTED, shown readably', async () => {
    const catalogOnly = await startServer({ catalog: cannedHandlers({}).catalog });
    try {
      expect(await run(['--address', catalogOnly.address, 'status'])).toEqual({
        exitCode: 1,
        stdout: '',
        stderr:
          'alliance: UNIMPLEMENTED: The server does not implement the method /alliance.v1.Admin/GetStatus\n',
      });
    } finally {
      catalogOnly.stop();
    }
  });

  test('any other status is shown as CODE: details', async () => {
    const refusing = await startServer({
      admin: {
        getStatus: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
          callback({ code: GrpcStatus.PERMISSION_DENIED, details: 'loopback clients only' }),
        listPeers: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
          callback({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'too many calls\nin flight' }),
      },
    });
    try {
      expect((await run(['--address', refusing.address, 'status'])).stderr).toBe(
        'alliance: PERMISSION_DENIED: loopback clients only\n',
      );
      const peers = await run(['--address', refusing.address, 'peers']);
      expect([peers.exitCode, peers.stderr]).toEqual([
        1,
        'alliance: RESOURCE_EXHAUSTED: too many calls in flight\n',
      ]);
    } finally {
      refusing.stop();
    }
  });

  test('a node that does not answer within --timeout is a timeout', async () => {
    const silent = await startServer({
      admin: {
        // Never answers: the client's deadline ends the call.
        getStatus: () => undefined,
        listPeers: () => undefined,
      },
    });
    try {
      expect(await run(['--address', silent.address, '--timeout', '50', 'status'])).toEqual({
        exitCode: 1,
        stdout: '',
        stderr: `alliance: timed out after 50 ms waiting for the local API at ${silent.address}\n`,
      });
    } finally {
      silent.stop();
    }
  });

  test('an address grpc cannot parse is refused with one line', async () => {
    expect(await run(['--address', '', 'status'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: "alliance: invalid local API address ''\n",
    });
  });
});

describe('command line errors', () => {
  test("an unknown command is commander's error with exit code 1", async () => {
    const captured = capture();
    const error = await parseExpectingError(['bogus'], captured);
    expect([error.exitCode, error.code]).toEqual([1, 'commander.unknownCommand']);
    expect(captured.stderr()).toBe("error: unknown command 'bogus'\n");
  });

  test('a timeout that is not whole positive milliseconds is refused', async () => {
    expect(await run(['--timeout', '1.5', 'status'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr:
        "error: option '--timeout <ms>' argument '1.5' is invalid. expected whole milliseconds from 1 to 3600000.\n",
    });
  });

  test('--version prints the version from package.json', async () => {
    expect(await run(['--version'])).toEqual({ exitCode: 0, stdout: '0.1.0\n', stderr: '' });
  });
});
