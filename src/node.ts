/**
 * The composition root: the only file that wires capabilities together. It opens the
 * store, loads the node's certificate and keys, builds the mesh and every capability on
 * it, and the local API over them. Start is in dependency order; stop is the reverse.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createHttpServer, createLocalServer } from './api/index.js';
import type { HttpServer, LocalServer } from './api/index.js';
import { createCatalog } from './catalog/index.js';
import type { Catalog } from './catalog/index.js';
import type { NodeConfig } from './config/types.js';
import { systemClock } from './lib/clock.js';
import type { Clock } from './lib/clock.js';
import { AllianceError } from './lib/errors.js';
import { createLogger } from './lib/logger.js';
import type { Logger } from './lib/logger.js';
import { softwareVersion } from './lib/version.js';
import { RecordStore, createGrpcTransport, createMesh } from './mesh/index.js';
import type { Mesh, Transport } from './mesh/index.js';
import { createCertifiedCrypto } from './mesh/certified-crypto.js';
import { createMeshMetrics } from './mesh/metrics.js';
import {
  loadNodeTls,
  loadOrCreateRecordKey,
  peerChannelCredentials,
  peerIdentityFromCall,
  peerServerCredentials,
  peerTlsChannelOptions,
} from './pki/index.js';
import { openDatabase } from './store/database.js';
import type { SqliteDatabase } from './store/database.js';

export interface NodeDeps {
  clock?: Clock;
  log?: Logger;
  /** Replaces the gRPC peer transport (simulations). */
  transport?: Transport;
}

export interface NodeAddresses {
  /** Local API target: host:port or unix:/path. */
  local: string;
  /** Peer API host:port. */
  peer: string;
  /** Metrics/health HTTP host:port, or null when disabled. */
  http: string | null;
}

export interface AllianceNode {
  readonly config: NodeConfig;
  readonly mesh: Mesh;
  readonly catalog: Catalog;
  readonly log: Logger;
  start(): Promise<NodeAddresses>;
  stop(): Promise<void>;
}

export const databaseFileName = 'alliance.db';
export const recordKeyFileName = 'record-key.pem';

export function createNode(config: NodeConfig, deps: NodeDeps = {}): AllianceNode {
  const clock = deps.clock ?? systemClock;
  const log = (deps.log ?? createLogger({ level: config.log.level })).child({ node: config.nodeId });

  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const tls = loadNodeTls(config.tls);
  const identity = tls.identity;
  if (identity.nodeId !== config.nodeId || identity.federation !== config.federation) {
    throw new AllianceError(
      'FAILED_PRECONDITION',
      `the certificate ${config.tls.certFile} is for ${identity.federation}/${identity.nodeId}, ` +
        `but the configuration says ${config.federation}/${config.nodeId}`,
    );
  }
  const recordKey = loadOrCreateRecordKey(join(config.dataDir, recordKeyFileName));
  const db: SqliteDatabase = openDatabase(join(config.dataDir, databaseFileName));
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const transport =
    deps.transport ??
    createGrpcTransport({
      host: config.listen.peer.host,
      port: config.listen.peer.port,
      serverCredentials: peerServerCredentials(tls),
      channelCredentials: (onServerIdentity) => peerChannelCredentials(tls, { onServerIdentity }),
      identityOfCall: (call) => peerIdentityFromCall(call).nodeId,
      channelOptions: peerTlsChannelOptions,
      log,
    });

  const mesh = createMesh(
    {
      nodeId: config.nodeId,
      cloud: config.cloud,
      node: config.node,
      federation: config.federation,
      advertiseAddress: config.advertisePeerAddress,
      seeds: config.seeds,
      ...config.mesh,
    },
    {
      store: new RecordStore(db),
      transport,
      crypto: createCertifiedCrypto({
        federation: config.federation,
        caCertPem: tls.caPem,
        certPem: tls.certPem,
        keyPem: tls.keyPem,
        recordPrivateKey: recordKey.privateKey,
        recordPublicKey: recordKey.publicKeyRaw,
      }),
      clock,
      log,
    },
  );
  createMeshMetrics(mesh, registry);

  const catalog = createCatalog(
    { mesh, clock, log },
    { cloud: config.cloud, nodeId: config.nodeId, catalog: config.catalog },
  );

  const localServer: LocalServer = createLocalServer({
    address: config.listen.local,
    log,
    registry,
    clock,
    services: { catalog, meshStatus: mesh, softwareVersion },
  });

  let httpServer: HttpServer | null = null;
  let started = false;

  return {
    config,
    mesh,
    catalog,
    log,

    async start() {
      // Peers first, so the catalog is published into a running mesh; the local API
      // last, so nothing is answered from a half-built node. A step that fails undoes
      // the ones before it, so a failed start leaves no port open behind it.
      const undo: (() => Promise<void> | void)[] = [];
      try {
        await mesh.start();
        undo.push(() => mesh.stop());
        catalog.start();
        undo.push(() => catalog.stop());
        const local = await localServer.start();
        undo.push(() => localServer.stop());
        let http: string | null = null;
        if (config.listen.http) {
          httpServer = createHttpServer({
            host: config.listen.http.host,
            port: config.listen.http.port,
            registry,
            isHealthy: () => started && localServer.health.isServing(),
            log,
          });
          const { port } = await httpServer.start();
          http = `${config.listen.http.host}:${port}`;
        }
        started = true;
        const peerPort =
          'port' in transport && typeof transport.port === 'function'
            ? transport.port()
            : config.listen.peer.port;
        const addresses = { local: local.address, peer: `${config.listen.peer.host}:${peerPort}`, http };
        log.info({ ...addresses }, 'node started');
        return addresses;
      } catch (err) {
        for (const step of undo.reverse()) await step();
        db.close();
        throw err;
      }
    },

    async stop() {
      started = false;
      await httpServer?.stop();
      await localServer.stop();
      catalog.stop();
      await mesh.stop();
      db.close();
      log.info('node stopped');
    },
  };
}
