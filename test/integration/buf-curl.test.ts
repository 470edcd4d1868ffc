/**
 * An operator's view: `buf curl` (our grpcurl) against a running node's local API, with
 * no proto files, through server reflection. Exit codes are the gRPC code times 8.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufCurl } from '../support/buf-curl.js';
import { TestFederation, onFederationChange, waitFor } from './harness.js';

let federation: TestFederation;

beforeAll(async () => {
  federation = await TestFederation.start({ clouds: 2 });
  const nodes = federation.running();
  await waitFor(
    'both clouds known everywhere',
    () => nodes.every((n) => n.catalog.listClouds().length === 2),
    onFederationChange(nodes),
  );
});

afterAll(async () => {
  await federation.stop();
});

describe('buf curl against a running node', () => {
  it('lists every service through reflection', async () => {
    const result = await bufCurl(['--list-services', `http://${federation.localAddress(0)}`]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split('\n').sort()).toEqual([
      'alliance.v1.Admin',
      'alliance.v1.Catalog',
      'alliance.v1.Events',
      'alliance.v1.IdentityAdmin',
      'alliance.v1.Provisioning',
      'alliance.v1.Tokens',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
  });

  it('calls Catalog.ListClouds and Admin.GetStatus with JSON in and out', async () => {
    const clouds = await bufCurl([
      '-d',
      '{}',
      `http://${federation.localAddress(1)}/alliance.v1.Catalog/ListClouds`,
    ]);
    expect(clouds.exitCode).toBe(0);
    const parsed = JSON.parse(clouds.stdout) as {
      clouds: { id: string; nodes: string[]; endpointCount: number }[];
    };
    expect(parsed.clouds.map((c) => [c.id, c.nodes, c.endpointCount])).toEqual([
      ['cloud-a', ['cloud-a/n1'], 5],
      ['cloud-b', ['cloud-b/n1'], 5],
    ]);

    const status = await bufCurl([
      '-d',
      '{}',
      `http://${federation.localAddress(0)}/alliance.v1.Admin/GetStatus`,
    ]);
    expect(status.exitCode).toBe(0);
    const parsedStatus = JSON.parse(status.stdout) as {
      nodeId: string;
      peers: { nodeId: string; state: string }[];
    };
    expect(parsedStatus.nodeId).toBe('cloud-a/n1');
    expect(parsedStatus.peers.map((p) => [p.nodeId, p.state])).toEqual([['cloud-b/n1', 'STATE_CONNECTED']]);
  });

  it('answers health checks, and the statuses of built capabilities', async () => {
    const health = await bufCurl([
      '-d',
      '{}',
      `http://${federation.localAddress(0)}/grpc.health.v1.Health/Check`,
    ]);
    expect(health.exitCode).toBe(0);
    expect(JSON.parse(health.stdout)).toEqual({ status: 'SERVING' });

    // Provisioning is built: an unknown request id is NOT_FOUND (5), not UNIMPLEMENTED.
    const provision = await bufCurl([
      '-d',
      '{"requestId":"r1"}',
      `http://${federation.localAddress(0)}/alliance.v1.Provisioning/GetProvision`,
    ]);
    expect(provision.exitCode).toBe(5 * 8);
    expect(provision.stderr).toContain('no provisioning request r1 was made from this cloud');

    // Events is built: an unknown event type is a bad argument (3), not UNIMPLEMENTED.
    const publish = await bufCurl([
      '-d',
      '{"type":"x"}',
      `http://${federation.localAddress(0)}/alliance.v1.Events/Publish`,
    ]);
    expect(publish.exitCode).toBe(3 * 8);
    expect(publish.stderr).toContain('is not a known event type; known types: identity.project.deleted');
  });
});
