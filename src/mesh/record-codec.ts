/**
 * Turns records into signed wire form and back. The signature covers the exact
 * bytes of the encoded RecordBody, which travel unchanged through every relay, so
 * verification never depends on re-encoding producing the same bytes.
 */
import { RecordBody } from '../gen/alliance/peer/v1/mesh.js';
import type { SignedRecord } from '../gen/alliance/peer/v1/mesh.js';
import { limits } from '../config/limits.js';
import type { MeshRecord, RejectionReason, StoredRecord } from './types.js';

const emptyProof = new Uint8Array();

export class RecordRejected extends Error {
  constructor(
    readonly reason: RejectionReason,
    message: string,
  ) {
    super(message);
    this.name = 'RecordRejected';
  }
}

export function encodeRecordBody(record: MeshRecord): Uint8Array {
  return RecordBody.encode({
    origin: record.origin,
    topic: record.topic,
    key: record.key,
    version: BigInt(record.version),
    deleted: record.deleted,
    expiresAtMs: BigInt(record.expiresAtMs),
    createdAtMs: BigInt(record.createdAtMs),
    payload: Buffer.from(record.payload),
  }).finish();
}

function checkSizes(record: Pick<MeshRecord, 'origin' | 'topic' | 'key' | 'payload'>): void {
  for (const field of ['origin', 'topic', 'key'] as const) {
    if (Buffer.byteLength(record[field]) > limits.recordKeyBytesMax) {
      throw new RecordRejected('oversized', `record ${field} exceeds ${limits.recordKeyBytesMax} bytes`);
    }
  }
  if (record.payload.byteLength > limits.recordPayloadBytesMax) {
    throw new RecordRejected('oversized', `record payload exceeds ${limits.recordPayloadBytesMax} bytes`);
  }
}

/** Checks a locally built record against the limits before it is signed. */
export function assertRecordWithinLimits(record: MeshRecord): void {
  checkSizes(record);
}

/** Decodes a received record; its signature is checked separately by the mesh. */
export function decodeSignedRecord(signed: SignedRecord): StoredRecord {
  let body: RecordBody;
  try {
    body = RecordBody.decode(signed.body);
  } catch (err) {
    throw new RecordRejected('malformed', `record body does not decode: ${(err as Error).message}`);
  }
  if (!body.origin || !body.topic || body.version <= 0n) {
    throw new RecordRejected('malformed', 'record lacks origin, topic or a positive version');
  }
  if (body.version > BigInt(Number.MAX_SAFE_INTEGER) || body.expiresAtMs > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RecordRejected('malformed', 'record version or expiry out of range');
  }
  checkSizes(body);
  return {
    origin: body.origin,
    topic: body.topic,
    key: body.key,
    version: Number(body.version),
    deleted: body.deleted,
    expiresAtMs: Number(body.expiresAtMs),
    createdAtMs: Number(body.createdAtMs),
    payload: body.payload,
    body: signed.body,
    signature: signed.signature,
    ...(signed.batchProof.length > 0 ? { batchProof: signed.batchProof } : {}),
  };
}

export function toSignedRecord(record: StoredRecord): SignedRecord {
  return {
    body: Buffer.from(record.body),
    signature: Buffer.from(record.signature),
    batchProof: Buffer.from(record.batchProof ?? emptyProof),
  };
}
