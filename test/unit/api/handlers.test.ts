import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createLocalServer } from '../../../src/api/index.js';
import { CatalogClient, type ListCloudsResponse } from '../../../src/gen/alliance/v1/catalog.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { createLogger } from '../../../src/lib/logger.js';
import { FakeCatalogView } from '../../fakes/catalog-view.js';
import { FakeMeshStatusView } from '../../fakes/mesh-status-view.js';
import { call, failure, insecure, reader } from './local-server-harness.js';

/** A catalog view that fails the way a bug would, and one way an expected failure would. */
class BrokenCatalogView extends FakeCatalogView {
  override listClouds(): never {
    throw new Error('db handle closed at /var/lib/alliance/node.db');
  }

  override listRegions(): never {
    throw new AllianceError('UNAVAILABLE', 'catalog not loaded yet');
  }

  override snapshot(): never {
    throw new TypeError("Cannot read properties of undefined (reading 'regions')");
  }
}

async function withBrokenServer(
  test: (client: CatalogClient, logs: Record<string, unknown>[], view: BrokenCatalogView) => Promise<void>,
) {
  const logs: Record<string, unknown>[] = [];
  const view = new BrokenCatalogView();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const server = createLocalServer({
    address: { kind: 'tcp', host: '127.0.0.1', port: 0 },
    log: createLogger({ level: 'error', destination }),
    services: {
      catalog: new BrokenCatalogView(),
      meshStatus: new FakeMeshStatusView(),
      softwareVersion: 'test',
    },
  });
  const { address } = await server.start();
  const client = new CatalogClient(address, insecure);
  try {
    await test(client, logs, view);
  } finally {
    client.close();
    await server.stop();
  }
}

describe('handler adapters', () => {
  it('answer an unexpected error with INTERNAL and a generic message, and log the real one', async () => {
    await withBrokenServer(async (client, logs) => {
      expect(await failure(call<ListCloudsResponse>((cb) => client.listClouds({}, cb)))).toEqual({
        code: status.INTERNAL,
        details: 'internal error (the node logged the cause)',
      });
      expect(logs).toMatchObject([
        {
          level: 50,
          component: 'local-api',
          path: '/alliance.v1.Catalog/ListClouds',
          msg: 'local api call failed',
          err: { message: 'db handle closed at /var/lib/alliance/node.db' },
        },
      ]);
    });
  });

  it('answer an AllianceError with its own status and message, without an error log', async () => {
    await withBrokenServer(async (client, logs) => {
      expect(await failure(call((cb) => client.listRegions({ cloud: '' }, cb)))).toEqual({
        code: status.UNAVAILABLE,
        details: 'catalog not loaded yet',
      });
      expect(logs).toEqual([]);
    });
  });

  it('end a stream whose handler fails with INTERNAL and release its watcher', async () => {
    await withBrokenServer(async (client, logs, view) => {
      expect(await reader(client.watchCatalog({ cloud: '' })).end()).toEqual({
        code: status.INTERNAL,
        details: 'internal error (the node logged the cause)',
        messages: [],
      });
      expect(logs).toMatchObject([
        { path: '/alliance.v1.Catalog/WatchCatalog', msg: 'local api call failed' },
      ]);
      expect(view.listenerCount).toBe(0);
    });
  });
});
