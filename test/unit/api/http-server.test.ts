import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createHttpServer, type HttpServer } from '../../../src/api/index.js';
import { CatalogClient } from '../../../src/gen/alliance/v1/catalog.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { call, insecure, startLocalServer, type RunningServer } from './local-server-harness.js';

describe('the operator HTTP server', () => {
  let registry: Registry;
  let running: RunningServer;
  let http: HttpServer;
  let base: string;

  beforeEach(async () => {
    registry = new Registry();
    running = await startLocalServer({ registry });
    http = createHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      isHealthy: () => running.server.health.isServing(),
      log: silentLogger(),
    });
    base = `http://127.0.0.1:${(await http.start()).port}`;
  });

  afterEach(async () => {
    await http.stop();
    await running.server.stop();
  });

  const get = async (path: string): Promise<{ status: number; type: string | null; body: string }> => {
    const response = await fetch(`${base}${path}`);
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: await response.text(),
    };
  };

  it('/metrics counts local calls by service, method and code, with unary latency', async () => {
    const client = new CatalogClient(running.address, insecure);
    try {
      await call((cb) => client.listClouds({}, cb));
      await call((cb) => client.listClouds({}, cb));
      await call((cb) => client.listRegions({ cloud: 'x'.repeat(300) }, cb)).catch(() => undefined);
    } finally {
      client.close();
    }
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe(registry.contentType);
    const lines = metrics.body.split('\n');
    expect(lines.filter((line) => line.startsWith('alliance_local_requests_total{'))).toEqual([
      'alliance_local_requests_total{service="alliance.v1.Catalog",method="ListClouds",code="OK"} 2',
      'alliance_local_requests_total{service="alliance.v1.Catalog",method="ListRegions",code="INVALID_ARGUMENT"} 1',
    ]);
    expect(lines.filter((line) => line.startsWith('alliance_local_request_duration_seconds_count'))).toEqual([
      'alliance_local_request_duration_seconds_count{service="alliance.v1.Catalog",method="ListClouds"} 2',
      'alliance_local_request_duration_seconds_count{service="alliance.v1.Catalog",method="ListRegions"} 1',
    ]);
  });

  it('/metrics counts a stream the client cancelled as CANCELLED and gives it no latency', async () => {
    const client = new CatalogClient(running.address, insecure);
    try {
      const stream = client.watchCatalog({ cloud: 'cloud-c' });
      stream.on('error', () => {});
      await new Promise((resolve) => stream.once('data', resolve));
      stream.cancel();
      await running.catalog.whenListenerCount(0);
    } finally {
      client.close();
    }
    const lines = (await get('/metrics')).body.split('\n');
    expect(lines.filter((line) => line.includes('WatchCatalog'))).toEqual([
      'alliance_local_requests_total{service="alliance.v1.Catalog",method="WatchCatalog",code="CANCELLED"} 1',
    ]);
  });

  it('/healthz answers 200 ok while the local server serves, and 503 once it stops', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
    await running.server.stop();
    expect(await get('/healthz')).toEqual({
      status: 503,
      type: 'text/plain; charset=utf-8',
      body: 'not serving\n',
    });
  });

  it.each(['/', '/metrics/extra', '/health'])('%s is 404', async (path) => {
    expect(await get(path)).toEqual({ status: 404, type: 'text/plain; charset=utf-8', body: 'not found\n' });
  });
});
