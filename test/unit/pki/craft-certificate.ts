/**
 * Test-only: certificates that `alliance certs` would never issue (several URI SANs, foreign
 * federations, odd validity), signed by a real CA key, to test what verification refuses.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { buildCertificate, distinguishedName, subjectNameOf } from '../../../src/pki/build-certificate.js';
import {
  basicConstraints,
  extendedKeyUsages,
  extKeyUsage,
  keyUsage,
  keyUsageBits,
  subjectAltName,
} from '../../../src/pki/certificate-extensions.js';
import type { CertificateAndKeyPem } from '../../../src/pki/index.js';

export interface CraftOptions {
  uris: string[];
  notBeforeMs: number;
  notAfterMs: number;
  isCa?: boolean;
}

export function craftCertificate(ca: CertificateAndKeyPem, options: CraftOptions): CertificateAndKeyPem {
  const caCert = new X509Certificate(ca.certPem);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = buildCertificate({
    issuerName: subjectNameOf(caCert.raw),
    subjectName: distinguishedName({ commonName: 'crafted' }),
    notBeforeMs: options.notBeforeMs,
    notAfterMs: options.notAfterMs,
    subjectPublicKey: publicKey,
    issuerKey: createPrivateKey(ca.keyPem),
    extensions: [
      basicConstraints({ ca: options.isCa === true }),
      keyUsage(
        options.isCa === true
          ? [keyUsageBits.digitalSignature, keyUsageBits.keyCertSign]
          : [keyUsageBits.digitalSignature],
      ),
      extKeyUsage([extendedKeyUsages.serverAuth, extendedKeyUsages.clientAuth]),
      subjectAltName({ uris: options.uris, dnsNames: ['localhost'] }),
    ],
  });
  return {
    certPem: new X509Certificate(der).toString(),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
