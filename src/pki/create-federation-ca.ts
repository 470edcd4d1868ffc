/**
 * The federation CA: a self-signed EC P-256 certificate that signs every node certificate
 * (DESIGN.md §3). Its URI SAN `spiffe://<federation>` records the federation name, so issuing
 * and verifying read the federation from the CA instead of trusting a second input.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { buildCertificate, distinguishedName, keyIdentifier, validityWindow } from './build-certificate.js';
import {
  basicConstraints,
  keyUsage,
  keyUsageBits,
  subjectAltName,
  subjectKeyIdentifier,
} from './certificate-extensions.js';
import { assertValidId, federationSpiffeUri } from './node-identity.js';

/** A certificate and its private key, both PEM (the key as unencrypted PKCS #8). */
export interface CertificateAndKeyPem {
  certPem: string;
  keyPem: string;
}

export interface CreateFederationCaOptions {
  federation: string;
  /** Default 3650: the CA outlives many rounds of node certificates. */
  validDays?: number;
  /** Issue time; defaults to now. */
  nowMs?: number;
}

export const caValidDaysDefault = 3650;

export function createFederationCa(options: CreateFederationCaOptions): CertificateAndKeyPem {
  const federation = assertValidId('federation', options.federation);
  const { notBeforeMs, notAfterMs } = validityWindow(
    options.nowMs ?? Date.now(),
    options.validDays ?? caValidDaysDefault,
  );
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = distinguishedName({ commonName: `Alliance federation ${federation} CA` });
  const der = buildCertificate({
    issuerName: name,
    subjectName: name,
    notBeforeMs,
    notAfterMs,
    subjectPublicKey: publicKey,
    issuerKey: privateKey,
    extensions: [
      basicConstraints({ ca: true }),
      keyUsage([keyUsageBits.keyCertSign, keyUsageBits.cRLSign]),
      subjectKeyIdentifier(keyIdentifier(publicKey)),
      subjectAltName({ uris: [federationSpiffeUri(federation)] }),
    ],
  });
  return {
    certPem: new X509Certificate(der).toString(),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
