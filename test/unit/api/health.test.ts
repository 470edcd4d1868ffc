import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus, HealthClient } from '../../../src/gen/grpc/health/v1/health.js';
import {
  call,
  failure,
  insecure,
  reader,
  startLocalServer,
  type RunningServer,
} from './local-server-harness.js';

const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = HealthCheckResponse_ServingStatus;

describe('grpc.health.v1.Health', () => {
  let running: RunningServer;
  let client: HealthClient;

  beforeEach(async () => {
    running = await startLocalServer();
    client = new HealthClient(running.address, insecure);
  });

  afterEach(async () => {
    client.close();
    await running.server.stop();
  });

  it.each([
    ['', SERVING],
    ['alliance.v1.Catalog', SERVING],
    ['alliance.v1.Admin', SERVING],
    ['alliance.v1.Tokens', NOT_SERVING],
    ['alliance.v1.Events', NOT_SERVING],
    ['alliance.v1.Provisioning', NOT_SERVING],
  ])('Check of %j answers %s (implemented services serve, stand-ins do not)', async (service, expected) => {
    expect(await call((cb) => client.check({ service }, cb))).toEqual({ status: expected });
  });

  it('Check of an unknown service answers NOT_FOUND', async () => {
    expect(await failure(call((cb) => client.check({ service: 'no.such.Service' }, cb)))).toEqual({
      code: status.NOT_FOUND,
      details: 'no health status for service "no.such.Service"',
    });
  });

  it('Watch sends the current status, each change, NOT_SERVING on stop, then UNAVAILABLE', async () => {
    const watch = reader(client.watch({ service: '' }));
    expect(await watch.next()).toEqual({ status: SERVING });
    running.server.health.setStatus('', 'NOT_SERVING');
    expect(await watch.next()).toEqual({ status: NOT_SERVING });
    running.server.health.setStatus('', 'SERVING');
    expect(await watch.next()).toEqual({ status: SERVING });
    const stopped = running.server.stop();
    expect(await watch.end()).toEqual({
      code: status.UNAVAILABLE,
      details: 'the node is shutting down',
      messages: [{ status: NOT_SERVING }],
    });
    await stopped;
    expect(running.server.health.isServing()).toBe(false);
  });

  it('Watch of an unknown service answers SERVICE_UNKNOWN and stays open', async () => {
    const watch = reader(client.watch({ service: 'later.Service' }));
    expect(await watch.next()).toEqual({ status: SERVICE_UNKNOWN });
    running.server.health.setStatus('later.Service', 'SERVING');
    expect(await watch.next()).toEqual({ status: SERVING });
  });

  it('refuses Health.Watch streams beyond healthWatchersMax', async () => {
    const limited = await startLocalServer({ limits: { healthWatchersMax: 1 } });
    const limitedClient = new HealthClient(limited.address, insecure);
    try {
      const first = reader(limitedClient.watch({ service: '' }));
      expect(await first.next()).toEqual({ status: SERVING });
      expect(await reader(limitedClient.watch({ service: '' })).end()).toEqual({
        code: status.RESOURCE_EXHAUSTED,
        details: 'this node already serves 1 health watchers (the limit); retry later',
        messages: [],
      });
    } finally {
      limitedClient.close();
      await limited.server.stop();
    }
  });
});
