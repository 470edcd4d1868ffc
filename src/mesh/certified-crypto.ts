/**
 * Binds the mesh's cryptography to this node's certificate (DESIGN.md §3): the member
 * record is signed with the certificate's key and carries the certificate; every other
 * record is signed with an Ed25519 record key that the member record publishes, because
 * Ed25519 verifies several times faster than ECDSA P-256 and records are many.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  parseNodeIdentity,
  signRecord,
  signWithCertificateKey,
  verifyNodeCertificate,
  verifyRecord,
  verifyWithCertificate,
} from '../pki/index.js';
import type { MeshCrypto } from './types.js';

export interface CertifiedCryptoInput {
  federation: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
  recordPrivateKey: KeyObject;
  /** Raw 32-byte Ed25519 public key. */
  recordPublicKey: Uint8Array;
}

export function rawEd25519PublicKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

export function createCertifiedCrypto(input: CertifiedCryptoInput): MeshCrypto {
  const ca = new X509Certificate(input.caCertPem);
  const certificate = new X509Certificate(input.certPem);
  const identity = parseNodeIdentity(certificate);
  const certificateKey = createPrivateKey(input.keyPem);
  return {
    nodeId: identity.nodeId,
    federation: input.federation,
    certificateDer: certificate.raw,
    recordPublicKey: input.recordPublicKey,
    signWithCertificate: (data) => signWithCertificateKey(certificateKey, data),
    signRecord: (data) => signRecord(input.recordPrivateKey, data),
    verifyCertificate: (der, nowMs) => verifyNodeCertificate(der, ca, nowMs).nodeId,
    verifyWithCertificate: (der, data, signature) => verifyWithCertificate(der, data, signature),
    verifyRecord: (publicKey, data, signature) => verifyRecord(publicKey, data, signature),
  };
}
