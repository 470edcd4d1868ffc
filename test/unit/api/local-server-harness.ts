/**
 * Starts a real local server on 127.0.0.1:0 over the fakes, and turns grpc-js callbacks and
 * streams into promises, so tests read as sequences of awaited calls.
 */
import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import {
  createLocalServer,
  type LocalApiLimits,
  type LocalServer,
  type LocalServices,
} from '../../../src/api/index.js';
import type { ListenAddress } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { FakeCatalogView } from '../../fakes/catalog-view.js';
import { FakeMeshStatusView } from '../../fakes/mesh-status-view.js';

export const softwareVersion = '0.1.0-test';
export const insecure = credentials.createInsecure();

export interface RunningServer {
  server: LocalServer;
  catalog: FakeCatalogView;
  meshStatus: FakeMeshStatusView;
  /** gRPC target: "127.0.0.1:<port>" or "unix:<path>". */
  address: string;
  port: number | undefined;
}

export async function startLocalServer(
  options: {
    address?: ListenAddress;
    limits?: Partial<LocalApiLimits>;
    registry?: Registry;
    services?: Partial<LocalServices>;
  } = {},
): Promise<RunningServer> {
  const catalog = new FakeCatalogView();
  const meshStatus = new FakeMeshStatusView();
  const server = createLocalServer({
    address: options.address ?? { kind: 'tcp', host: '127.0.0.1', port: 0 },
    log: silentLogger(),
    services: { catalog, meshStatus, softwareVersion, ...options.services },
    registry: options.registry,
    limits: options.limits,
  });
  const { address, port } = await server.start();
  return { server, catalog, meshStatus, address, port };
}

/** Promise of a callback-style unary call. */
export function call<Res>(
  invoke: (callback: (err: ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The code and details of a failed call, for asserting whole. */
export async function failure(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (err) {
    const { code, details } = err as ServiceError;
    return { code, details };
  }
  throw new Error('the call succeeded; a failure was expected');
}

/** Reads a server stream message by message; `next()` rejects with the stream's error status. */
export function reader<T>(stream: ClientReadableStream<T>): {
  next(): Promise<T>;
  /** Resolves with the status the stream ends with (after reading any remaining messages). */
  end(): Promise<{ code: number; details: string; messages: T[] }>;
} {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<T>;
  return {
    async next() {
      const result = await iterator.next();
      if (result.done) throw new Error('the stream ended; a message was expected');
      return result.value;
    },
    async end() {
      const messages: T[] = [];
      try {
        for (;;) {
          const result = await iterator.next();
          if (result.done) return { code: 0, details: 'OK', messages };
          messages.push(result.value);
        }
      } catch (err) {
        const { code, details } = err as ServiceError;
        return { code, details, messages };
      }
    },
  };
}

export { bufCurl } from '../../support/buf-curl.js';
