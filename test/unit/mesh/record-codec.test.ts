/**
 * The record codec at the trust boundary: every received body is decoded and bounded
 * before anything else looks at it, and each refusal carries the reason the mesh counts.
 */
import { describe, expect, it } from 'vitest';
import { limits } from '../../../src/config/limits.js';
import { RecordBody, type SignedRecord } from '../../../src/gen/alliance/peer/v1/mesh.js';
import {
  RecordRejected,
  assertRecordWithinLimits,
  decodeSignedRecord,
  encodeRecordBody,
  toSignedRecord,
} from '../../../src/mesh/record-codec.js';
import type { MeshRecord, RejectionReason } from '../../../src/mesh/types.js';

const signature = Buffer.from('signature bytes, checked elsewhere');
const batchProof = Buffer.alloc(0);

const valid: RecordBody = {
  origin: 'cloud-a/n1',
  topic: 'test',
  key: 'k',
  version: 7n,
  deleted: false,
  expiresAtMs: 0n,
  createdAtMs: 1_700_000_000_000n,
  payload: Buffer.from('payload'),
};

function signed(fields: Partial<RecordBody>): SignedRecord {
  return { body: Buffer.from(RecordBody.encode({ ...valid, ...fields }).finish()), signature, batchProof };
}

/** The reason and message of the RecordRejected `fn` throws. */
function rejectionOf(fn: () => unknown): { reason: RejectionReason; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof RecordRejected) return { reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('expected a RecordRejected, but nothing was thrown');
}

const keyBytesMax = limits.recordKeyBytesMax;
const lacking = { reason: 'malformed', message: 'record lacks origin, topic or a positive version' };
const outOfRange = { reason: 'malformed', message: 'record version or expiry out of range' };
const oversized = (field: string, max: number): { reason: string; message: string } => ({
  reason: 'oversized',
  message: `record ${field} exceeds ${max} bytes`,
});

describe('decodeSignedRecord', () => {
  it.each([
    ['a missing origin', { origin: '' }, lacking],
    ['a missing topic', { topic: '' }, lacking],
    ['version 0', { version: 0n }, lacking],
    ['version 2^53, just above the safe integers', { version: 2n ** 53n }, outOfRange],
    ['the largest uint64 version', { version: 2n ** 64n - 1n }, outOfRange],
    ['an expiry above 2^53', { expiresAtMs: 2n ** 53n }, outOfRange],
    ['an origin one byte over the limit', { origin: 'o'.repeat(keyBytesMax + 1) }, oversized('origin', 512)],
    ['a topic one byte over the limit', { topic: 't'.repeat(keyBytesMax + 1) }, oversized('topic', 512)],
    ['a key one byte over the limit', { key: 'k'.repeat(keyBytesMax + 1) }, oversized('key', 512)],
    // Bytes, not characters: 257 two-byte characters are 514 bytes.
    ['a key of few characters but too many bytes', { key: 'é'.repeat(257) }, oversized('key', 512)],
    [
      'a payload one byte over the limit',
      { payload: Buffer.alloc(limits.recordPayloadBytesMax + 1) },
      oversized('payload', 1024 * 1024),
    ],
  ])('rejects %s', (_name, fields, expected) => {
    expect(rejectionOf(() => decodeSignedRecord(signed(fields)))).toEqual(expected);
  });

  it.each([
    ['bytes that are no protobuf at all', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['a truncated body', Buffer.from(RecordBody.encode(valid).finish()).subarray(0, 10)],
    ['a length prefix that runs past the end', Buffer.from([0x0a, 0x7f, 0x61])],
  ])('rejects %s as malformed', (_name, body) => {
    const rejection = rejectionOf(() => decodeSignedRecord({ body, signature, batchProof }));
    expect(rejection.reason).toBe('malformed');
    expect(rejection.message).toMatch(/^record body does not decode: /);
  });

  it('rejects an empty body, which decodes to a record with nothing in it', () => {
    expect(rejectionOf(() => decodeSignedRecord({ body: Buffer.alloc(0), signature, batchProof }))).toEqual(
      lacking,
    );
  });

  it('accepts every field at its limit', () => {
    const atLimits = {
      origin: 'o'.repeat(keyBytesMax),
      topic: 't'.repeat(keyBytesMax),
      key: 'é'.repeat(keyBytesMax / 2),
      version: BigInt(Number.MAX_SAFE_INTEGER),
      expiresAtMs: BigInt(Number.MAX_SAFE_INTEGER),
      payload: Buffer.alloc(limits.recordPayloadBytesMax, 1),
    };
    const wire = signed(atLimits);
    const { payload, body, ...rest } = decodeSignedRecord(wire);
    expect(rest).toEqual({
      origin: atLimits.origin,
      topic: atLimits.topic,
      key: atLimits.key,
      version: Number.MAX_SAFE_INTEGER,
      deleted: false,
      expiresAtMs: Number.MAX_SAFE_INTEGER,
      createdAtMs: 1_700_000_000_000,
      signature,
    });
    // Megabyte buffers are compared as bytes; toEqual would walk them element by element.
    expect(Buffer.from(payload).equals(atLimits.payload)).toBe(true);
    expect(Buffer.from(body).equals(wire.body)).toBe(true);
  });

  it('round-trips a record through encodeRecordBody exactly, keeping the signed bytes', () => {
    const record: MeshRecord = {
      origin: 'cloud-b/n2',
      topic: 'catalog',
      key: 'catalog',
      version: 123_456_789,
      deleted: true,
      expiresAtMs: 1_800_000_000_000,
      createdAtMs: 1_700_000_000_001,
      payload: Buffer.from([0, 1, 2, 254, 255]),
    };
    const body = Buffer.from(encodeRecordBody(record));
    const decoded = decodeSignedRecord({ body, signature, batchProof });
    expect(decoded).toEqual({ ...record, body, signature });
    // Relaying re-wraps the same bytes: re-encoding never enters into it.
    expect(toSignedRecord(decoded)).toEqual({ body, signature, batchProof });
    expect(Buffer.from(decoded.body).equals(body)).toBe(true);
  });
});

describe('assertRecordWithinLimits', () => {
  const local: MeshRecord = {
    origin: 'cloud-a/n1',
    topic: 'test',
    key: 'k',
    version: 1,
    deleted: false,
    expiresAtMs: 0,
    createdAtMs: 0,
    payload: new Uint8Array(),
  };

  it('refuses to sign a record the peers would reject as oversized', () => {
    expect(
      rejectionOf(() =>
        assertRecordWithinLimits({ ...local, payload: new Uint8Array(limits.recordPayloadBytesMax + 1) }),
      ),
    ).toEqual(oversized('payload', 1024 * 1024));
    expect(
      rejectionOf(() => assertRecordWithinLimits({ ...local, key: 'k'.repeat(keyBytesMax + 1) })),
    ).toEqual(oversized('key', 512));
    expect(() => assertRecordWithinLimits(local)).not.toThrow();
  });
});
