import { Client, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../../src/config/limits.js';
import {
  CatalogClient,
  ListEndpointsResponse,
  ListRegionsRequest,
  type ListCloudsResponse,
} from '../../../src/gen/alliance/v1/catalog.js';
import { HealthClient } from '../../../src/gen/grpc/health/v1/health.js';
import {
  call,
  failure,
  insecure,
  reader,
  startLocalServer,
  type RunningServer,
} from './local-server-harness.js';

const passThrough = (bytes: Buffer): Buffer => bytes;

/** A length-delimited field 1 that claims 100 bytes and carries one. */
const truncated = Buffer.from([0x0a, 0x64, 0x01]);
/** Field 1 with wire type 7, which does not exist. */
const badWireType = Buffer.from([0x0f]);

describe('requests the local API refuses', () => {
  let running: RunningServer;
  let raw: Client;
  let catalog: CatalogClient;

  beforeAll(async () => {
    running = await startLocalServer();
    raw = new Client(running.address, insecure);
    catalog = new CatalogClient(running.address, insecure);
  });

  afterAll(async () => {
    raw.close();
    catalog.close();
    await running.server.stop();
  });

  const rawUnary = (path: string, bytes: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      raw.makeUnaryRequest(path, passThrough, passThrough, bytes, (err: ServiceError | null, res?: Buffer) =>
        err || !res ? reject(err) : resolve(res),
      ),
    );

  it('a request larger than localMessageBytesMax gets RESOURCE_EXHAUSTED', async () => {
    const request = { cloud: 'x'.repeat(limits.localMessageBytesMax) };
    const size = ListRegionsRequest.encode(request).finish().length;
    expect(await failure(call((cb) => catalog.listRegions(request, cb)))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: `Received message larger than max (${size} vs ${limits.localMessageBytesMax})`,
    });
  });

  it('a truncated unary request gets INVALID_ARGUMENT, not INTERNAL', async () => {
    expect(await failure(rawUnary('/alliance.v1.Catalog/ListRegions', truncated))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'malformed request: premature EOF',
    });
  });

  it('a request with an impossible wire type gets INVALID_ARGUMENT naming the problem', async () => {
    expect(await failure(rawUnary('/alliance.v1.Admin/GetStatus', badWireType))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'malformed request: cant skip wire type 7',
    });
  });

  it('a malformed request to a streaming method gets INVALID_ARGUMENT', async () => {
    const stream = raw.makeServerStreamRequest(
      '/alliance.v1.Catalog/WatchCatalog',
      passThrough,
      passThrough,
      truncated,
    );
    expect(await reader(stream).end()).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'malformed request: premature EOF',
      messages: [],
    });
    expect(running.catalog.listenerCount).toBe(0);
  });

  it('a malformed health check gets INVALID_ARGUMENT', async () => {
    expect(await failure(rawUnary('/grpc.health.v1.Health/Check', truncated))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'malformed request: premature EOF',
    });
  });

  it('an over-long health service name gets INVALID_ARGUMENT naming the field', async () => {
    const health = new HealthClient(running.address, insecure);
    try {
      expect(await failure(call((cb) => health.check({ service: 'h'.repeat(300) }, cb)))).toEqual({
        code: status.INVALID_ARGUMENT,
        details: 'service is 300 bytes long; the limit is 256 bytes',
      });
    } finally {
      health.close();
    }
  });

  it('the server still answers well-formed calls afterwards', async () => {
    expect(
      (await call<ListCloudsResponse>((cb) => catalog.listClouds({}, cb))).clouds.map((c) => c.id),
    ).toEqual(['cloud-a', 'cloud-b', 'cloud-c']);
  });
});

describe('responses larger than localResponseBytesMax', () => {
  it('end the call with RESOURCE_EXHAUSTED instead of being sent', async () => {
    const responseBytesMax = 200;
    const running = await startLocalServer({ limits: { localResponseBytesMax: responseBytesMax } });
    const catalog = new CatalogClient(running.address, insecure);
    try {
      const request = { cloud: '', region: '', serviceType: '', interface: '' };
      const size = ListEndpointsResponse.encode({ endpoints: running.catalog.listEndpoints({}) }).finish()
        .length;
      expect(await failure(call((cb) => catalog.listEndpoints(request, cb)))).toEqual({
        code: status.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${size + 5} vs. ${responseBytesMax})`,
      });
    } finally {
      catalog.close();
      await running.server.stop();
    }
  });
});
