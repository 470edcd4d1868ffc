/**
 * Every bound Alliance enforces, in one place, each with the reason for its value.
 * Exceeding a limit is a clear error (a gRPC status or a rejected, counted record),
 * never a slowdown. Units are last in names. docs/LIMITS.md explains them to operators.
 */
const limitValues = {
  /** Largest request the local API accepts. Catalog and token calls are small; events carry JSON. */
  localMessageBytesMax: 1024 * 1024,
  /** Largest response the local API sends; a whole federation's catalog fits with room. */
  localResponseBytesMax: 16 * 1024 * 1024,
  /** Largest frame on a peer stream; deltas are chunked below this. */
  peerMessageBytesMax: 8 * 1024 * 1024,
  /** Records per push/delta frame, so one frame never approaches peerMessageBytesMax. */
  recordsPerFrameMax: 512,
  /**
   * Records that may share one signature (published together; src/mesh/batch-signature.ts): the
   * proof each carries grows with log2 of this (10 hashes, 320 bytes, at 1,024), and a receiver
   * needs one signature check per batch instead of one per record.
   */
  recordsPerSignatureMax: 1024,
  /** Batch roots whose signature was checked, remembered so the other records of a batch skip it. */
  verifiedBatchRootsMax: 4096,
  /** Largest payload of one record; a cloud catalog with thousands of endpoints fits. */
  recordPayloadBytesMax: 1024 * 1024,
  /** Topic, key and origin strings: ids, not documents. */
  recordKeyBytesMax: 512,
  /** Peers a node keeps connections to. Beyond this, members are known but not dialed. */
  peersMax: 64,
  /** Peers a new record is pushed to eagerly; anti-entropy repairs the rest. */
  eagerFanoutMax: 16,
  /** Frames queued for one peer before it is treated as too slow and disconnected. */
  peerSendQueueFramesMax: 1024,
  /** Origins a node tracks: every node of every cloud; far above any real federation. */
  originsMax: 10_000,
  /** A hello must arrive this soon after the stream opens. */
  helloTimeoutMs: 10_000,
  /** Tombstones are kept this long so nodes that were down see the deletion. */
  tombstoneRetentionMs: 7 * 24 * 3600 * 1000,
  /** A token: Keystone's JWS tokens are ~400 bytes, Fernet ~200, PKIZ can reach a few KiB. */
  tokenBytesMax: 8 * 1024,
  /** Validated tokens remembered in memory (positive and negative answers); oldest dropped first. */
  validationCacheEntriesMax: 100_000,
  /** (cloud, user, project) grants remembered for fresh Keystone JWS tokens; oldest dropped first. */
  roleCacheEntriesMax: 100_000,
  /**
   * How long a remembered grant is used: removals and disables revoke it at once; this bounds
   * how long a newly added role can go unseen (keystonemiddleware caches for 300 s).
   */
  roleCacheTtlMs: 300_000,
  /** Issuer certificates of federation tokens remembered once verified. */
  issuerCertificatesMax: 10_000,
  /** Filter strings in catalog requests. */
  filterBytesMax: 256,
  /** WatchCatalog streams open at once on one node. */
  watchersMax: 256,
  /**
   * Catalog changes queued for one WatchCatalog stream whose client reads slower than changes
   * arrive. Each change is a whole cloud catalog; a burst touching every cloud of a large
   * federation fits, while a client that stopped reading is ended with RESOURCE_EXHAUSTED
   * instead of making the node buffer without bound.
   */
  watchQueueMessagesMax: 1024,
  /** Health.Watch streams open at once: load balancers and supervisors, a handful per node. */
  healthWatchersMax: 64,
  /** How long stop() lets in-flight local calls finish before cutting them off. */
  localShutdownGraceMs: 5_000,
  /**
   * Each id a revocation names (token fingerprint, audit id, user, project, domain). Keystone's ids
   * are at most 64 characters (its String(64) columns), audit ids 22, fingerprints 64 hex: ample
   * room, while a pattern stays a few hundred bytes however it was made.
   */
  revocationFieldBytesMax: 255,
  /** A revocation's free-text reason: a sentence for operators, not a document. */
  revocationReasonBytesMax: 1024,
  /**
   * How far in the future a new revocation's issued_before may lie. A pattern covers every token
   * issued up to that instant, so a far-future one would also deny tokens not issued yet; beyond
   * ordinary clock skew between Keystone and this node (5 minutes, as Kerberos allows) it is a
   * mistake and is refused.
   */
  revocationClockSkewMs: 5 * 60 * 1000,
  /**
   * Revocation patterns held for one cloud (its federated ones, plus this node's local denials
   * under its own cloud). Keystone emits one event per logout, user change or project deletion and
   * keeps each for a token lifetime plus 30 minutes, so even a busy cloud (several logouts a
   * second) stays in the tens of thousands. The bound is per cloud so that one cloud flooding the
   * federation uses up only its own allowance; at a few hundred bytes a pattern, it caps one
   * cloud's share of memory near 100 MB. A revocation beyond it is refused (RESOURCE_EXHAUSTED
   * locally, a rejected and counted record from a peer), never silently dropped.
   */
  revocationsPerCloudMax: 250_000,
  /**
   * The JSON data of one event (its encoded google.protobuf.Struct). Keystone's notification
   * payloads are a few hundred bytes and a meter record about as much; 64 KiB leaves room for rich
   * provisioning specs while every node keeps every event for the retention time, so a document
   * belongs in a store the event points at, not in the event.
   */
  eventDataBytesMax: 64 * 1024,
  /** An event's subject (a project, user or domain id; Keystone's are 64 characters) and its other ids. */
  eventSubjectBytesMax: 255,
  /** The detail of an ack: a sentence for operators (why it failed), shown in GetEventStatus. */
  eventAckDetailBytesMax: 1024,
  /**
   * Events of one PublishBatch (and of one publishMany): one record signature covers them all, so
   * at most limits.recordsPerSignatureMax; meter records come in hundreds, and the request must
   * still fit localMessageBytesMax.
   */
  publishBatchEventsMax: 1000,
  /** Acks of one AckBatch: one transaction; a window (eventWindowMax) of acks fits. */
  ackBatchAcksMax: 1024,
  /**
   * Events held from one cloud. A week of a large cloud's account changes is thousands; beyond a
   * million, events arrive faster than the retention lets them go (meter records at thousands a
   * second): the retention is too long for that rate. Each event costs a few hundred bytes of
   * memory at every node. Beyond it an event is refused (RESOURCE_EXHAUSTED at Publish, a rejected
   * and counted record from a peer); a received batch may overshoot by one frame.
   */
  eventsPerCloudMax: 1_000_000,
  /**
   * Longest time an event is kept (config events.retentionMs, and what a peer's event may ask
   * for): a month covers a cloud that is down over a long holiday; beyond it, a subscriber that
   * far behind needs a resynchronisation, not a replay.
   */
  eventRetentionMsMax: 31 * 24 * 3600 * 1000,
  /**
   * Subscriber names one node delivers to (the expected ones and any other that subscribed). Each
   * event applied here costs one delivery row per subscriber, so the fan-out is bounded; real
   * clouds run a handful of services.
   */
  subscribersMax: 256,
  /** Subscribers one cloud may expect (config events.expectedSubscribers): every one must ack every event. */
  expectedSubscribersMax: 64,
  /**
   * Largest events.windowMax: unacked deliveries one stream may hold. Past a thousand, a subscriber
   * that crashes gets that many events again (at-least-once) for no gain in throughput.
   */
  eventWindowMax: 1024,
  /**
   * Entries of one receipt record (failed, parked and skipped events, and events acked out of
   * order). At ~80 bytes each it stays near 100 KB, well under recordPayloadBytesMax; beyond it a
   * receipt claims less than it could (an event shows as not acked yet), never more.
   */
  receiptOutcomesMax: 1000,
  /**
   * How long acks gather before the receipts they change are published: thousands of acks cost a
   * handful of records, and the origin sees an outcome this much later.
   */
  receiptFlushIntervalMs: 200,
  /**
   * Deliveries above a receipt's last V read per flush (per subscriber and origin): V moves by at
   * most this much per flush (20,000/s at the flush interval), and a flush during a burst of
   * unanswered events costs this many rows, not the whole backlog.
   */
  receiptScanRowsMax: 4096,
  /**
   * Decoded events kept in memory per node for sending: a burst's backlog (30,000 meter records
   * in the events bench), at most a few tens of MiB.
   */
  recentEventsCachedMax: 32_768,
  /**
   * Events are delivered in origin order, so one received above a gap in its origin's versions
   * waits for the gap to close. Anti-entropy closes such gaps without telling the topic, so a
   * subscriber with events waiting behind a gap looks again after this long.
   */
  eventGapRecheckMs: 500,
  /** A provisioning spec (JSON): names and ids of what to create, not documents. */
  provisionSpecBytesMax: 16 * 1024,
  /** A provisioning request id: a client-chosen idempotency key, as long as an id needs, no more. */
  provisionRequestIdBytesMax: 128,
  /** A provisioning kind: a short name ("project", "volume-quota"), like an event type. */
  provisionKindBytesMax: 63,
};

/** Numbers, not literal types, so tests may pass smaller limits where a function takes them. */
export type Limits = Readonly<Record<keyof typeof limitValues, number>>;
export const limits: Limits = Object.freeze(limitValues);
