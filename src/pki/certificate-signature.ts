/**
 * Signatures made with a node's certificate key (ECDSA P-256, SHA-256, DER signature): they bind
 * data, such as a node's published record-signing key, to the node's certificate (DESIGN.md §3).
 */
import { createHash, createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';

/** `key` is the certificate's private key, PEM or already parsed (parse once when signing often). */
export function signWithCertificateKey(key: string | KeyObject, data: Uint8Array): Uint8Array {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  return new Uint8Array(sign('sha256', data, privateKey));
}

/**
 * Distinct certificates cached, by SHA-256 of their DER: one per origin node is plenty, and
 * parsing a certificate costs far more than hashing it.
 */
const certificateKeyCacheEntriesMax = 10_000;
const certificateKeyCache = new Map<string, KeyObject>();

function certificatePublicKey(certDer: Uint8Array): KeyObject {
  const digest = createHash('sha256').update(certDer).digest('base64');
  let key = certificateKeyCache.get(digest);
  if (key === undefined) {
    key = new X509Certificate(Buffer.from(certDer)).publicKey;
    if (certificateKeyCache.size >= certificateKeyCacheEntriesMax) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = certificateKeyCache.keys().next();
      if (!oldest.done) certificateKeyCache.delete(oldest.value);
    }
    certificateKeyCache.set(digest, key);
  }
  return key;
}

/**
 * True when `signature` is a valid signature of `data` by the certificate's key. A malformed
 * certificate or signature is a failed verification, not an exception. This does not check the
 * certificate itself: see verifyNodeCertificate.
 */
export function verifyWithCertificate(certDer: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, certificatePublicKey(certDer), signature);
  } catch {
    return false;
  }
}
