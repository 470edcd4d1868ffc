import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalServer } from '../../../src/api/index.js';
import {
  CatalogClient,
  type ListCloudsResponse,
  type ListRegionsResponse,
} from '../../../src/gen/alliance/v1/catalog.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { FakeCatalogView } from '../../fakes/catalog-view.js';
import { FakeMeshStatusView } from '../../fakes/mesh-status-view.js';
import { bufCurl, call, insecure, startLocalServer } from './local-server-harness.js';

describe('the local server on a unix socket', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'alliance-api-'));
    path = join(dir, 'local.sock');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('listens on unix:<path> and answers a client there', async () => {
    const running = await startLocalServer({ address: { kind: 'unix', path } });
    const client = new CatalogClient(`unix:${path}`, insecure);
    try {
      expect(running.address).toBe(`unix:${path}`);
      expect(running.port).toBeUndefined();
      expect(
        (await call<ListCloudsResponse>((cb) => client.listClouds({}, cb))).clouds.map((c) => c.id),
      ).toEqual(['cloud-a', 'cloud-b', 'cloud-c']);
    } finally {
      client.close();
      await running.server.stop();
    }
  });

  it('answers buf curl through reflection over the socket', async () => {
    const running = await startLocalServer({ address: { kind: 'unix', path } });
    try {
      const result = await bufCurl([
        '--unix-socket',
        path,
        '-d',
        '{"cloud":"cloud-a"}',
        'http://localhost/alliance.v1.Catalog/ListRegions',
      ]);
      expect({ exitCode: result.exitCode, body: JSON.parse(result.stdout) as unknown }).toEqual({
        exitCode: 0,
        body: {
          regions: [
            { cloud: 'cloud-a', id: 'RegionOne', description: 'RegionOne of cloud-a' },
            {
              cloud: 'cloud-a',
              id: 'RegionTwo',
              description: 'RegionTwo of cloud-a',
              parentRegionId: 'RegionOne',
            },
          ],
        },
      });
    } finally {
      await running.server.stop();
    }
  });

  it('replaces a stale socket file that nothing listens on', async () => {
    // A process that bound the socket and died leaves the file behind; python exits without unlinking.
    execFileSync('/usr/bin/python3', [
      '-c',
      'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      path,
    ]);
    const running = await startLocalServer({ address: { kind: 'unix', path } });
    const client = new CatalogClient(`unix:${path}`, insecure);
    try {
      expect(
        (await call<ListRegionsResponse>((cb) => client.listRegions({ cloud: 'cloud-b' }, cb))).regions.map(
          (r) => r.id,
        ),
      ).toEqual(['RegionOne']);
    } finally {
      client.close();
      await running.server.stop();
    }
  });

  const newServer = () =>
    createLocalServer({
      address: { kind: 'unix', path },
      log: silentLogger(),
      services: {
        catalog: new FakeCatalogView(),
        meshStatus: new FakeMeshStatusView(),
        softwareVersion: 'test',
      },
    });

  it('refuses to take over a socket another server is listening on', async () => {
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      await expect(newServer().start()).rejects.toEqual(
        new AllianceError('FAILED_PRECONDITION', `cannot listen on ${path}: another server is using it`),
      );
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('refuses to delete a regular file at the socket path', async () => {
    writeFileSync(path, 'not a socket');
    await expect(newServer().start()).rejects.toEqual(
      new AllianceError('FAILED_PRECONDITION', `cannot listen on ${path}: it exists and is not a socket`),
    );
  });
});
