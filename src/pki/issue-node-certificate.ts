/**
 * Node certificates: a fresh EC P-256 key and a certificate signed by the federation CA whose
 * URI SAN `spiffe://<federation>/cloud/<cloud>/node/<node>` is the node's identity on every peer
 * connection (DESIGN.md §3). It is good for both ends of a TLS connection (serverAuth and
 * clientAuth), since every node both dials and accepts peers.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { AllianceError, errorMessage } from '../lib/errors.js';
import {
  assertP256,
  buildCertificate,
  distinguishedName,
  keyIdentifier,
  subjectNameOf,
  validityWindow,
} from './build-certificate.js';
import {
  authorityKeyIdentifier,
  basicConstraints,
  extendedKeyUsages,
  extKeyUsage,
  keyUsage,
  keyUsageBits,
  subjectAltName,
  subjectKeyIdentifier,
} from './certificate-extensions.js';
import type { CertificateAndKeyPem } from './create-federation-ca.js';
import { assertValidId, nodeSpiffeUri, readCaFederation, toX509Certificate } from './node-identity.js';

export interface IssueNodeCertificateOptions {
  caCertPem: string;
  caKeyPem: string;
  cloud: string;
  node: string;
  /** DNS SANs. When neither dnsNames nor ipAddresses is given: `localhost` and `127.0.0.1`. */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** Default 365; never past the CA's own notAfter. */
  validDays?: number;
  /** Issue time; defaults to now. */
  nowMs?: number;
}

export const nodeValidDaysDefault = 365;

function loadCaKey(caKeyPem: string, ca: X509Certificate): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(caKeyPem);
  } catch (err) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `CA key is not a readable private key: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  if (!ca.checkPrivateKey(key)) {
    throw new AllianceError('INVALID_ARGUMENT', 'CA key does not match the CA certificate');
  }
  assertP256(key, 'CA key');
  return key;
}

export function issueNodeCertificate(options: IssueNodeCertificateOptions): CertificateAndKeyPem {
  const cloud = assertValidId('cloud', options.cloud);
  const node = assertValidId('node', options.node);
  const ca = toX509Certificate(options.caCertPem);
  if (!ca.ca)
    throw new AllianceError('INVALID_ARGUMENT', 'CA certificate is not a CA (basicConstraints CA:false)');
  const federation = readCaFederation(ca);
  const caKey = loadCaKey(options.caKeyPem, ca);

  const nowMs = options.nowMs ?? Date.now();
  const window = validityWindow(nowMs, options.validDays ?? nodeValidDaysDefault);
  const caNotAfterMs = Date.parse(ca.validTo);
  if (nowMs >= caNotAfterMs) {
    throw new AllianceError('FAILED_PRECONDITION', `the federation CA expired at ${ca.validTo}`);
  }
  // A certificate outliving its CA would be rejected by every verifier anyway; clamp instead.
  const notAfterMs = Math.min(window.notAfterMs, caNotAfterMs);

  const noNamesGiven = !options.dnsNames?.length && !options.ipAddresses?.length;
  // Loopback defaults let a single-machine test federation work with no flags.
  const dnsNames = noNamesGiven ? ['localhost'] : (options.dnsNames ?? []);
  const ipAddresses = noNamesGiven ? ['127.0.0.1'] : (options.ipAddresses ?? []);

  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = buildCertificate({
    issuerName: subjectNameOf(ca.raw),
    subjectName: distinguishedName({
      organization: `Alliance federation ${federation}`,
      commonName: `${cloud}/${node}`,
    }),
    notBeforeMs: window.notBeforeMs,
    notAfterMs,
    subjectPublicKey: publicKey,
    issuerKey: caKey,
    extensions: [
      basicConstraints({ ca: false }),
      // ECDHE key exchange signs with the key; it never encrypts with it, so no keyEncipherment.
      keyUsage([keyUsageBits.digitalSignature]),
      extKeyUsage([extendedKeyUsages.serverAuth, extendedKeyUsages.clientAuth]),
      subjectKeyIdentifier(keyIdentifier(publicKey)),
      authorityKeyIdentifier(keyIdentifier(ca.publicKey)),
      subjectAltName({ uris: [nodeSpiffeUri({ federation, cloud, node })], dnsNames, ipAddresses }),
    ],
  });
  return {
    certPem: new X509Certificate(der).toString(),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
