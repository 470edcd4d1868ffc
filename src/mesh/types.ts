/**
 * The mesh's own vocabulary: records, topics and the ports it is built from
 * (transport, crypto). Capabilities see only MeshRecord and Topic.
 */
import type {
  ExecuteProvisionRequest,
  ExecuteProvisionResponse,
  Frame,
  ValidateTokenRequest,
  ValidateTokenResponse,
} from '../gen/alliance/peer/v1/mesh.js';

/** `<cloud>/<node>`. */
export type NodeId = string;

/** One replicated entry, as capabilities see it once its signature has been checked. */
export interface MeshRecord {
  origin: NodeId;
  topic: string;
  key: string;
  /** Per-origin version; only the origin increments it. */
  version: number;
  /** A tombstone: the key was deleted at this version. */
  deleted: boolean;
  /** Unix ms after which the record is dropped; 0: never. */
  expiresAtMs: number;
  createdAtMs: number;
  payload: Uint8Array;
}

/** A record as stored and relayed: the exact signed bytes travel with it. */
export interface StoredRecord extends MeshRecord {
  body: Uint8Array;
  signature: Uint8Array;
  /**
   * An encoded BatchProof when the signature covers a batch's root (batch-signature.ts); absent
   * or empty when it covers `body` alone.
   */
  batchProof?: Uint8Array;
}

export interface PublishOptions {
  /** Unix ms after which every node drops the record; 0 or absent: never. */
  expiresAtMs?: number;
}

/** What a capability holds after registering a topic with the mesh. */
export interface Topic {
  readonly name: string;
  /** Signs, stores durably and pushes a new version of `key`. Durable when it returns. */
  publish(key: string, payload: Uint8Array, options?: PublishOptions): MeshRecord;
  /**
   * Publishes several keys at once, in the order given: one transaction and one signature for
   * all of them (batch-signature.ts), each record still verifiable on its own. Durable when it
   * returns. At most limits.recordsPerSignatureMax entries.
   */
  publishMany(
    entries: readonly { key: string; payload: Uint8Array; options?: PublishOptions }[],
  ): MeshRecord[];
  /** Publishes a tombstone for `key`. */
  remove(key: string): MeshRecord;
  /** The current record of (origin, key), tombstones included; undefined if none. */
  get(origin: NodeId, key: string): MeshRecord | undefined;
  /** Live (not deleted, not expired) records of this topic from every origin. */
  list(): MeshRecord[];
  /** Calls `listener` after each record of this topic is applied, local or remote. */
  onChange(listener: (record: MeshRecord) => void): () => void;
}

export interface TopicOptions {
  name: string;
  /**
   * Checks a remote record's payload before it is stored; throw to reject it
   * (counted as "invalid-payload"). The mesh never decodes payloads itself.
   */
  validate?(record: MeshRecord): void;
}

/**
 * A link to one peer, whatever carries it. Frames are delivered in order.
 * `peerIdentity` is what the transport authenticated (the certificate's SAN over
 * mTLS); null when the transport authenticates nothing.
 */
export interface Connection {
  readonly outbound: boolean;
  readonly remoteAddress: string;
  readonly peerIdentity: NodeId | null;
  /** Queues a frame; false when the link is closed or its queue is full. */
  send(frame: Frame): boolean;
  close(reason: string): void;
  /** True once either side closed the link or it failed (its onClose may still be pending). */
  isClosed(): boolean;
  onFrame(listener: (frame: Frame) => void): void;
  /** Called once, when either side closes or the link fails. */
  onClose(listener: (reason: string) => void): void;
}

/**
 * The unary calls of the peer API: questions that one particular cloud must answer
 * (the issuer of an opaque token, the target of a provisioning request).
 */
export interface PeerMethods {
  validateToken: { request: ValidateTokenRequest; response: ValidateTokenResponse };
  executeProvision: { request: ExecuteProvisionRequest; response: ExecuteProvisionResponse };
}
export type PeerMethod = keyof PeerMethods;

/** Answers one peer call; `caller` is the node id its certificate names. Throws AllianceError. */
export type PeerCallHandler<M extends PeerMethod> = (
  request: PeerMethods[M]['request'],
  caller: NodeId,
) => Promise<PeerMethods[M]['response']>;

/** Routes an incoming peer call to its handler (the mesh's). */
export type PeerCallDispatcher = <M extends PeerMethod>(
  method: M,
  request: PeerMethods[M]['request'],
  caller: NodeId,
) => Promise<PeerMethods[M]['response']>;

export interface PeerCallOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Transport {
  /** Starts accepting links and calls; resolves with the address it listens on. */
  listen(onConnection: (connection: Connection) => void, onCall: PeerCallDispatcher): Promise<string>;
  /** Opens a link to `address`; failure arrives as the connection's close. */
  dial(address: string): Connection;
  /**
   * One unary call to the node `nodeId` at `address`; refused unless the answering node's
   * certificate names `nodeId`. Rejects with an AllianceError (UNAVAILABLE when unreachable).
   */
  call<M extends PeerMethod>(
    address: string,
    nodeId: NodeId,
    method: M,
    request: PeerMethods[M]['request'],
    options: PeerCallOptions,
  ): Promise<PeerMethods[M]['response']>;
  close(): Promise<void>;
}

/** The cryptography the mesh needs, bound to this node's certificate and keys. */
export interface MeshCrypto {
  nodeId: NodeId;
  federation: string;
  certificateDer: Uint8Array;
  recordPublicKey: Uint8Array;
  /** ECDSA with the certificate key: signs this node's member record. */
  signWithCertificate(data: Uint8Array): Uint8Array;
  /** Ed25519 with the record key: signs every other record. */
  signRecord(data: Uint8Array): Uint8Array;
  /**
   * Checks that a certificate chains to the federation CA and is valid now;
   * returns its node id, or throws.
   */
  verifyCertificate(certificateDer: Uint8Array, nowMs: number): NodeId;
  verifyWithCertificate(certificateDer: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean;
  verifyRecord(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean;
}

/** Why a received record was refused; each is counted and shown by Admin.GetStatus. */
export type RejectionReason =
  | 'malformed'
  | 'oversized'
  | 'unknown-origin'
  | 'bad-signature'
  | 'bad-certificate'
  | 'invalid-payload'
  | 'forged-own-origin'
  | 'too-many-origins';
