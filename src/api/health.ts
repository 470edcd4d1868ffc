/**
 * grpc.health.v1.Health (Check and Watch) for the local server, with a status for the whole
 * node ("") and one per alliance.v1 service.
 *
 * Written over the generated HealthService rather than grpc-health-check's HealthImplementation:
 * that one registers a `List` method our vendored health.proto (the one reflection describes)
 * does not have, keeps an unbounded set of Watch streams, and would bypass the adapters
 * (malformed-request handling, filter limits, shutdown of open streams). Check of an unknown
 * service is NOT_FOUND; Watch of one answers SERVICE_UNKNOWN and stays open, as the spec asks.
 */
import type { Limits } from '../config/limits.js';
import {
  HealthCheckResponse_ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../gen/grpc/health/v1/health.js';
import { AllianceError, notFound } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { checkFilterLengths } from './filters.js';
import { serverStream, unary } from './handlers.js';
import { Wakeup } from '../lib/wakeup.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/** The node's side of health: what stop() and the composition root use. */
export interface HealthHandle {
  setStatus(service: string, status: ServingStatus): void;
  /** Marks every service NOT_SERVING; stop() calls it first so clients move away. */
  setAllNotServing(): void;
  /** Whether `service` ("" is the whole node, the default) is SERVING. */
  isServing(service?: string): boolean;
}

export interface HealthDeps {
  log: Logger;
  /** Initial statuses by service name; "" is the whole node. */
  statuses: Record<string, ServingStatus>;
  limits: Pick<Limits, 'filterBytesMax' | 'healthWatchersMax'>;
  /** Aborted when the server stops: open Watch streams end with UNAVAILABLE. */
  stopSignal?: AbortSignal;
}

export interface Health {
  handle: HealthHandle;
  implementation: HealthServer;
}

interface Watcher {
  service: string;
  notify(status: HealthCheckResponse_ServingStatus): void;
}

const wireStatus: Record<ServingStatus, HealthCheckResponse_ServingStatus> = {
  SERVING: HealthCheckResponse_ServingStatus.SERVING,
  NOT_SERVING: HealthCheckResponse_ServingStatus.NOT_SERVING,
};

export function createHealth({ log, statuses: initial, limits, stopSignal }: HealthDeps): Health {
  const statuses = new Map<string, ServingStatus>(Object.entries(initial));
  const watchers = new Set<Watcher>();

  const setStatus = (service: string, status: ServingStatus): void => {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    for (const watcher of watchers) {
      if (watcher.service === service) watcher.notify(wireStatus[status]);
    }
  };

  const current = (service: string): HealthCheckResponse_ServingStatus => {
    const status = statuses.get(service);
    return status === undefined ? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN : wireStatus[status];
  };

  const handle: HealthHandle = {
    setStatus,
    setAllNotServing: () => {
      for (const service of [...statuses.keys()]) setStatus(service, 'NOT_SERVING');
    },
    isServing: (service = '') => statuses.get(service) === 'SERVING',
  };

  const implementation: HealthServer = {
    check: unary<HealthCheckRequest, HealthCheckResponse>(log, (request) => {
      checkFilterLengths({ service: request.service }, limits.filterBytesMax);
      const status = statuses.get(request.service);
      if (status === undefined) throw notFound(`no health status for service "${request.service}"`);
      return { status: wireStatus[status] };
    }),

    watch: serverStream<HealthCheckRequest, HealthCheckResponse>(
      log,
      async (request, { signal, send }) => {
        checkFilterLengths({ service: request.service }, limits.filterBytesMax);
        if (watchers.size >= limits.healthWatchersMax) {
          throw new AllianceError(
            'RESOURCE_EXHAUSTED',
            `this node already serves ${limits.healthWatchersMax} health watchers (the limit); retry later`,
          );
        }
        // Only the latest status matters to a watcher: one slot, never a growing queue.
        let unsent: HealthCheckResponse_ServingStatus | undefined = current(request.service);
        const wakeup = new Wakeup();
        const watcher: Watcher = {
          service: request.service,
          notify: (status) => {
            unsent = status;
            wakeup.wake();
          },
        };
        watchers.add(watcher);
        try {
          for (;;) {
            // Send what is unsent before honouring an abort, so the NOT_SERVING that stop()
            // sets reaches watchers ahead of the UNAVAILABLE that ends their stream.
            if (unsent !== undefined) {
              const status = unsent;
              unsent = undefined;
              await send({ status });
              continue;
            }
            if (signal.aborted) return;
            await wakeup.wait(signal);
          }
        } finally {
          watchers.delete(watcher);
        }
      },
      { stopSignal },
    ),
  };

  return { handle, implementation };
}
