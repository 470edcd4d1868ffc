/**
 * The composition root: the only file that wires capabilities together. It opens the
 * store, loads the node's certificate and keys, builds the mesh and every capability on
 * it, and the local API over them. Start is in dependency order; stop is the reverse.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createHttpServer, createLocalServer } from './api/index.js';
import { createEventsHandlers } from './api/events-handlers.js';
import { createIdentityAdminHandlers } from './api/identity-admin-handlers.js';
import { createProvisioningHandlers } from './api/provisioning-handlers.js';
import { createTokensHandlers } from './api/tokens-handlers.js';
import type { HttpServer, LocalServer } from './api/index.js';
import { createCatalog } from './catalog/index.js';
import type { Catalog } from './catalog/index.js';
import type { NodeConfig } from './config/types.js';
import { createEvents } from './events/index.js';
import type { Events } from './events/index.js';
import { systemClock } from './lib/clock.js';
import type { Clock } from './lib/clock.js';
import { AllianceError, errorMessage } from './lib/errors.js';
import { createKeystoneIdentity, createStaticIdentity } from './identity/index.js';
import type { IdentitySource, RevocationInput, StaticIdentity } from './identity/index.js';
import { createProvisioning } from './provisioning/index.js';
import type { Provisioning } from './provisioning/index.js';
import { createRevocations, revocationToProto } from './revocation/index.js';
import type { RevocationPattern, Revocations } from './revocation/index.js';
import { createTokens } from './tokens/index.js';
import type { Tokens } from './tokens/index.js';
import { createLogger } from './lib/logger.js';
import type { Logger } from './lib/logger.js';
import { softwareVersion } from './lib/version.js';
import { RecordStore, createGrpcTransport, createMesh } from './mesh/index.js';
import type { Mesh, Transport } from './mesh/index.js';
import { createCertifiedCrypto } from './mesh/certified-crypto.js';
import { createMeshMetrics } from './mesh/metrics.js';
import { createEventsMetrics } from './events/metrics.js';
import {
  loadNodeTls,
  loadOrCreateRecordKey,
  peerChannelCredentials,
  peerIdentityFromCall,
  peerServerCredentials,
  peerTlsChannelOptions,
  verifyNodeCertificate,
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
  readonly identity: IdentitySource;
  readonly revocations: Revocations;
  readonly events: Events;
  readonly tokens: Tokens;
  readonly provisioning: Provisioning;
  readonly log: Logger;
  start(): Promise<NodeAddresses>;
  stop(): Promise<void>;
}

export const databaseFileName = 'alliance.db';
export const recordKeyFileName = 'record-key.pem';
export const jwsKeyFileName = 'jws-key.pem';
/** How often a Keystone-backed node re-reads its catalog when config gives no interval. */
const defaultRefreshMs = 60_000;

export function createNode(config: NodeConfig, deps: NodeDeps = {}): AllianceNode {
  const clock = deps.clock ?? systemClock;
  const log = (deps.log ?? createLogger({ level: config.log.level })).child({ node: config.nodeId });

  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const tls = loadNodeTls(config.tls);
  const certified = tls.identity;
  if (certified.nodeId !== config.nodeId || certified.federation !== config.federation) {
    throw new AllianceError(
      'FAILED_PRECONDITION',
      `the certificate ${config.tls.certFile} is for ${certified.federation}/${certified.nodeId}, ` +
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
      channelCredentials: (onServerIdentity, expectedNodeId) =>
        peerChannelCredentials(tls, { onServerIdentity, expectedNodeId }),
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
    {
      cloud: config.cloud,
      nodeId: config.nodeId,
      // A Keystone-backed cloud's catalog is the one Keystone has (published from refreshCatalog).
      catalog: config.identity.kind === 'keystone' ? null : config.catalog,
    },
  );

  const revocations = createRevocations(
    { mesh, db, clock, log },
    { cloud: config.cloud, nodeId: config.nodeId, retentionMs: config.tokens.revocationRetentionMs },
  );
  const events = createEvents(
    { mesh, db, clock, log },
    { cloud: config.cloud, nodeId: config.nodeId, config: config.events },
  );
  createEventsMetrics(events, registry);
  let staticIdentity: StaticIdentity | null = null;
  const identity: IdentitySource =
    config.identity.kind === 'static'
      ? (staticIdentity = createStaticIdentity(
          { db, clock, log, jwsKeyPath: join(config.dataDir, jwsKeyFileName) },
          { cloud: config.cloud, config: config.identity },
        ))
      : createKeystoneIdentity({ clock, log }, { cloud: config.cloud, config: config.identity });
  const refreshMs = config.identity.kind === 'keystone' ? config.identity.refreshMs : defaultRefreshMs;
  const tokens = createTokens(
    {
      mesh,
      identity,
      revocations,
      signer: {
        federation: config.federation,
        cloud: config.cloud,
        nodeId: config.nodeId,
        certificateDer: tls.cert.raw,
        privateKey: createPrivateKey(tls.keyPem),
      },
      verifyIssuer: (der, nowMs) => verifyNodeCertificate(der, tls.ca, nowMs),
      clock,
      log,
    },
    {
      cloud: config.cloud,
      nodeId: config.nodeId,
      federation: config.federation,
      mapping: config.mapping,
      tokens: config.tokens,
      keyRefreshMs: refreshMs,
    },
  );
  // Kind "project" goes through the identity source, whichever it is.
  const provisioning = createProvisioning(
    { mesh, events, projects: identity.projects, clock, log },
    { cloud: config.cloud, nodeId: config.nodeId },
  );

  // What the identity source learns (a Keystone revocation event, a disabled user) becomes a
  // federated revocation of this cloud.
  /** What each reported input became, so IdentityAdmin can answer with it (never published twice). */
  const publishedRevocations = new WeakMap<RevocationInput, RevocationPattern>();
  const stopForwardingRevocations = identity.onRevocation((input) => {
    try {
      publishedRevocations.set(input, revocations.revoke(input, { localOnly: false }));
    } catch (err) {
      log.error(
        { reason: errorMessage(err), source: input.source },
        'could not publish a revocation from the identity source',
      );
    }
  });

  // An account-state change the identity source reports becomes a broadcast event; the promise
  // resolves once it is durable, and only then does the source acknowledge it to its broker.
  const stopForwardingAccountEvents = identity.onAccountEvent(async (event) => {
    try {
      await events.publishAccountEvent(event);
    } catch (err) {
      // An event that can never be published (e.g. data over the limit) must not come back
      // forever and hold up every notification behind it: log it, and let the source go on.
      // Anything else (the store failing) rejects, so the source offers it again later.
      if (!(err instanceof AllianceError && err.code === 'INVALID_ARGUMENT')) throw err;
      log.error(
        { type: event.type, subject: event.subject, sourceId: event.sourceId, reason: err.message },
        'account event refused for good; dropped',
      );
    }
  });

  /** A Keystone-backed cloud publishes the catalog Keystone has, re-read now and then. */
  let catalogTimer: { cancel(): void } | null = null;
  async function refreshCatalog(): Promise<void> {
    try {
      const fromSource = await identity.catalog();
      if (fromSource) catalog.publish(fromSource);
    } catch (err) {
      log.warn({ reason: errorMessage(err) }, 'could not read the catalog from the identity source');
    }
  }
  function scheduleCatalogRefresh(): void {
    catalogTimer = clock.setTimer(refreshMs, () => void refreshCatalog().finally(scheduleCatalogRefresh));
  }

  /** Aborted before the local API stops, so open Subscribe streams end at once (UNAVAILABLE). */
  const apiStopping = new AbortController();
  const localServer: LocalServer = createLocalServer({
    address: config.listen.local,
    log,
    registry,
    clock,
    services: {
      catalog,
      meshStatus: mesh,
      softwareVersion,
      tokens: createTokensHandlers({ tokens, log }),
      events: createEventsHandlers({ events, log, stopSignal: apiStopping.signal }),
      provisioning: createProvisioningHandlers({ provisioning, log }),
      identityAdmin: createIdentityAdminHandlers({
        identity: staticIdentity,
        log,
        revocationOf: (input) => {
          const pattern = publishedRevocations.get(input);
          return pattern && revocationToProto(pattern);
        },
      }),
    },
  });

  let httpServer: HttpServer | null = null;
  let started = false;

  return {
    config,
    mesh,
    catalog,
    identity,
    revocations,
    events,
    tokens,
    provisioning,
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
        revocations.start();
        undo.push(() => revocations.stop());
        // Before the identity source, whose account events it takes, and before the local API.
        events.start();
        undo.push(() => events.stop());
        await identity.start();
        undo.push(() => identity.stop());
        await refreshCatalog();
        scheduleCatalogRefresh();
        undo.push(() => catalogTimer?.cancel());
        await tokens.start();
        undo.push(() => tokens.stop());
        // After events and the identity source, which it executes requests through.
        provisioning.start();
        undo.push(() => provisioning.stop());
        const local = await localServer.start();
        undo.push(() => {
          apiStopping.abort();
          return localServer.stop();
        });
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
      apiStopping.abort();
      await localServer.stop();
      // Before the identity source, whose calls its executions in progress are waiting on.
      await provisioning.stop();
      tokens.stop();
      catalogTimer?.cancel();
      stopForwardingRevocations();
      stopForwardingAccountEvents();
      await identity.stop();
      events.stop();
      revocations.stop();
      catalog.stop();
      await mesh.stop();
      db.close();
      log.info('node stopped');
    },
  };
}
