/**
 * The static identity source's JWS signing key: an EC P-256 key persisted as PKCS #8 PEM with
 * mode 0600, created on first use, like the private key of Keystone's `keystone-manage
 * create_jws_keypair`. The same key across restarts keeps every token issued before valid, and
 * the public key is what other clouds verify this cloud's tokens with.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AllianceError, errorMessage } from '../../lib/errors.js';

export interface JwsKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PEM SubjectPublicKeyInfo, as published for offline verification. */
  publicKeyPem: string;
}

/** OpenSSL's name for NIST P-256, the curve of ES256. */
const p256 = 'prime256v1';

function jwsKeyFrom(privateKey: KeyObject, path: string): JwsKey {
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== p256) {
    throw new AllianceError('INVALID_ARGUMENT', `JWS key ${path} is not an EC P-256 key (ES256)`);
  }
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The key file's text, or undefined when there is no such file. */
function readKeyFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AllianceError('FAILED_PRECONDITION', `cannot read JWS key ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function parseJwsKey(pem: string, path: string): JwsKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `JWS key ${path} is not a readable private key: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  return jwsKeyFrom(privateKey, path);
}

/** Loads the P-256 key at `path`, or creates it (and its directory) when there is none. */
export function loadOrCreateJwsKey(path: string): JwsKey {
  const existing = readKeyFile(path);
  if (existing !== undefined) return parseJwsKey(existing, path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: p256 });
  try {
    // 'wx' creates the file or fails: two processes starting at once never swap keys under each
    // other; the loser reads the winner's key below (as src/pki/record-key.ts does).
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const winner = (err as NodeJS.ErrnoException).code === 'EEXIST' ? readKeyFile(path) : undefined;
    if (winner !== undefined) return parseJwsKey(winner, path);
    throw new AllianceError('FAILED_PRECONDITION', `cannot write JWS key ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  // The creation mode is filtered by the umask; make it exactly 0600.
  chmodSync(path, 0o600);
  return jwsKeyFrom(privateKey, path);
}
