/**
 * The local gRPC server: alliance.v1 (Catalog, Admin, Tokens, IdentityAdmin, Events, Provisioning),
 * grpc.health.v1.Health and server reflection v1 + v1alpha, on a loopback TCP port or a unix
 * socket, with plaintext credentials (config only allows non-local addresses deliberately).
 *
 * node.ts passes every service. One not passed in (Tokens, IdentityAdmin, Events or Provisioning;
 * tests leave some out) answers UNIMPLEMENTED on every method and reports NOT_SERVING in health, so
 * each can be swapped in on its own without touching the rest. Every definition is wrapped so
 * undecodable requests get INVALID_ARGUMENT; message sizes are capped by grpc-js
 * (RESOURCE_EXHAUSTED) at limits.localMessageBytesMax in and limits.localResponseBytesMax out.
 * stop() marks health NOT_SERVING, ends open streams with UNAVAILABLE, lets unary calls finish for
 * limits.localShutdownGraceMs, then cuts the rest.
 */
import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { CatalogView } from '../catalog/index.js';
import { limits as defaultLimits, type Limits } from '../config/limits.js';
import type { ListenAddress } from '../config/types.js';
import { AdminService } from '../gen/alliance/v1/admin.js';
import { CatalogService } from '../gen/alliance/v1/catalog.js';
import { EventsService, type EventsServer } from '../gen/alliance/v1/events.js';
import { ProvisioningService, type ProvisioningServer } from '../gen/alliance/v1/provisioning.js';
import { IdentityAdminService, type IdentityAdminServer } from '../gen/alliance/v1/identity.js';
import { TokensService, type TokensServer } from '../gen/alliance/v1/tokens.js';
import { HealthService } from '../gen/grpc/health/v1/health.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { AllianceError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { MeshStatusView } from '../mesh/index.js';
import { createAdminHandlers } from './admin-handlers.js';
import { createCatalogHandlers } from './catalog-handlers.js';
import { createHealth, type HealthHandle, type ServingStatus } from './health.js';
import { acceptMalformedRequests } from './malformed-request.js';
import { createLocalApiMetrics, metricsInterceptor } from './metrics.js';
import { addReflection } from './reflection.js';
import { unimplementedService } from './unimplemented-handlers.js';

export type LocalApiLimits = Pick<
  Limits,
  | 'localMessageBytesMax'
  | 'localResponseBytesMax'
  | 'filterBytesMax'
  | 'watchersMax'
  | 'watchQueueMessagesMax'
  | 'healthWatchersMax'
  | 'localShutdownGraceMs'
>;

export interface LocalServices {
  catalog: CatalogView;
  meshStatus: MeshStatusView;
  /** Reported by Admin.GetStatus. */
  softwareVersion: string;
  /** Absent services answer UNIMPLEMENTED on every method. */
  tokens?: TokensServer;
  identityAdmin?: IdentityAdminServer;
  events?: EventsServer;
  provisioning?: ProvisioningServer;
}

export interface LocalServerOptions {
  address: ListenAddress;
  log: Logger;
  services: LocalServices;
  /** Where alliance_local_requests_total and the latency histogram are registered. */
  registry?: Registry;
  /** Overrides of limits.ts, for tests. */
  limits?: Partial<LocalApiLimits>;
  clock?: Clock;
}

export interface LocalServerAddress {
  /** A gRPC target: "host:port" or "unix:/path". */
  address: string;
  /** The bound TCP port (the actual one when 0 was asked for); absent for unix sockets. */
  port?: number;
}

export interface LocalServer {
  start(): Promise<LocalServerAddress>;
  stop(): Promise<void>;
  readonly health: HealthHandle;
}

interface Registration {
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  isImplemented: boolean;
}

export function createLocalServer(options: LocalServerOptions): LocalServer {
  const { address, services, registry, clock = systemClock } = options;
  const log = options.log.child({ component: 'local-api' });
  const limits: LocalApiLimits = { ...defaultLimits, ...options.limits };
  const stopping = new AbortController();

  const registrations: Registration[] = [
    {
      name: 'alliance.v1.Catalog',
      definition: CatalogService,
      implementation: createCatalogHandlers({
        view: services.catalog,
        log,
        limits,
        stopSignal: stopping.signal,
      }),
      isImplemented: true,
    },
    {
      name: 'alliance.v1.Admin',
      definition: AdminService,
      implementation: createAdminHandlers({
        view: services.meshStatus,
        softwareVersion: services.softwareVersion,
        log,
      }),
      isImplemented: true,
    },
    optional('alliance.v1.Tokens', TokensService, services.tokens),
    optional('alliance.v1.IdentityAdmin', IdentityAdminService, services.identityAdmin),
    optional('alliance.v1.Events', EventsService, services.events),
    optional('alliance.v1.Provisioning', ProvisioningService, services.provisioning),
  ];

  const statuses: Record<string, ServingStatus> = { '': 'SERVING' };
  for (const { name, isImplemented } of registrations)
    statuses[name] = isImplemented ? 'SERVING' : 'NOT_SERVING';
  const health = createHealth({ log, statuses, limits, stopSignal: stopping.signal });

  const server = new Server({
    'grpc.max_receive_message_length': limits.localMessageBytesMax,
    'grpc.max_send_message_length': limits.localResponseBytesMax,
    interceptors: registry ? [metricsInterceptor(createLocalApiMetrics(registry))] : [],
  });
  for (const { definition, implementation } of registrations) {
    server.addService(acceptMalformedRequests(definition), implementation);
  }
  server.addService(acceptMalformedRequests(HealthService), health.implementation);
  addReflection(server, [...registrations.map((r) => r.name), 'grpc.health.v1.Health']);

  let state: 'new' | 'started' | 'stopped' = 'new';

  return {
    health: health.handle,

    async start() {
      if (state !== 'new') throw new Error(`local server cannot start: it is ${state}`);
      state = 'started';
      const bound = await bind(server, address);
      log.info({ address: bound.address }, 'local api listening');
      return bound;
    },

    async stop() {
      if (state !== 'started') {
        state = 'stopped';
        return;
      }
      state = 'stopped';
      health.handle.setAllNotServing();
      stopping.abort();
      await shutdown(server, limits.localShutdownGraceMs, clock, log);
      log.info('local api stopped');
    },
  };
}

function optional(
  name: string,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation | undefined,
): Registration {
  return implementation
    ? { name, definition, implementation, isImplemented: true }
    : { name, definition, implementation: unimplementedService(definition), isImplemented: false };
}

async function bind(server: Server, address: ListenAddress): Promise<LocalServerAddress> {
  if (address.kind === 'unix') {
    await removeStaleSocket(address.path);
    const target = `unix:${address.path}`;
    await bindAsync(server, target);
    return { address: target };
  }
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  const port = await bindAsync(server, `${host}:${address.port}`);
  return { address: `${host}:${port}`, port };
}

function bindAsync(server: Server, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, ServerCredentials.createInsecure(), (err, port) => {
      if (err)
        reject(
          new AllianceError('UNAVAILABLE', `cannot listen on ${target}: ${err.message}`, { cause: err }),
        );
      else resolve(port);
    });
  });
}

/**
 * A socket file left by a node that did not stop cleanly blocks the bind. It is removed only if
 * it is a socket that nothing answers on: a live server's socket, or a regular file at that path,
 * is left alone and reported.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stats) return;
  if (!stats.isSocket()) {
    throw new AllianceError('FAILED_PRECONDITION', `cannot listen on ${path}: it exists and is not a socket`);
  }
  const isLive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (isLive)
    throw new AllianceError('FAILED_PRECONDITION', `cannot listen on ${path}: another server is using it`);
  await unlink(path);
}

async function shutdown(server: Server, graceMs: number, clock: Clock, log: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = clock.setTimer(graceMs, () => {
      log.warn({ graceMs }, 'local api calls still running at the shutdown deadline; cutting them off');
      server.forceShutdown();
      resolve();
    });
    server.tryShutdown(() => {
      timer.cancel();
      resolve();
    });
  });
}
