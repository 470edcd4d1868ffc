/**
 * alliance.v1.Catalog over a CatalogView: the list calls answer from the view's in-memory copy;
 * WatchCatalog streams a snapshot, a SNAPSHOT_END marker, then every change until cancelled.
 *
 * A watcher subscribes before it takes the snapshot, so no change falls between the two; a
 * change may therefore arrive both in the snapshot and as an UPDATED right after (harmless: each
 * message carries the cloud's whole catalog). Changes wait in a per-watcher queue bounded by
 * limits.watchQueueMessagesMax; a watcher that falls further behind is ended with
 * RESOURCE_EXHAUSTED (it reconnects for a fresh snapshot) rather than buffered without bound.
 * At most limits.watchersMax watchers are open at once.
 */
import type { CatalogChange, CatalogView } from '../catalog/index.js';
import type { Limits } from '../config/limits.js';
import {
  WatchCatalogResponse_Kind,
  type CatalogServer,
  type WatchCatalogRequest,
  type WatchCatalogResponse,
} from '../gen/alliance/v1/catalog.js';
import { AllianceError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { checkFilterLengths } from './filters.js';
import { serverStream, unary } from './handlers.js';
import { unlessAborted, Wakeup } from '../lib/wakeup.js';

export type CatalogHandlerLimits = Pick<Limits, 'filterBytesMax' | 'watchersMax' | 'watchQueueMessagesMax'>;

export interface CatalogHandlerDeps {
  view: CatalogView;
  log: Logger;
  limits: CatalogHandlerLimits;
  /** Aborted when the server stops: open watchers end with UNAVAILABLE. */
  stopSignal?: AbortSignal;
}

const changeKinds: Record<CatalogChange['kind'], WatchCatalogResponse_Kind> = {
  updated: WatchCatalogResponse_Kind.KIND_UPDATED,
  removed: WatchCatalogResponse_Kind.KIND_REMOVED,
};

export function createCatalogHandlers({ view, log, limits, stopSignal }: CatalogHandlerDeps): CatalogServer {
  let watcherCount = 0;

  return {
    listClouds: unary(log, () => ({ clouds: view.listClouds() })),

    listRegions: unary(log, (request) => {
      checkFilterLengths({ cloud: request.cloud }, limits.filterBytesMax);
      return { regions: view.listRegions({ cloud: request.cloud }) };
    }),

    listServices: unary(log, (request) => {
      checkFilterLengths({ cloud: request.cloud, type: request.type }, limits.filterBytesMax);
      return { services: view.listServices({ cloud: request.cloud, serviceType: request.type }) };
    }),

    listEndpoints: unary(log, (request) => {
      checkFilterLengths(
        {
          cloud: request.cloud,
          region: request.region,
          service_type: request.serviceType,
          interface: request.interface,
        },
        limits.filterBytesMax,
      );
      return {
        endpoints: view.listEndpoints({
          cloud: request.cloud,
          region: request.region,
          serviceType: request.serviceType,
          interface: request.interface,
        }),
      };
    }),

    watchCatalog: serverStream<WatchCatalogRequest, WatchCatalogResponse>(
      log,
      async (request, { signal, send }) => {
        checkFilterLengths({ cloud: request.cloud }, limits.filterBytesMax);
        if (watcherCount >= limits.watchersMax) {
          throw new AllianceError(
            'RESOURCE_EXHAUSTED',
            `this node already serves ${limits.watchersMax} catalog watchers (the limit); retry later`,
          );
        }
        watcherCount++;
        const pending: CatalogChange[] = [];
        const wakeup = new Wakeup();
        // Aborted (with the status to end on) when the queue overflows, even mid-send.
        const overflow = new AbortController();
        const unsubscribe = view.watch((change) => {
          if (request.cloud !== '' && change.catalog.cloud !== request.cloud) return;
          if (pending.length >= limits.watchQueueMessagesMax) {
            overflow.abort(
              new AllianceError(
                'RESOURCE_EXHAUSTED',
                `watcher fell behind: more than ${limits.watchQueueMessagesMax} catalog changes waiting; ` +
                  'reconnect for a fresh snapshot',
              ),
            );
            return;
          }
          pending.push(change);
          wakeup.wake();
        });
        try {
          const sendBounded = (response: WatchCatalogResponse): Promise<void> =>
            unlessAborted(send(response), overflow.signal);
          for (const catalog of view.snapshot(request.cloud === '' ? undefined : request.cloud)) {
            await sendBounded({ kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT, catalog });
          }
          await sendBounded({ kind: WatchCatalogResponse_Kind.KIND_SNAPSHOT_END });
          while (!signal.aborted) {
            const change = pending.shift();
            if (change) await sendBounded({ kind: changeKinds[change.kind], catalog: change.catalog });
            else await unlessAborted(wakeup.wait(signal), overflow.signal);
          }
        } finally {
          unsubscribe();
          watcherCount--;
        }
      },
      { stopSignal },
    ),
  };
}
