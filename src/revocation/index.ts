/**
 * Single sign-out: revocation patterns (Keystone's revocation events) made at this node or by any
 * cloud of the federation, held in memory so that a token check never waits on disk or network.
 *
 * A federated revocation is a record of topic "revocation" (key: the pattern id, payload: an
 * alliance.v1.Revocation, expiring with the pattern), so the mesh stores it durably, spreads it and
 * drops it after expiry; every node accepts from a cloud only patterns for that cloud's own tokens.
 * A local-only denial applies to every cloud's tokens but only here: it lives in a SQLite table of
 * its own and never enters the mesh. Both kinds meet in one in-memory index (revocation-index.ts);
 * `onApplied` tells the token caches about every pattern added, so they are invalidated by the
 * revocation, not by time (DESIGN.md §6).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { limits } from '../config/limits.js';
import type { RevocationInput } from '../identity/types.js';
import type { Clock, Timer } from '../lib/clock.js';
import { AllianceError } from '../lib/errors.js';
import type { Mesh, MeshRecord, Topic } from '../mesh/index.js';
import type { SqliteDatabase } from '../store/database.js';
import { decodePublishedRevocation, encodeRevocation } from './codec.js';
import { createLocalDenialStore } from './local-denial-store.js';
import type { RevocationPattern, TokenFacts } from './model.js';
import { isKeystoneSource, keystoneRevocationId, patternFromInput, validateNewPattern } from './pattern.js';
import { RevocationIndex } from './revocation-index.js';

export type { RevocationPattern, TokenFacts } from './model.js';
export { InvalidRevocationError } from './errors.js';
export type { InvalidRevocationReason } from './errors.js';
export { matchesToken, hasTarget, targetFields } from './match.js';
export type { TargetField } from './match.js';
export {
  endOfSecondMs,
  isKeystoneSource,
  keystoneRevocationId,
  patternFromInput,
  validateNewPattern,
  validatePattern,
} from './pattern.js';
export type { PatternContext } from './pattern.js';
export {
  cloudOfNode,
  decodePublishedRevocation,
  decodeRevocation,
  encodeRevocation,
  revocationFromProto,
  revocationToProto,
} from './codec.js';
export { RevocationIndex } from './revocation-index.js';
export { revocationMigrations } from './local-denial-store.js';

export const revocationTopic = 'revocation';

/** How often expired patterns leave memory and the local table, unless options say otherwise. */
export const defaultPurgeIntervalMs = 60_000;

export interface RevocationsOptions {
  cloud: string;
  /** `<cloud>/<node>`. */
  nodeId: string;
  /**
   * How long past its issued_before a pattern is kept (config tokens.revocationRetentionMs): the
   * longest token lifetime in the federation, plus a margin as Keystone's expiration_buffer.
   */
  retentionMs: number;
  /** Default: defaultPurgeIntervalMs. */
  purgeIntervalMs?: number;
  /** Default: limits.revocationsPerCloudMax; tests pass a smaller one. */
  revocationsPerCloudMax?: number;
}

export interface RevocationsDeps {
  mesh: Pick<Mesh, 'registerTopic'>;
  /** Holds the local-only denials; the node's one database. */
  db: SqliteDatabase;
  clock: Clock;
  log: Logger;
  /** Ids of patterns not from Keystone; injected so tests can name them. Default: crypto.randomUUID. */
  randomId?: () => string;
}

export interface RevokeOptions {
  /** Deny at this node only, tokens of every cloud, without publishing to the federation. */
  localOnly: boolean;
}

export interface RevocationFilter {
  /** Only patterns of this cloud; absent or empty: every cloud. */
  originCloud?: string;
}

export interface Revocations {
  /** Loads the local denials and the federated records held, and starts the purge timer. */
  start(): void;
  stop(): void;
  /**
   * Makes a revocation of this cloud's tokens (federated) or a local-only denial; durable when it
   * returns. The same Keystone event reported again returns the pattern made the first time.
   * Throws InvalidRevocationError for a bad input, AllianceError('RESOURCE_EXHAUSTED') beyond
   * limits.revocationsPerCloudMax.
   */
  revoke(input: RevocationInput, options: RevokeOptions): RevocationPattern;
  /** A live pattern that matches the token, or null. From memory only: the validation hot path. */
  isRevoked(facts: TokenFacts): RevocationPattern | null;
  /** Live patterns, oldest revocation first. */
  list(filter?: RevocationFilter): RevocationPattern[];
  /** Called for every pattern added, made here or received, local-only or federated. */
  onApplied(listener: (pattern: RevocationPattern) => void): () => void;
  /** Patterns held in memory, expired ones included until the next purge. */
  size(): number;
}

export function createRevocations(deps: RevocationsDeps, options: RevocationsOptions): Revocations {
  const log = deps.log.child({ component: 'revocation' });
  const { clock } = deps;
  const randomId = deps.randomId ?? randomUUID;
  const purgeIntervalMs = options.purgeIntervalMs ?? defaultPurgeIntervalMs;
  const perCloudMax = options.revocationsPerCloudMax ?? limits.revocationsPerCloudMax;
  assert(options.retentionMs > 0, 'retentionMs must be positive');
  assert(purgeIntervalMs > 0, 'purgeIntervalMs must be positive');

  const index = new RevocationIndex();
  const localDenials = createLocalDenialStore(deps.db);
  const listeners = new Set<(pattern: RevocationPattern) => void>();
  /** The pattern being published by revoke(), so its own record keeps its source. */
  let publishing: RevocationPattern | null = null;
  let unsubscribe: (() => void) | null = null;
  let purgeTimer: Timer | null = null;
  let running = false;

  /**
   * Patterns validated but not applied yet, per cloud. The mesh validates a whole received batch
   * before it applies any of it, all in one synchronous turn, so room is reserved here for each
   * and released once the turn is over (by then the batch is applied, or refused).
   */
  const reserved = new Map<string, Set<string>>();
  let releaseScheduled = false;

  const topic: Topic = deps.mesh.registerTopic({
    name: revocationTopic,
    validate(record) {
      const pattern = decodePublishedRevocation(record);
      checkRoomFor(pattern);
      reserve(pattern);
    },
  });

  function reserve(pattern: RevocationPattern): void {
    let ids = reserved.get(pattern.originCloud);
    if (!ids) reserved.set(pattern.originCloud, (ids = new Set()));
    ids.add(pattern.id);
    if (releaseScheduled) return;
    releaseScheduled = true;
    queueMicrotask(() => {
      reserved.clear();
      releaseScheduled = false;
    });
  }

  function checkRoomFor(pattern: RevocationPattern): void {
    const { originCloud, id } = pattern;
    if (index.has(originCloud, id)) return;
    const reservedIds = reserved.get(originCloud);
    if (reservedIds?.has(id)) return;
    if (index.countFor(originCloud) + (reservedIds?.size ?? 0) >= perCloudMax) {
      throw new AllianceError(
        'RESOURCE_EXHAUSTED',
        `${originCloud} already has ${perCloudMax} revocations held (limits.revocationsPerCloudMax)`,
      );
    }
  }

  /** Adds a pattern to the index and tells the listeners; false when held already, expired or refused. */
  function admit(pattern: RevocationPattern): boolean {
    if (pattern.expiresAtMs <= clock.nowMs() || index.has(pattern.originCloud, pattern.id)) return false;
    if (
      index.countFor(pattern.originCloud) >= perCloudMax &&
      !reserved.get(pattern.originCloud)?.has(pattern.id)
    ) {
      // validate() reserved room for every received record, and revoke() checks first, so only
      // records stored before a restart with a smaller limit get here. They stay stored, and are
      // indexed at a later start if there is room then.
      log.error({ id: pattern.id, originCloud: pattern.originCloud }, 'revocation refused: no room');
      return false;
    }
    index.add(pattern);
    for (const listener of listeners) {
      try {
        listener(pattern);
      } catch (err) {
        log.error({ err, id: pattern.id }, 'revocation listener failed');
      }
    }
    return true;
  }

  function onRecord(record: MeshRecord): void {
    if (record.deleted) {
      // Nothing publishes these; a revocation ends only by expiring. Keeping the pattern fails closed.
      log.warn({ origin: record.origin, key: record.key }, 'revocation tombstone ignored');
      return;
    }
    let pattern: RevocationPattern;
    if (publishing && record.origin === options.nodeId && record.key === publishing.id) {
      pattern = publishing;
    } else {
      try {
        pattern = decodePublishedRevocation(record);
      } catch (err) {
        // The mesh validated it on arrival; this is a stored copy gone bad, or one from before
        // the topic was registered.
        log.error({ err, origin: record.origin, key: record.key }, 'revocation record does not decode');
        return;
      }
    }
    admit(pattern);
  }

  function purge(): void {
    const nowMs = clock.nowMs();
    const expired = index.removeExpired(nowMs);
    const rows = localDenials.purge(nowMs);
    if (expired.length > 0 || rows > 0) {
      log.info({ patterns: expired.length, localRows: rows }, 'expired revocations purged');
    }
    purgeTimer = clock.setTimer(purgeIntervalMs, purge);
  }

  return {
    start() {
      assert(!running, 'revocations already started');
      running = true;
      // Listen first, then load: a record applied in between is seen twice, and admitted once.
      unsubscribe = topic.onChange(onRecord);
      const nowMs = clock.nowMs();
      for (const pattern of localDenials.listLive(nowMs)) admit(pattern);
      for (const record of topic.list()) onRecord(record);
      purgeTimer = clock.setTimer(purgeIntervalMs, purge);
      log.info({ patterns: index.size }, 'revocations loaded');
    },

    stop() {
      running = false;
      unsubscribe?.();
      unsubscribe = null;
      purgeTimer?.cancel();
      purgeTimer = null;
    },

    revoke(input, revokeOptions) {
      // Before start() the index does not hold what is stored, and a Keystone event seen again
      // would be made twice.
      assert(running, 'revoke() before start()');
      const nowMs = clock.nowMs();
      const context = {
        originCloud: options.cloud,
        localOnly: revokeOptions.localOnly,
        nowMs,
        retentionMs: options.retentionMs,
      };
      const draft = patternFromInput(input, { ...context, id: '' });
      const pattern: RevocationPattern = {
        ...draft,
        id: isKeystoneSource(input.source) ? keystoneRevocationId(draft) : randomId(),
      };
      validateNewPattern(pattern, nowMs);
      const held = index.get(pattern.originCloud, pattern.id);
      if (held) return held;
      if (pattern.expiresAtMs <= nowMs) {
        // Every token it could match has expired already (an old Keystone event polled again).
        log.debug({ id: pattern.id }, 'revocation expired already: nothing to hold');
        return pattern;
      }
      checkRoomFor(pattern);
      if (pattern.localOnly) {
        localDenials.insert(pattern);
      } else {
        publishing = pattern;
        try {
          topic.publish(pattern.id, encodeRevocation(pattern), { expiresAtMs: pattern.expiresAtMs });
        } finally {
          publishing = null;
        }
      }
      admit(pattern);
      log.info(
        { id: pattern.id, localOnly: pattern.localOnly, source: pattern.source, reason: pattern.reason },
        'revocation made',
      );
      return pattern;
    },

    isRevoked: (facts) => index.firstMatch(facts, clock.nowMs()),

    list(filter = {}) {
      const nowMs = clock.nowMs();
      return [...index.values()]
        .filter((p) => p.expiresAtMs > nowMs && (!filter.originCloud || p.originCloud === filter.originCloud))
        .sort((a, b) => a.revokedAtMs - b.revokedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    onApplied(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    size: () => index.size,
  };
}
