/**
 * A real grpc-js server with canned Admin and Catalog handlers (Tokens and IdentityAdmin handlers
 * are canned in token-commands.test.ts), and an in-process runner for the
 * `alliance` program that captures what an operator would see.
 */
import { createServer } from 'node:net';
import {
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { CommanderError } from 'commander';
import {
  AdminService,
  PeerInfo_State,
  type AdminServer,
  type GetStatusResponse,
  type PeerInfo,
} from '../../../src/gen/alliance/v1/admin.js';
import {
  CatalogService,
  WatchCatalogResponse_Kind,
  type CatalogServer,
  type CloudCatalog,
  type CloudInfo,
  type Endpoint,
  type Region,
  type Service,
  type WatchCatalogRequest,
  type WatchCatalogResponse,
} from '../../../src/gen/alliance/v1/catalog.js';
import { IdentityAdminService } from '../../../src/gen/alliance/v1/identity.js';
import { TokensService } from '../../../src/gen/alliance/v1/tokens.js';
import { createProgram, runCli, type CliIo } from '../../../src/cli/program.js';

/** The fixed "now" of every test: relative times are computed from it. */
export const nowMs = Date.UTC(2024, 0, 15, 12, 0, 0);
const ago = (ms: number): Date => new Date(nowMs - ms);

export const peers: PeerInfo[] = [
  {
    nodeId: 'cloud-b/node-1',
    cloud: 'cloud-b',
    address: '10.0.2.1:7443',
    state: PeerInfo_State.STATE_CONNECTED,
    lastContact: ago(2_000),
    connectedSince: ago(3_600_000),
    lag: 0n,
    lastError: '',
    outbound: true,
    failedDials: 0,
  },
  {
    nodeId: 'cloud-c/node-2',
    cloud: 'cloud-c',
    address: '10.0.3.2:7443',
    state: PeerInfo_State.STATE_BACKOFF,
    lastContact: ago(5 * 60_000 + 30_000),
    connectedSince: undefined,
    lag: 12n,
    // A remote string with a newline and an escape sequence: one table line, no terminal codes.
    lastError: 'connect ECONNREFUSED\n\u001b[31mretry in 8s',
    outbound: true,
    failedDials: 3,
  },
  {
    nodeId: 'cloud-d/node-1',
    cloud: 'cloud-d',
    address: 'alliance.cloud-d.example.org:7443',
    state: PeerInfo_State.STATE_IDLE,
    lastContact: undefined,
    connectedSince: undefined,
    lag: 18_446_744_073_709_551_615n,
    lastError: '',
    outbound: false,
    failedDials: 0,
  },
];

export const statusResponse: GetStatusResponse = {
  nodeId: 'cloud-a/node-1',
  cloud: 'cloud-a',
  node: 'node-1',
  federation: 'acme',
  softwareVersion: '0.1.0',
  startedAt: ago(2 * 3_600_000 + 5 * 60_000),
  peers,
  origins: [
    { origin: 'cloud-a', version: 42n, bestKnownVersion: 42n, lag: 0n, recordCount: 7n },
    {
      origin: 'cloud-b',
      version: 1_234_567_890_123n,
      bestKnownVersion: 1_234_567_890_125n,
      lag: 2n,
      recordCount: 9n,
    },
  ],
  rejections: [
    { reason: 'bad signature', count: 3n },
    { reason: 'unknown origin', count: 12n },
  ],
};

export const clouds: CloudInfo[] = [
  {
    id: 'cloud-a',
    nodes: ['cloud-a/node-1', 'cloud-a/node-2'],
    regionCount: 2,
    serviceCount: 3,
    endpointCount: 9,
    updatedAt: ago(40_000),
  },
  {
    id: 'cloud-b',
    nodes: ['cloud-b/node-1'],
    regionCount: 1,
    serviceCount: 2,
    endpointCount: 2,
    updatedAt: ago(3 * 86_400_000),
  },
];

export const regions: Region[] = [
  { cloud: 'cloud-a', id: 'RegionOne', description: 'Main site', parentRegionId: '' },
  { cloud: 'cloud-a', id: 'RegionOne-edge', description: '', parentRegionId: 'RegionOne' },
  { cloud: 'cloud-b', id: 'fr-par', description: 'Paris', parentRegionId: '' },
];

export const services: Service[] = [
  { cloud: 'cloud-a', id: '2b1a9c', type: 'compute', name: 'nova', description: 'Compute', enabled: true },
  { cloud: 'cloud-a', id: '7f03d2', type: 'identity', name: 'keystone', description: '', enabled: true },
  { cloud: 'cloud-b', id: 'c41e00', type: 'object-store', name: '', description: '', enabled: false },
];

export const endpoints: Endpoint[] = [
  {
    cloud: 'cloud-a',
    id: 'e1',
    region: 'RegionOne',
    serviceId: '2b1a9c',
    serviceType: 'compute',
    serviceName: 'nova',
    interface: 'public',
    url: 'https://compute.cloud-a.example.org/v2.1',
    enabled: true,
  },
  {
    cloud: 'cloud-a',
    id: 'e2',
    region: 'RegionOne',
    serviceId: '7f03d2',
    serviceType: 'identity',
    serviceName: 'keystone',
    interface: 'internal',
    url: 'http://10.0.1.5:5000/v3',
    enabled: true,
  },
  {
    cloud: 'cloud-b',
    id: 'e3',
    region: '',
    serviceId: 'c41e00',
    serviceType: 'object-store',
    serviceName: '',
    interface: 'public',
    url: 'https://swift.cloud-b.example.org/v1/AUTH_%(project_id)s',
    enabled: true,
  },
];

export const cloudACatalog: CloudCatalog = {
  cloud: 'cloud-a',
  publishedBy: 'cloud-a/node-1',
  publishedAt: ago(60_000),
  regions: regions.slice(0, 2),
  services: services.slice(0, 2),
  endpoints: endpoints.slice(0, 2),
};

export const cloudBCatalog: CloudCatalog = {
  cloud: 'cloud-b',
  publishedBy: 'cloud-b/node-1',
  publishedAt: ago(30_000),
  regions: regions.slice(2),
  services: services.slice(2),
  endpoints: endpoints.slice(2),
};

/** The full WatchCatalog conversation of the canned server, ending the stream after the last message. */
export const watchMessages: WatchCatalogResponse[] = [
  { kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT, catalog: cloudACatalog },
  { kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT, catalog: cloudBCatalog },
  { kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT_END, catalog: undefined },
  {
    kind: WatchCatalogResponse_Kind.KIND_UPDATED,
    catalog: { ...cloudBCatalog, publishedAt: new Date(nowMs) },
  },
  {
    kind: WatchCatalogResponse_Kind.KIND_REMOVED,
    catalog: { ...cloudBCatalog, regions: [], services: [], endpoints: [] },
  },
];

/** Every request the canned handlers received, by method name, for asserting filters. */
export type ReceivedRequests = Record<string, unknown[]>;

type UnaryHandler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

function answer<Req, Res>(received: ReceivedRequests, name: string, response: Res): UnaryHandler<Req, Res> {
  return (call, callback) => {
    (received[name] ??= []).push(call.request);
    callback(null, response);
  };
}

export interface CannedHandlers {
  admin: AdminServer;
  catalog: CatalogServer;
}

export function cannedHandlers(received: ReceivedRequests): CannedHandlers {
  return {
    admin: {
      getStatus: answer(received, 'getStatus', statusResponse),
      listPeers: answer(received, 'listPeers', { peers }),
    },
    catalog: {
      listClouds: answer(received, 'listClouds', { clouds }),
      listRegions: answer(received, 'listRegions', { regions }),
      listServices: answer(received, 'listServices', { services }),
      listEndpoints: answer(received, 'listEndpoints', { endpoints }),
      watchCatalog: (call: ServerWritableStream<WatchCatalogRequest, WatchCatalogResponse>) => {
        (received['watchCatalog'] ??= []).push(call.request);
        for (const message of watchMessages) call.write(message);
        call.end();
      },
    },
  };
}

export interface RunningServer {
  address: string;
  stop(): void;
}

export async function startServer(
  services: {
    admin?: UntypedServiceImplementation;
    catalog?: UntypedServiceImplementation;
    tokens?: UntypedServiceImplementation;
    identity?: UntypedServiceImplementation;
  },
  bindAddress = '127.0.0.1:0',
): Promise<RunningServer> {
  const server = new Server();
  if (services.admin) server.addService(AdminService, services.admin);
  if (services.catalog) server.addService(CatalogService, services.catalog);
  if (services.tokens) server.addService(TokensService, services.tokens);
  if (services.identity) server.addService(IdentityAdminService, services.identity);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bindAddress, ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    ),
  );
  const address = bindAddress.startsWith('unix:') ? bindAddress : `127.0.0.1:${port}`;
  return { address, stop: () => server.forceShutdown() };
}

/** An address nothing listens on: a port the kernel just handed out and took back. */
export async function unusedAddress(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

export interface Captured {
  io: CliIo;
  stdout(): string;
  stderr(): string;
}

export function capture(
  options: Partial<Pick<CliIo, 'env' | 'signal' | 'nowMs' | 'sleep' | 'randomId'>> & {
    onStdout?: (text: string) => void;
  } = {},
): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: (text) => {
        out.push(text);
        options.onStdout?.(out.join(''));
      },
      stderr: (text) => err.push(text),
      env: options.env ?? {},
      nowMs: options.nowMs ?? (() => nowMs),
      signal: options.signal,
      sleep: options.sleep ?? (() => Promise.reject(new Error('this test does not expect a wait'))),
      randomId: options.randomId,
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `alliance <args>` in-process the way src/main.ts does, returning the exit code and output. */
export async function run(args: readonly string[], captured: Captured = capture()): Promise<RunResult> {
  const exitCode = await runCli(['node', 'alliance', ...args], captured.io);
  return { exitCode, stdout: captured.stdout(), stderr: captured.stderr() };
}

/** Runs the program with parseAsync directly and returns the CommanderError it must throw. */
export async function parseExpectingError(
  args: readonly string[],
  captured: Captured,
): Promise<CommanderError> {
  try {
    await createProgram(captured.io).parseAsync(['node', 'alliance', ...args]);
  } catch (err) {
    if (err instanceof CommanderError) return err;
    throw err;
  }
  throw new Error(`expected alliance ${args.join(' ')} to fail`);
}
