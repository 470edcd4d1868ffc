/**
 * The static identity source's JWS signing key: an EC P-256 key persisted as PKCS #8 PEM with
 * mode 0600, created on first use, like the private key of Keystone's `keystone-manage
 * create_jws_keypair`. The same key across restarts keeps every token issued before valid, and
 * the public key is what other clouds verify this cloud's tokens with.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { AllianceError } from '../../lib/errors.js';
import { loadOrCreateKeyFile } from '../../pki/index.js';

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

/** Loads the P-256 key at `path`, or creates it (and its directory) when there is none. */
export function loadOrCreateJwsKey(path: string): JwsKey {
  const privateKey = loadOrCreateKeyFile(
    path,
    'JWS key',
    () => generateKeyPairSync('ec', { namedCurve: p256 }).privateKey,
  );
  return jwsKeyFrom(privateKey, path);
}
