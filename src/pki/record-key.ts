/**
 * Record-signing keys: each node signs the records it originates with an Ed25519 key, persisted
 * so the node keeps the same key across restarts; others verify with the 32-byte raw public key
 * published (and bound to the node's certificate) in its member record (DESIGN.md §3).
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { AllianceError } from '../lib/errors.js';
import { loadOrCreateKeyFile } from './key-file.js';

export interface RecordKey {
  privateKey: KeyObject;
  /** The raw 32-byte Ed25519 public key (RFC 8032), as published to other nodes. */
  publicKeyRaw: Uint8Array;
}

export const ed25519PublicKeyBytes = 32;

function recordKeyFrom(privateKey: KeyObject, path: string): RecordKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AllianceError('INVALID_ARGUMENT', `record key ${path} is not an Ed25519 key`);
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicKeyRaw: new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url')) };
}

/** Loads the Ed25519 key at `path`, or creates it (PKCS #8 PEM, mode 0600) when there is none. */
export function loadOrCreateRecordKey(path: string): RecordKey {
  const privateKey = loadOrCreateKeyFile(path, 'record key', () => generateKeyPairSync('ed25519').privateKey);
  return recordKeyFrom(privateKey, path);
}

export function signRecord(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  // Ed25519 hashes internally: the algorithm argument must be null.
  return new Uint8Array(sign(null, data, privateKey));
}

/**
 * Public keys built from raw bytes, cached: verification runs for every record received, and
 * building a KeyObject costs more than the verify. Bounded by the number of origins a
 * federation could have (one key per node), far above any real federation.
 */
const publicKeyCacheEntriesMax = 10_000;
const publicKeyCache = new Map<string, KeyObject>();

function publicKeyFromRaw(publicKeyRaw: Uint8Array): KeyObject {
  const x = Buffer.from(publicKeyRaw).toString('base64url');
  let key = publicKeyCache.get(x);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    if (publicKeyCache.size >= publicKeyCacheEntriesMax) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = publicKeyCache.keys().next();
      if (!oldest.done) publicKeyCache.delete(oldest.value);
    }
    publicKeyCache.set(x, key);
  }
  return key;
}

/**
 * True when `signature` is a valid Ed25519 signature of `data` by `publicKeyRaw`. A key of the
 * wrong length or a malformed signature is a failed verification, not an exception: both arrive
 * from the network.
 */
export function verifyRecord(publicKeyRaw: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKeyRaw.length !== ed25519PublicKeyBytes) return false;
  try {
    return verify(null, data, publicKeyFromRaw(publicKeyRaw), signature);
  } catch {
    return false;
  }
}
