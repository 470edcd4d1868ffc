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
};

/** Numbers, not literal types, so tests may pass smaller limits where a function takes them. */
export type Limits = Readonly<Record<keyof typeof limitValues, number>>;
export const limits: Limits = Object.freeze(limitValues);
