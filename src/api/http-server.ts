/**
 * The operator's HTTP port: GET /metrics (Prometheus text from the registry passed in) and
 * GET /healthz (200 "ok" while isHealthy() says so, 503 otherwise). Nothing else: 404.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { AllianceError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port; start() returns the one bound. */
  port: number;
  registry: Registry;
  isHealthy: () => boolean;
  log: Logger;
}

export interface HttpServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

export function createHttpServer({
  host,
  port,
  registry,
  isHealthy,
  log: rootLog,
}: HttpServerOptions): HttpServer {
  const log = rootLog.child({ component: 'http' });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/metrics') {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } else if (req.method === 'GET' && path === '/healthz') {
      const isOk = isHealthy();
      res.writeHead(isOk ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(isOk ? 'ok\n' : 'not serving\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'http request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });

  return {
    start: () =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void =>
          reject(
            new AllianceError('UNAVAILABLE', `cannot listen on ${host}:${port}: ${err.message}`, {
              cause: err,
            }),
          );
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const bound = (server.address() as AddressInfo).port;
          log.info({ host, port: bound }, 'http listening');
          resolve({ port: bound });
        });
      }),

    stop: () =>
      new Promise((resolve, reject) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((err) => (err ? reject(err) : resolve()));
        // Scrapers keep connections alive; without this close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}
