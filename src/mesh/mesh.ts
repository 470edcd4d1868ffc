/**
 * The mesh replicates origin-signed records between nodes (DESIGN.md §4).
 *
 * Every record is keyed (origin, topic, key) and carries a per-origin version that only
 * its origin increments. Each node tracks, per origin, the highest version it holds with
 * no gap before it (its "contiguous" version): holding an origin gap-free through V means
 * holding, for every key of that origin, its newest version that is <= V.
 *
 * - Fast path: a new record is pushed at once to connected peers (bounded fan-out), and
 *   each receiver forwards what was new to it. A pushed record with version V advances
 *   the receiver's contiguous version when it already held V-1; one that arrives early
 *   (relayed around a slower path) is stored and remembered until the gap closes.
 * - Repair path: on every (re)connect and every anti-entropy interval, each side sends a
 *   digest (origin -> contiguous version); the other answers with every record it holds
 *   above it, plus "coverage" saying which version ranges the answer is complete for
 *   (scuttlebutt reconciliation). Gaps left by superseded versions close here.
 * - Trust: a member record carries the node's certificate and record-signing key and is
 *   signed with the certificate key; the certificate must chain to the federation CA and
 *   name the record's origin. Every other record must verify with its origin's record
 *   key. A peer can relay, but never forge or alter, another node's records.
 *
 * The mesh knows nothing of payloads: capabilities register topics.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type {
  Coverage,
  Digest,
  Frame,
  Hello,
  RecordBatch,
  SignedRecord,
} from '../gen/alliance/peer/v1/mesh.js';
import { MemberPayload } from '../gen/alliance/peer/v1/mesh.js';
import { PeerInfo_State } from '../gen/alliance/v1/admin.js';
import type { OriginStatus, PeerInfo } from '../gen/alliance/v1/admin.js';
import type { Clock } from '../lib/clock.js';
import { cloudOfNode } from '../lib/node-id.js';
import { AllianceError, errorMessage } from '../lib/errors.js';
import { limits } from '../config/limits.js';
import type { MeshStatus, MeshStatusView } from './status-view.js';
import { backoffDelayMs } from './backoff.js';
import { batchPathOf, batchRootMessage, buildBatchTree, rootOfPath } from './batch-signature.js';
import type { BatchPath } from './batch-signature.js';
import {
  RecordRejected,
  assertRecordWithinLimits,
  decodeSignedRecord,
  encodeRecordBody,
  toSignedRecord,
} from './record-codec.js';
import type { RecordStore } from './record-store.js';
import { peerMethodNames } from './peer-methods.js';
import { PeerSession } from './session.js';
import type {
  Connection,
  MeshCrypto,
  MeshRecord,
  NodeId,
  PeerCallDispatcher,
  PeerCallHandler,
  PeerCallOptions,
  PeerMethod,
  PeerMethods,
  PublishOptions,
  RejectionReason,
  StoredRecord,
  Topic,
  TopicOptions,
  Transport,
} from './types.js';

export const memberTopic = 'member';
const protocolVersion = 1;
const purgeIntervalMs = 60_000;
/** How many anti-entropy intervals pass between two link rotations (see rotateLink). */
const rotationEveryIntervals = 5;
const rotatingReason = 'rotating links';

export interface MeshOptions {
  nodeId: NodeId;
  cloud: string;
  node: string;
  federation: string;
  /** Address other nodes dial to reach this node (published in its member record). */
  advertiseAddress: string;
  /** Peer addresses to dial at start. */
  seeds: string[];
  antiEntropyIntervalMs: number;
  reconnectBackoffMinMs: number;
  reconnectBackoffMaxMs: number;
  peersMax: number;
  eagerFanoutMax: number;
  /** False turns the fast path off, leaving only anti-entropy (simulations compare both). */
  eagerPush?: boolean;
}

export interface MeshDeps {
  store: RecordStore;
  transport: Transport;
  crypto: MeshCrypto;
  clock: Clock;
  log: Logger;
  /** Uniform in [0, 1); injected so simulations are repeatable. */
  random?: () => number;
}

export interface MemberInfo {
  nodeId: NodeId;
  cloud: string;
  address: string;
  recordPublicKey: Uint8Array;
  startedAtMs: number;
}

export type MeshEvent =
  | { kind: 'peer-connected'; peerId: NodeId }
  | { kind: 'peer-disconnected'; peerId: NodeId; reason: string }
  | { kind: 'connection-refused'; reason: string }
  | { kind: 'record-rejected'; reason: RejectionReason; detail: string };

export interface Mesh extends MeshStatusView {
  readonly nodeId: NodeId;
  registerTopic(options: TopicOptions): Topic;
  start(): Promise<void>;
  stop(): Promise<void>;
  members(): MemberInfo[];
  /** Node ids with an established session. */
  connectedPeers(): NodeId[];
  /** The contiguous version held for each origin. */
  versions(): Map<NodeId, number>;
  onEvent(listener: (event: MeshEvent) => void): () => void;
  /** Runs one anti-entropy round with every connected peer now. */
  antiEntropyNow(): void;
  /** Answers peer calls of `method` with `handler` (one handler per method). */
  handlePeerCall<M extends PeerMethod>(method: M, handler: PeerCallHandler<M>): void;
  /**
   * Asks a node of `cloud` (connected ones first, then any member of it) within the
   * deadline. Rejects with UNAVAILABLE when no node of that cloud could be asked.
   */
  callCloud<M extends PeerMethod>(
    cloud: string,
    method: M,
    request: PeerMethods[M]['request'],
    options: PeerCallOptions,
  ): Promise<PeerMethods[M]['response']>;
}

interface DialTarget {
  address: string;
  nodeId: NodeId | null;
  failedDials: number;
  lastError: string;
  session: PeerSession | null;
  retryTimer: { cancel(): void } | null;
}

interface PeerRecordOfContact {
  nodeId: NodeId;
  lastContactMs: number;
  lastError: string;
}

export function createMesh(options: MeshOptions, deps: MeshDeps): Mesh {
  const { store, transport, crypto, clock } = deps;
  const log = deps.log.child({ component: 'mesh' });
  const random = deps.random ?? (() => randomInt(0, 2 ** 32) / 2 ** 32);
  const eagerPush = options.eagerPush ?? true;
  const selfId = options.nodeId;

  const topics = new Map<string, TopicOptions & { listeners: Set<(record: MeshRecord) => void> }>();
  const contiguous = store.loadOriginVersions();
  /** Batch roots (with key and signature) whose signature checked out: see verifyRecordSignature. */
  const verifiedBatchRoots = new Set<string>();
  let lastVerifiedRoot: {
    publicKey: Uint8Array;
    root: Buffer;
    signature: Uint8Array;
    path: BatchPath;
  } | null = null;
  /** This node's counter when it started: unsigned claims about it are judged against it. */
  let ownVersionAtStart = contiguous.get(selfId) ?? 0;
  /** Versions held above the contiguous one, per origin, waiting for the gap to close. */
  const early = new Map<NodeId, Set<number>>();
  // Records held above the gap-free version survive a restart in the store: remember them.
  for (const [origin, version] of contiguous) {
    const above = store.versionsAbove(origin, version);
    if (above.length > 0) early.set(origin, new Set(above));
  }
  const members = new Map<NodeId, MemberInfo>();
  const sessions = new Set<PeerSession>();
  const established = new Map<NodeId, PeerSession>();
  const targets = new Map<string, DialTarget>();
  const contacts = new Map<NodeId, PeerRecordOfContact>();
  const rejections = new Map<string, number>();
  const eventListeners = new Set<(event: MeshEvent) => void>();
  const pushQueues = new Map<PeerSession, SignedRecord[]>();
  let pushFlushScheduled = false;
  let purgeTimer: { cancel(): void } | null = null;
  let rotationTimer: { cancel(): void } | null = null;
  let running = false;
  let startedAtMs = 0;
  const peerHandlers = new Map<PeerMethod, PeerCallHandler<PeerMethod>>();

  const dispatchPeerCall: PeerCallDispatcher = async (method, request, caller) => {
    const handler = peerHandlers.get(method) as PeerCallHandler<typeof method> | undefined;
    if (!handler)
      throw new AllianceError('UNIMPLEMENTED', `${peerMethodNames[method]} is not served by this node`);
    return handler(request, caller);
  };

  function emit(event: MeshEvent): void {
    for (const listener of eventListeners) listener(event);
  }

  function countRejection(reason: RejectionReason, detail: string, from: PeerSession | null): void {
    rejections.set(reason, (rejections.get(reason) ?? 0) + 1);
    log.warn({ reason, detail, peer: from?.peerId }, 'record rejected');
    emit({ kind: 'record-rejected', reason, detail });
  }

  // ---- local records ---------------------------------------------------------------

  function ownVersion(): number {
    return contiguous.get(selfId) ?? 0;
  }

  /** Signs and stores a new version of (topic, key); durable when it returns. */
  function writeOwn(
    topic: string,
    key: string,
    payload: Uint8Array,
    deleted: boolean,
    expiresAtMs: number,
  ): StoredRecord {
    const [stored] = writeOwnMany(topic, [{ key, payload, deleted, expiresAtMs }]);
    return stored!;
  }

  /**
   * Signs and stores new versions of several keys of `topic`, in order, in one transaction; two
   * or more share one signature over their batch root. Durable when it returns.
   */
  function writeOwnMany(
    topic: string,
    entries: readonly { key: string; payload: Uint8Array; deleted: boolean; expiresAtMs: number }[],
  ): StoredRecord[] {
    if (entries.length === 0) return [];
    if (entries.length > limits.recordsPerSignatureMax) {
      throw new AllianceError(
        'INVALID_ARGUMENT',
        `at most ${limits.recordsPerSignatureMax} records may be published at once (limits.recordsPerSignatureMax)`,
      );
    }
    const createdAtMs = clock.nowMs();
    const records = entries.map((entry, i): MeshRecord => ({
      origin: selfId,
      topic,
      key: entry.key,
      version: ownVersion() + 1 + i,
      deleted: entry.deleted,
      expiresAtMs: entry.expiresAtMs,
      createdAtMs,
      payload: entry.payload,
    }));
    for (const record of records) assertRecordWithinLimits(record);
    const bodies = records.map(encodeRecordBody);
    let stored: StoredRecord[];
    if (topic === memberTopic) {
      assert(records.length === 1, 'member records are published one at a time');
      stored = [{ ...records[0]!, body: bodies[0]!, signature: crypto.signWithCertificate(bodies[0]!) }];
    } else if (records.length === 1) {
      stored = [{ ...records[0]!, body: bodies[0]!, signature: crypto.signRecord(bodies[0]!) }];
    } else {
      const tree = buildBatchTree(bodies);
      const signature = crypto.signRecord(batchRootMessage(tree.root));
      stored = records.map((record, i) => ({
        ...record,
        body: bodies[i]!,
        signature,
        batchProof: tree.proofs[i]!,
      }));
    }
    const last = stored[stored.length - 1]!.version;
    store.transaction(() => {
      for (const record of stored) store.put(record);
      store.setOriginVersion(selfId, last);
    });
    contiguous.set(selfId, last);
    afterApplied(stored, null);
    return stored;
  }

  /**
   * Checks a non-member record's signature with its origin's record key: over its body, or, with
   * a batch proof, over the root the proof links the body to (each root checked once).
   */
  function verifyRecordSignature(publicKey: Uint8Array, record: StoredRecord): boolean {
    const proof = record.batchProof;
    if (!proof || proof.length === 0) return crypto.verifyRecord(publicKey, record.body, record.signature);
    const last = lastVerifiedRoot;
    const path = batchPathOf(record.body, proof, last?.path);
    if (!path) return false;
    const root = rootOfPath(path);
    // The records of a batch arrive one after another: compare with the last root checked before
    // building a cache key.
    if (
      last &&
      last.root.equals(root) &&
      Buffer.compare(last.signature, record.signature) === 0 &&
      Buffer.compare(last.publicKey, publicKey) === 0
    ) {
      return true;
    }
    const cacheKey = `${Buffer.from(publicKey).toString('base64')}:${root.toString('base64')}:${Buffer.from(record.signature).toString('base64')}`;
    if (!verifiedBatchRoots.has(cacheKey)) {
      if (!crypto.verifyRecord(publicKey, batchRootMessage(root), record.signature)) return false;
      if (verifiedBatchRoots.size >= limits.verifiedBatchRootsMax) {
        // Sets iterate in insertion order: forget the oldest.
        const oldest = verifiedBatchRoots.values().next();
        if (!oldest.done) verifiedBatchRoots.delete(oldest.value);
      }
      verifiedBatchRoots.add(cacheKey);
    }
    lastVerifiedRoot = { publicKey, root, signature: record.signature, path };
    return true;
  }

  // ---- receiving records -------------------------------------------------------------

  function verify(record: StoredRecord, pendingMembers: Map<NodeId, MemberInfo>): MemberInfo | null {
    const isNewOrigin =
      !contiguous.has(record.origin) && !members.has(record.origin) && !pendingMembers.has(record.origin);
    if (isNewOrigin && contiguous.size >= limits.originsMax) {
      throw new RecordRejected(
        'too-many-origins',
        `already tracking ${limits.originsMax} origins (limits.originsMax)`,
      );
    }
    if (record.topic === memberTopic) {
      let payload: MemberPayload;
      try {
        payload = MemberPayload.decode(record.payload);
      } catch (err) {
        throw new RecordRejected('malformed', `member payload does not decode: ${errorMessage(err)}`);
      }
      let certifiedId: NodeId;
      try {
        certifiedId = crypto.verifyCertificate(payload.certificateDer, clock.nowMs());
      } catch (err) {
        throw new RecordRejected('bad-certificate', errorMessage(err));
      }
      if (certifiedId !== record.origin || payload.nodeId !== record.origin) {
        throw new RecordRejected(
          'bad-certificate',
          `certificate names ${certifiedId}, record claims ${record.origin}`,
        );
      }
      if (!crypto.verifyWithCertificate(payload.certificateDer, record.body, record.signature)) {
        throw new RecordRejected('bad-signature', `member record of ${record.origin} does not verify`);
      }
      return memberFromPayload(payload, record.origin);
    }
    const member = pendingMembers.get(record.origin) ?? members.get(record.origin);
    if (!member) throw new RecordRejected('unknown-origin', `no member record for ${record.origin}`);
    if (!verifyRecordSignature(member.recordPublicKey, record)) {
      throw new RecordRejected(
        'bad-signature',
        `record ${record.topic}/${record.key} of ${record.origin} does not verify`,
      );
    }
    const topic = topics.get(record.topic);
    if (topic?.validate && !record.deleted) {
      try {
        topic.validate(record);
      } catch (err) {
        throw new RecordRejected('invalid-payload', `${record.topic}/${record.key}: ${errorMessage(err)}`);
      }
    }
    return null;
  }

  /**
   * Applies a batch received from `from`. Returns nothing; effects: stores what is new,
   * advances contiguous versions, notifies topics, forwards what was new.
   */
  function receiveBatch(batch: RecordBatch, from: PeerSession): void {
    const decoded: StoredRecord[] = [];
    const blocked = new Set<NodeId>();
    for (const signed of batch.records) {
      try {
        decoded.push(decodeSignedRecord(signed));
      } catch (err) {
        const reason = err instanceof RecordRejected ? err.reason : 'malformed';
        countRejection(reason, errorMessage(err), from);
        // The origin is unknown, so no coverage in this batch can be trusted.
        for (const entry of batch.coverage) blocked.add(entry.origin);
      }
    }
    // Member records first: they carry the keys the other records verify with.
    decoded.sort((a, b) => Number(b.topic === memberTopic) - Number(a.topic === memberTopic));

    const pendingMembers = new Map<NodeId, MemberInfo>();
    const fresh: StoredRecord[] = [];
    const ownRecovered: StoredRecord[] = [];
    const nowMs = clock.nowMs();
    for (const record of decoded) {
      from.notePeerHas(record.origin, record.version);
      if (record.origin === selfId) {
        const genuine =
          record.topic === memberTopic
            ? crypto.verifyWithCertificate(crypto.certificateDer, record.body, record.signature)
            : verifyRecordSignature(crypto.recordPublicKey, record);
        if (!genuine) {
          countRejection('forged-own-origin', `record ${record.topic}/${record.key} claims this node`, from);
          blocked.add(selfId);
          continue;
        }
        // Our own records come back through relays; we are their only author. A copy
        // newer than our counter means this node lost its database: take back what it
        // no longer holds, and skip past it.
        const held = store.get(record.origin, record.topic, record.key);
        if (!held || held.version < record.version) ownRecovered.push(record);
        if (record.version > ownVersion()) noteOwnVersionSeen(record.version, true);
        continue;
      }
      if (isKnown(record)) continue;
      try {
        const member = verify(record, pendingMembers);
        if (member) pendingMembers.set(member.nodeId, member);
      } catch (err) {
        const reason = err instanceof RecordRejected ? err.reason : 'malformed';
        countRejection(reason, errorMessage(err), from);
        blocked.add(record.origin);
        continue;
      }
      fresh.push(record);
    }

    // Coverage is unsigned: it may close gaps, but never reach past a version its origin signed.
    const signedMax = new Map<NodeId, number>();
    for (const record of fresh)
      signedMax.set(record.origin, Math.max(signedMax.get(record.origin) ?? 0, record.version));
    const applied: StoredRecord[] = [];
    store.transaction(() => {
      for (const record of ownRecovered) if (store.put(record)) applied.push(record);
      for (const record of fresh) {
        const expired = record.expiresAtMs !== 0 && record.expiresAtMs <= nowMs;
        if (expired) store.deleteOlder(record.origin, record.topic, record.key, record.version);
        else if (store.put(record)) applied.push(record);
        noteVersionHeld(record.origin, record.version);
      }
      for (const entry of batch.coverage) applyCoverage(entry, blocked, signedMax);
      persistContiguous(fresh, batch.coverage);
    });
    for (const member of pendingMembers.values()) {
      if (applied.some((r) => r.topic === memberTopic && r.origin === member.nodeId)) learnMember(member);
    }
    afterApplied(applied, from);
  }

  function isKnown(record: StoredRecord): boolean {
    if (record.version <= (contiguous.get(record.origin) ?? 0)) return true;
    const earlyVersions = early.get(record.origin);
    // Every version held above the contiguous one is in `early`: with none, nothing held of this
    // origin is as new as this record, and the database need not be asked (the common case of a
    // burst arriving in order, where this look-up was a read per record).
    if (!earlyVersions || earlyVersions.size === 0) return false;
    if (earlyVersions.has(record.version)) return true;
    const held = store.get(record.origin, record.topic, record.key);
    return held !== undefined && held.version >= record.version;
  }

  /** Records that version `version` of `origin` is held, and advances past closed gaps. */
  function noteVersionHeld(origin: NodeId, version: number): void {
    const current = contiguous.get(origin) ?? 0;
    if (version <= current) return;
    if (version === current + 1) {
      contiguous.set(origin, version);
      closeGaps(origin);
    } else {
      let pending = early.get(origin);
      if (!pending) early.set(origin, (pending = new Set()));
      pending.add(version);
    }
  }

  function closeGaps(origin: NodeId): void {
    const pending = early.get(origin);
    if (!pending) return;
    let current = contiguous.get(origin) ?? 0;
    while (pending.delete(current + 1)) current++;
    for (const version of pending) if (version <= current) pending.delete(version);
    contiguous.set(origin, current);
    if (pending.size === 0) early.delete(origin);
  }

  function applyCoverage(entry: Coverage, blocked: Set<NodeId>, signedMax: Map<NodeId, number>): void {
    if (entry.origin === selfId || blocked.has(entry.origin)) return;
    const after = Number(entry.afterVersion);
    const provable = Math.max(signedMax.get(entry.origin) ?? 0, store.maxVersion(entry.origin));
    const through = Math.min(Number(entry.throughVersion), provable);
    const current = contiguous.get(entry.origin) ?? 0;
    if (current >= after && through > current) {
      contiguous.set(entry.origin, through);
      closeGaps(entry.origin);
    }
  }

  function persistContiguous(records: StoredRecord[], coverage: Coverage[]): void {
    const origins = new Set<NodeId>([...records.map((r) => r.origin), ...coverage.map((c) => c.origin)]);
    origins.delete(selfId);
    for (const origin of origins) {
      const version = contiguous.get(origin);
      if (version !== undefined) store.setOriginVersion(origin, version);
    }
  }

  function noteOwnVersionSeen(version: number, signed = false): void {
    // An unsigned claim (a digest) is trusted only within a sane distance of the counter
    // this node started with, so no peer can push it to the end of its range, even by repeating.
    if (!signed && version - ownVersionAtStart > ownVersionJumpMax) {
      log.error(
        { seen: version, held: ownVersion() },
        'peer claims an implausible version of this node; ignored',
      );
      return;
    }
    log.warn(
      { seen: version, held: ownVersion() },
      'peers hold newer records of this node: database was reset',
    );
    store.setOriginVersion(selfId, version);
    contiguous.set(selfId, version);
    resignOwnRecords();
  }

  /**
   * Re-signs, under new versions, everything this node still holds of its own, tombstones
   * included: after a database reset (so peers, who hold higher versions, take it) and
   * after a record-key change (so what peers relay verifies with the key they know now).
   */
  function resignOwnRecords(): void {
    const nowMs = clock.nowMs();
    const mine = store
      .recordsAbove(selfId, 0, Number.MAX_SAFE_INTEGER)
      .filter((r) => r.expiresAtMs === 0 || r.expiresAtMs > nowMs);
    for (const record of mine)
      writeOwn(record.topic, record.key, record.payload, record.deleted, record.expiresAtMs);
  }

  function afterApplied(records: StoredRecord[], from: PeerSession | null): void {
    if (records.length === 0) return;
    for (const record of records) {
      const topic = topics.get(record.topic);
      if (!topic) continue;
      for (const listener of topic.listeners) {
        try {
          listener(record);
        } catch (err) {
          log.error({ err, topic: record.topic }, 'topic listener failed');
        }
      }
    }
    if (eagerPush) queuePush(records, from);
  }

  // ---- eager push ------------------------------------------------------------------

  function queuePush(records: StoredRecord[], from: PeerSession | null): void {
    const candidates = [...established.values()].filter((s) => s !== from);
    // Bounded fan-out: a random subset when there are more peers than the bound.
    const targets =
      candidates.length > options.eagerFanoutMax ? sample(candidates, options.eagerFanoutMax) : candidates;
    for (const session of targets) {
      const wanted = records.filter(
        (r) => r.origin !== session.peerId && (session.peerKnown.get(r.origin) ?? 0) < r.version,
      );
      if (wanted.length === 0) continue;
      let queue = pushQueues.get(session);
      if (!queue) pushQueues.set(session, (queue = []));
      for (const record of wanted) {
        queue.push(toSignedRecord(record));
        session.notePeerHas(record.origin, record.version);
      }
    }
    if (!pushFlushScheduled && pushQueues.size > 0) {
      pushFlushScheduled = true;
      // Batch everything published in this turn of the event loop into one frame per peer.
      setImmediate(flushPushes);
    }
  }

  function flushPushes(): void {
    pushFlushScheduled = false;
    for (const [session, records] of pushQueues) {
      for (const frame of chunkRecords(records))
        sendFrame(session, { kind: { $case: 'push', value: frame } });
    }
    pushQueues.clear();
  }

  function sample<T>(items: T[], count: number): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, count);
  }

  function chunkRecords(records: SignedRecord[]): RecordBatch[] {
    const batches: RecordBatch[] = [];
    let current: SignedRecord[] = [];
    let bytes = 0;
    for (const record of records) {
      const size = record.body.length + record.signature.length;
      if (
        current.length >= limits.recordsPerFrameMax ||
        (current.length > 0 && bytes + size > frameBytesBudget)
      ) {
        batches.push({ records: current, coverage: [] });
        current = [];
        bytes = 0;
      }
      current.push(record);
      bytes += size;
    }
    if (current.length > 0) batches.push({ records: current, coverage: [] });
    return batches;
  }

  // ---- anti-entropy ----------------------------------------------------------------

  function digest(): Digest {
    return {
      entries: [...contiguous].map(([origin, version]) => ({ origin, version: BigInt(version) })),
    };
  }

  /** Answers a peer's digest with everything we hold above it, in bounded frames. */
  function answerDigest(session: PeerSession, peerDigest: Digest): void {
    const theirs = new Map<NodeId, number>();
    for (const entry of peerDigest.entries) {
      const version = Number(entry.version);
      theirs.set(entry.origin, version);
      session.notePeerHas(entry.origin, version);
      if (entry.origin === selfId && version > ownVersion()) noteOwnVersionSeen(version);
    }
    let records: SignedRecord[] = [];
    let coverage: Coverage[] = [];
    let bytes = 0;
    const flush = (): void => {
      if (records.length === 0 && coverage.length === 0) return;
      sendFrame(session, { kind: { $case: 'delta', value: { records, coverage } } });
      records = [];
      coverage = [];
      bytes = 0;
    };
    for (const [origin, ours] of contiguous) {
      const after = theirs.get(origin) ?? 0;
      if (ours <= after && !early.has(origin)) continue;
      let coveredFrom = after;
      let lastSent = after;
      for (;;) {
        const page = store.recordsAbove(origin, lastSent, limits.recordsPerFrameMax);
        for (const record of page) {
          const size = record.body.byteLength + record.signature.byteLength;
          if (
            records.length >= limits.recordsPerFrameMax ||
            (records.length > 0 && bytes + size > frameBytesBudget)
          ) {
            // Everything of this origin in (coveredFrom, lastSent] is in the frames sent so far.
            const through = Math.min(lastSent, ours);
            if (through > coveredFrom) coverage.push(coverageEntry(origin, coveredFrom, through));
            coveredFrom = Math.max(coveredFrom, through);
            flush();
          }
          records.push(toSignedRecord(record));
          bytes += size;
          lastSent = record.version;
          session.notePeerHas(origin, Math.min(record.version, ours));
        }
        if (page.length < limits.recordsPerFrameMax) break;
      }
      if (ours > coveredFrom) coverage.push(coverageEntry(origin, coveredFrom, ours));
    }
    flush();
  }

  function coverageEntry(origin: NodeId, after: number, through: number): Coverage {
    return { origin, afterVersion: BigInt(after), throughVersion: BigInt(through) };
  }

  function scheduleAntiEntropy(session: PeerSession): void {
    // Jitter spreads the rounds of many peers over the interval.
    const delayMs = options.antiEntropyIntervalMs * (0.75 + random() * 0.5);
    session.antiEntropyTimer = clock.setTimer(delayMs, () => {
      if (session.state !== 'established') return;
      sendFrame(session, { kind: { $case: 'digest', value: digest() } });
      scheduleAntiEntropy(session);
    });
  }

  // ---- sessions --------------------------------------------------------------------

  function sendFrame(session: PeerSession, frame: Frame): void {
    if (session.state === 'closed') return;
    if (!session.connection.send(frame)) {
      // A link already closed reports its own reason through onClose.
      if (session.connection.isClosed()) return;
      closeSession(session, 'peer is not keeping up (send queue full)');
    }
  }

  function openSession(connection: Connection, dialAddress: string | null): PeerSession {
    const session = new PeerSession(connection, dialAddress);
    sessions.add(session);
    connection.onFrame((frame) => {
      try {
        onFrame(session, frame);
      } catch (err) {
        log.error({ err, peer: session.peerId }, 'peer frame handling failed');
        closeSession(session, `internal error: ${errorMessage(err)}`);
      }
    });
    connection.onClose((reason) => onConnectionClosed(session, reason));
    const hello: Hello = {
      nodeId: selfId,
      federation: options.federation,
      protocolVersion,
      advertiseAddress: options.advertiseAddress,
      digest: digest(),
    };
    sendFrame(session, { kind: { $case: 'hello', value: hello } });
    session.helloTimer = clock.setTimer(limits.helloTimeoutMs, () => {
      if (session.state === 'handshaking') closeSession(session, 'no hello in time');
    });
    return session;
  }

  function refuse(session: PeerSession, reason: string): void {
    log.warn({ reason, remote: session.connection.remoteAddress }, 'peer refused');
    emit({ kind: 'connection-refused', reason });
    closeSession(session, reason);
  }

  function onFrame(session: PeerSession, frame: Frame): void {
    if (session.state === 'closed') return;
    session.lastContactMs = clock.nowMs();
    const kind = frame.kind;
    if (session.state === 'handshaking') {
      if (kind?.$case !== 'hello') return refuse(session, 'first frame was not a hello');
      return onHello(session, kind.value);
    }
    if (session.peerId) touchContact(session.peerId, '');
    switch (kind?.$case) {
      case 'push':
        return receiveBatch(kind.value, session);
      case 'delta':
        return receiveBatch(kind.value, session);
      case 'digest':
        return answerDigest(session, kind.value);
      case 'hello':
        return refuse(session, 'second hello on one stream');
      default:
        return refuse(session, 'unknown frame');
    }
  }

  function onHello(session: PeerSession, hello: Hello): void {
    const claimed = hello.nodeId;
    const certified = session.connection.peerIdentity;
    if (certified !== null && claimed !== certified) {
      return refuse(session, `hello claims ${claimed} but the certificate says ${certified}`);
    }
    if (hello.federation !== options.federation) {
      return refuse(session, `peer is in federation ${hello.federation}, not ${options.federation}`);
    }
    if (hello.protocolVersion !== protocolVersion) {
      return refuse(session, `peer speaks protocol ${hello.protocolVersion}, not ${protocolVersion}`);
    }
    if (claimed === selfId) {
      // A seed list that names this node itself; harmless, but never dial it again.
      if (session.dialAddress) forgetTarget(session.dialAddress);
      return closeSession(session, 'connected to self');
    }
    if (!/^[a-z0-9][a-z0-9-]{0,62}\/[a-z0-9][a-z0-9-]{0,62}$/.test(claimed)) {
      return refuse(session, 'hello carries a malformed node id');
    }
    session.helloTimer?.cancel();
    session.peerId = claimed;
    session.advertisedAddress = hello.advertiseAddress;
    const existing = established.get(claimed);
    let replacing = false;
    if (existing) {
      // Both sides dialed at once. Keep the link that the lower node id opened, so both
      // sides pick the same one without talking about it.
      const initiator = (s: PeerSession): NodeId => (s.connection.outbound ? selfId : claimed);
      const keeper = [existing, session].find((s) => initiator(s) === (selfId < claimed ? selfId : claimed));
      const loser = keeper === existing ? session : existing;
      if (loser === existing) established.delete(claimed);
      if (loser.dialAddress) attachTarget(loser.dialAddress, claimed, null);
      closeSession(loser, 'duplicate connection');
      if (loser === session) return;
      replacing = true;
    }
    session.state = 'established';
    session.connectedSinceMs = clock.nowMs();
    established.set(claimed, session);
    if (session.dialAddress) attachTarget(session.dialAddress, claimed, session);
    const target = targetFor(claimed);
    if (target) {
      target.failedDials = 0;
      target.lastError = '';
    }
    touchContact(claimed, '');
    log.info({ peer: claimed, outbound: session.connection.outbound }, 'peer connected');
    // Swapping one link for its twin is no new connection.
    if (!replacing) emit({ kind: 'peer-connected', peerId: claimed });
    if (hello.digest) answerDigest(session, hello.digest);
    scheduleAntiEntropy(session);
  }

  function closeSession(session: PeerSession, reason: string): void {
    if (session.state === 'closed') return;
    session.connection.close(reason);
    onConnectionClosed(session, reason);
  }

  function onConnectionClosed(session: PeerSession, reason: string): void {
    if (session.state === 'closed') return;
    const wasEstablished = session.state === 'established';
    session.state = 'closed';
    session.cancelTimers();
    sessions.delete(session);
    pushQueues.delete(session);
    if (session.peerId && established.get(session.peerId) === session) {
      established.delete(session.peerId);
    }
    if (session.peerId) touchContact(session.peerId, reason === 'duplicate connection' ? '' : reason);
    if (wasEstablished && session.peerId && reason !== 'duplicate connection') {
      log.info({ peer: session.peerId, reason }, 'peer disconnected');
      emit({ kind: 'peer-disconnected', peerId: session.peerId, reason });
    }
    if (!running) return;
    if (session.dialAddress) {
      const target = targets.get(session.dialAddress);
      if (target && target.session === session) target.session = null;
      // A link that lost a simultaneous-dial race is no failure: the peer is connected.
      const connectedElsewhere = session.peerId !== null && established.has(session.peerId);
      const deliberate =
        reason === 'duplicate connection' || reason === 'connected to self' || reason === rotatingReason;
      if (target && !connectedElsewhere && !deliberate) {
        target.failedDials++;
        target.lastError = reason;
        scheduleRedial(target);
        return;
      }
    }
    maintainConnections();
  }

  function touchContact(peerId: NodeId, lastError: string): void {
    const contact = contacts.get(peerId) ?? { nodeId: peerId, lastContactMs: 0, lastError: '' };
    contact.lastContactMs = clock.nowMs();
    if (lastError) contact.lastError = lastError;
    contacts.set(peerId, contact);
  }

  // ---- dialing ---------------------------------------------------------------------

  function targetFor(nodeId: NodeId): DialTarget | undefined {
    for (const target of targets.values()) if (target.nodeId === nodeId) return target;
    return undefined;
  }

  function attachTarget(address: string, nodeId: NodeId, session: PeerSession | null): void {
    const target = targets.get(address);
    if (!target) return;
    target.nodeId = nodeId;
    if (session) target.session = session;
  }

  function forgetTarget(address: string): void {
    targets.get(address)?.retryTimer?.cancel();
    targets.delete(address);
  }

  function addTarget(address: string, nodeId: NodeId | null): void {
    if (!address || address === options.advertiseAddress) return;
    const existing = targets.get(address);
    if (existing) {
      if (nodeId) existing.nodeId = nodeId;
      return;
    }
    if (nodeId) {
      // The member moved to a new address: drop the old target.
      for (const [oldAddress, target] of targets) {
        if (target.nodeId === nodeId && !target.session) forgetTarget(oldAddress);
      }
    }
    targets.set(address, { address, nodeId, failedDials: 0, lastError: '', session: null, retryTimer: null });
  }

  function isBusy(target: DialTarget): boolean {
    if (target.session || target.retryTimer) return true;
    return target.nodeId !== null && established.has(target.nodeId);
  }

  function maintainConnections(): void {
    if (!running) return;
    let slots = options.peersMax - sessions.size;
    if (slots <= 0) return;
    const idle = [...targets.values()].filter((target) => !isBusy(target));
    // Seeds first (they are how a new node gets in), then members in random order: when the
    // peer budget is below the federation size, random links keep the graph's diameter (and
    // so the rounds gossip needs) logarithmic instead of piling every node onto the oldest.
    const seeds = idle.filter((target) => target.nodeId === null);
    const members = sample(
      idle.filter((target) => target.nodeId !== null),
      idle.length,
    );
    for (const target of [...seeds, ...members]) {
      if (slots <= 0) break;
      dial(target);
      slots--;
    }
  }

  function dial(target: DialTarget): void {
    const connection = transport.dial(target.address);
    const session = openSession(connection, target.address);
    // openSession may close the session at once (a dial that failed on the spot).
    if (session.state !== 'closed') target.session = session;
  }

  /**
   * With a peer budget below the federation size, nodes fill their slots with the members
   * they hear of first (their neighbours in join order), and the link graph becomes a
   * lattice whose diameter grows with the federation. Now and then, a node at its budget
   * that knows members it has no link to drops one random link it opened and dials a
   * random stranger instead, so the graph drifts toward a random one, whose diameter (and
   * so the rounds gossip needs) is logarithmic. Small federations (all linked) never rotate.
   */
  function rotateLink(): void {
    if (sessions.size < options.peersMax) return;
    const strangers = [...targets.values()].filter((t) => t.nodeId !== null && !isBusy(t));
    const opened = [...established.values()].filter((s) => s.connection.outbound);
    const [victim] = sample(opened, 1);
    const [stranger] = sample(strangers, 1);
    if (!victim || !stranger) return;
    log.debug({ dropped: victim.peerId, dialing: stranger.nodeId }, 'rotating a peer link');
    // Dial first: closing first would free a slot that maintainConnections refills at once.
    dial(stranger);
    closeSession(victim, rotatingReason);
  }

  function scheduleRotation(): void {
    rotationTimer = clock.setTimer(options.antiEntropyIntervalMs * rotationEveryIntervals, () => {
      rotateLink();
      scheduleRotation();
    });
  }

  function scheduleRedial(target: DialTarget): void {
    if (target.retryTimer) return;
    const delayMs = backoffDelayMs(
      target.failedDials,
      { minMs: options.reconnectBackoffMinMs, maxMs: options.reconnectBackoffMaxMs },
      random,
    );
    target.retryTimer = clock.setTimer(delayMs, () => {
      target.retryTimer = null;
      if (!running || isBusy(target)) return maintainConnections();
      if (sessions.size >= options.peersMax) return;
      dial(target);
    });
  }

  // ---- membership ------------------------------------------------------------------

  function memberFromPayload(payload: MemberPayload, origin: NodeId): MemberInfo {
    return {
      nodeId: origin,
      cloud: payload.cloud,
      address: payload.peerAddress,
      recordPublicKey: payload.recordPublicKey,
      startedAtMs: Number(payload.startedAtMs),
    };
  }

  function learnMember(member: MemberInfo): void {
    members.set(member.nodeId, member);
    if (member.nodeId === selfId) return;
    addTarget(member.address, member.nodeId);
    maintainConnections();
  }

  function loadMembers(): void {
    for (const record of store.listTopic(memberTopic, clock.nowMs())) {
      try {
        members.set(record.origin, memberFromPayload(MemberPayload.decode(record.payload), record.origin));
      } catch (err) {
        log.error({ err, origin: record.origin }, 'stored member record does not decode');
      }
    }
  }

  function publishMember(): void {
    const payload = MemberPayload.encode({
      nodeId: selfId,
      cloud: options.cloud,
      node: options.node,
      federation: options.federation,
      peerAddress: options.advertiseAddress,
      certificateDer: Buffer.from(crypto.certificateDer),
      recordPublicKey: Buffer.from(crypto.recordPublicKey),
      startedAtMs: BigInt(startedAtMs),
    }).finish();
    const stored = writeOwn(memberTopic, selfId, payload, false, 0);
    members.set(selfId, memberFromPayload(MemberPayload.decode(stored.payload), selfId));
  }

  // ---- status ----------------------------------------------------------------------

  function peerInfos(): PeerInfo[] {
    const infos = new Map<string, PeerInfo>();
    const lagOf = (session: PeerSession | undefined): bigint => {
      if (!session) return 0n;
      let lag = 0;
      for (const [origin, version] of contiguous)
        lag += Math.max(0, version - (session.peerKnown.get(origin) ?? 0));
      return BigInt(lag);
    };
    const stateOf = (nodeId: NodeId | null, target: DialTarget | undefined): PeerInfo_State => {
      if (nodeId && established.has(nodeId)) return PeerInfo_State.STATE_CONNECTED;
      if (target?.session) return PeerInfo_State.STATE_CONNECTING;
      if (target?.retryTimer) return PeerInfo_State.STATE_BACKOFF;
      return PeerInfo_State.STATE_IDLE;
    };
    const toDate = (ms: number): Date | undefined => (ms > 0 ? new Date(ms) : undefined);
    for (const member of members.values()) {
      if (member.nodeId === selfId) continue;
      const session = established.get(member.nodeId);
      const target = targetFor(member.nodeId) ?? targets.get(member.address);
      const contact = contacts.get(member.nodeId);
      infos.set(member.nodeId, {
        nodeId: member.nodeId,
        cloud: member.cloud,
        address: member.address,
        state: stateOf(member.nodeId, target),
        lastContact: toDate(session?.lastContactMs ?? contact?.lastContactMs ?? 0),
        connectedSince: toDate(session?.connectedSinceMs ?? 0),
        lag: lagOf(session),
        lastError: session ? '' : target?.lastError || contact?.lastError || '',
        outbound: session?.connection.outbound ?? true,
        failedDials: target?.failedDials ?? 0,
      });
    }
    for (const [peerId, session] of established) {
      if (infos.has(peerId)) continue;
      infos.set(peerId, {
        nodeId: peerId,
        cloud: cloudOfNode(peerId),
        address: session.advertisedAddress,
        state: PeerInfo_State.STATE_CONNECTED,
        lastContact: toDate(session.lastContactMs),
        connectedSince: toDate(session.connectedSinceMs),
        lag: lagOf(session),
        lastError: '',
        outbound: session.connection.outbound,
        failedDials: 0,
      });
    }
    for (const target of targets.values()) {
      if (target.nodeId) continue;
      infos.set(target.address, {
        nodeId: '',
        cloud: '',
        address: target.address,
        state: stateOf(null, target),
        lastContact: undefined,
        connectedSince: undefined,
        lag: 0n,
        lastError: target.lastError,
        outbound: true,
        failedDials: target.failedDials,
      });
    }
    return [...infos.values()].sort((a, b) => (a.nodeId || a.address).localeCompare(b.nodeId || b.address));
  }

  function originStatuses(): OriginStatus[] {
    const stored = store.storedSummary();
    const origins = new Set([...contiguous.keys(), ...stored.keys()]);
    return [...origins].sort().map((origin) => {
      const version = contiguous.get(origin) ?? 0;
      let best = version;
      for (const session of established.values()) best = Math.max(best, session.peerKnown.get(origin) ?? 0);
      return {
        origin,
        version: BigInt(version),
        bestKnownVersion: BigInt(best),
        lag: BigInt(best - version),
        recordCount: BigInt(stored.get(origin)?.count ?? 0),
      };
    });
  }

  // ---- the handle ------------------------------------------------------------------

  const mesh: Mesh = {
    nodeId: selfId,

    registerTopic(topicOptions) {
      if (topicOptions.name === memberTopic || topics.has(topicOptions.name)) {
        throw new Error(`topic ${topicOptions.name} is already registered`);
      }
      const entry = { ...topicOptions, listeners: new Set<(record: MeshRecord) => void>() };
      topics.set(topicOptions.name, entry);
      const name = topicOptions.name;
      return {
        name,
        publish: (key: string, payload: Uint8Array, publishOptions?: PublishOptions) =>
          publicRecord(writeOwn(name, key, payload, false, publishOptions?.expiresAtMs ?? 0)),
        publishMany: (entries) =>
          writeOwnMany(
            name,
            entries.map((entry) => ({
              key: entry.key,
              payload: entry.payload,
              deleted: false,
              expiresAtMs: entry.options?.expiresAtMs ?? 0,
            })),
          ).map(publicRecord),
        remove: (key: string) => publicRecord(writeOwn(name, key, new Uint8Array(), true, 0)),
        get: (origin: NodeId, key: string) => {
          const record = store.get(origin, name, key);
          return record ? publicRecord(record) : undefined;
        },
        list: () => store.listTopic(name, clock.nowMs()).map(publicRecord),
        onChange: (listener: (record: MeshRecord) => void) => {
          entry.listeners.add(listener);
          return () => entry.listeners.delete(listener);
        },
      };
    },

    async start() {
      running = true;
      startedAtMs = clock.nowMs();
      loadMembers();
      if (ownVersion() === 0) {
        // A fresh database. Starting the counter from the clock rather than from 1 puts
        // this incarnation above any version an earlier one (whose data was lost) issued,
        // so peers take its records without having to notice the reset.
        const base = startedAtMs * freshVersionsPerMs;
        store.setOriginVersion(selfId, base);
        contiguous.set(selfId, base);
        ownVersionAtStart = base;
      }
      const previousRecordKey = members.get(selfId)?.recordPublicKey;
      publishMember();
      if (previousRecordKey && !Buffer.from(previousRecordKey).equals(Buffer.from(crypto.recordPublicKey))) {
        log.warn("the record key changed since the last run: re-signing this node's records");
        resignOwnRecords();
      }
      const address = await transport.listen((connection) => {
        // Headroom above peersMax for links still handshaking or about to lose a
        // simultaneous-dial race; beyond it a flood of dials is refused outright.
        if (!running || sessions.size >= options.peersMax * 2) {
          connection.close('too many peers');
          return;
        }
        openSession(connection, null);
      }, dispatchPeerCall);
      log.info({ nodeId: selfId, address }, 'mesh listening');
      for (const seed of options.seeds) addTarget(seed, null);
      for (const member of members.values()) {
        if (member.nodeId !== selfId) addTarget(member.address, member.nodeId);
      }
      maintainConnections();
      const purge = (): void => {
        const purged = store.purge(clock.nowMs(), limits.tombstoneRetentionMs);
        if (purged > 0) log.info({ purged }, 'expired records purged');
        purgeTimer = clock.setTimer(purgeIntervalMs, purge);
      };
      purgeTimer = clock.setTimer(purgeIntervalMs, purge);
      scheduleRotation();
    },

    async stop() {
      running = false;
      purgeTimer?.cancel();
      rotationTimer?.cancel();
      for (const target of targets.values()) target.retryTimer?.cancel();
      for (const session of [...sessions]) closeSession(session, 'node stopping');
      await transport.close();
    },

    members: () => [...members.values()],
    connectedPeers: () => [...established.keys()].sort(),
    versions: () => new Map(contiguous),

    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },

    handlePeerCall(method, handler) {
      if (peerHandlers.has(method)) throw new Error(`a handler for ${method} is already registered`);
      peerHandlers.set(method, handler as unknown as PeerCallHandler<PeerMethod>);
    },

    async callCloud(cloud, method, request, callOptions) {
      const candidates = [...members.values()]
        .filter((m) => m.cloud === cloud && m.nodeId !== selfId)
        .sort((a, b) => Number(established.has(b.nodeId)) - Number(established.has(a.nodeId)));
      if (candidates.length === 0) throw new AllianceError('UNAVAILABLE', `no node of ${cloud} is known`);
      const deadlineMs = Date.now() + callOptions.timeoutMs;
      let lastError: unknown;
      for (const member of candidates) {
        const timeoutMs = deadlineMs - Date.now();
        if (timeoutMs <= 0 || callOptions.signal?.aborted) break;
        try {
          return await transport.call(member.address, member.nodeId, method, request, {
            timeoutMs,
            signal: callOptions.signal,
          });
        } catch (err) {
          // Only "could not ask" moves on to the next node; an answer (even an error) is final.
          const unreachable =
            err instanceof AllianceError && (err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED');
          if (!unreachable) throw err;
          lastError = err;
        }
      }
      throw lastError instanceof AllianceError
        ? lastError
        : new AllianceError('UNAVAILABLE', `no node of ${cloud} answered in time`);
    },

    antiEntropyNow() {
      for (const session of established.values())
        sendFrame(session, { kind: { $case: 'digest', value: digest() } });
    },

    status(): MeshStatus {
      return {
        nodeId: selfId,
        cloud: options.cloud,
        node: options.node,
        federation: options.federation,
        startedAtMs,
        peers: peerInfos(),
        origins: originStatuses(),
        rejections: [...rejections].map(([reason, count]) => ({ reason, count: BigInt(count) })),
      };
    },

    peers: peerInfos,
  };
  return mesh;
}

/**
 * A fresh database starts its counter at (now in ms) x this. A node issuing fewer than
 * 1,000 records per millisecond on average never catches up with a later incarnation's
 * start, and the counter stays below 2^53 until about the year 2255.
 */
const freshVersionsPerMs = 1_000;

/** How far ahead of its own counter a peer may say this node's records are (database reset). */
const ownVersionJumpMax = 2 ** 40;

/** Frames stay well under the peer message limit even with framing overhead. */
const frameBytesBudget = Math.floor(limits.peerMessageBytesMax / 2);

function publicRecord(record: StoredRecord): MeshRecord {
  return {
    origin: record.origin,
    topic: record.topic,
    key: record.key,
    version: record.version,
    deleted: record.deleted,
    expiresAtMs: record.expiresAtMs,
    createdAtMs: record.createdAtMs,
    payload: record.payload,
  };
}
