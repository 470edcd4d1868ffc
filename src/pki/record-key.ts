/**
 * Record-signing keys: each node signs the records it originates with an Ed25519 key, persisted
 * so the node keeps the same key across restarts; others verify with the 32-byte raw public key
 * published (and bound to the node's certificate) in its member record (DESIGN.md §3).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AllianceError, errorMessage } from '../lib/errors.js';

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

/** The key file's text, or undefined when there is no such file. */
function readKeyFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AllianceError('FAILED_PRECONDITION', `cannot read record key ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function parseRecordKey(pem: string, path: string): RecordKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `record key ${path} is not a readable private key: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  return recordKeyFrom(privateKey, path);
}

/** Loads the Ed25519 key at `path`, or creates it (PKCS #8 PEM, mode 0600) when there is none. */
export function loadOrCreateRecordKey(path: string): RecordKey {
  const existing = readKeyFile(path);
  if (existing !== undefined) return parseRecordKey(existing, path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    // 'wx' creates the file or fails: two processes starting at once never swap keys under
    // each other; the loser reads the winner's key below.
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const winner = (err as NodeJS.ErrnoException).code === 'EEXIST' ? readKeyFile(path) : undefined;
    if (winner !== undefined) return parseRecordKey(winner, path);
    throw new AllianceError('FAILED_PRECONDITION', `cannot write record key ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  // The creation mode is filtered by the umask; make it exactly 0600.
  chmodSync(path, 0o600);
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
