import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../../src/gen/alliance/v1/admin.js';
import { fixtureMeshStatus, fixturePeers } from '../../fakes/mesh-status-view.js';
import {
  call,
  insecure,
  softwareVersion,
  startLocalServer,
  type RunningServer,
} from './local-server-harness.js';

describe('Admin', () => {
  let running: RunningServer;
  let client: AdminClient;

  beforeEach(async () => {
    running = await startLocalServer();
    client = new AdminClient(running.address, insecure);
  });

  afterEach(async () => {
    client.close();
    await running.server.stop();
  });

  it('GetStatus returns the mesh view’s status with the software version and start time', async () => {
    const status = fixtureMeshStatus();
    expect(await call((cb) => client.getStatus({}, cb))).toEqual({
      nodeId: 'cloud-a/node-1',
      cloud: 'cloud-a',
      node: 'node-1',
      federation: 'test-federation',
      softwareVersion,
      startedAt: new Date('2024-05-01T09:59:00.000Z'),
      peers: fixturePeers(),
      origins: status.origins,
      rejections: [{ reason: 'bad_signature', count: 2n }],
    });
  });

  it('ListPeers returns the mesh view’s peers', async () => {
    expect(await call((cb) => client.listPeers({}, cb))).toEqual({ peers: fixturePeers() });
  });
});
