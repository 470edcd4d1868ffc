/**
 * Verifies a node certificate outside TLS: used to accept records relayed from other nodes,
 * whose origin's certificate must chain to the federation CA (DESIGN.md §3). The chain is one
 * link deep (the CA signs node certificates directly), so verification is: issued and signed by
 * the CA, inside both validity windows, not itself a CA, and naming the CA's federation.
 */
import { X509Certificate } from 'node:crypto';
import { AllianceError, errorMessage } from '../lib/errors.js';
import { parseNodeIdentity, readCaFederation, type NodeIdentity } from './node-identity.js';

function denied(reason: string, cause?: unknown): AllianceError {
  return new AllianceError('PERMISSION_DENIED', reason, cause === undefined ? undefined : { cause });
}

function isWithinValidity(cert: X509Certificate, nowMs: number): boolean {
  // Node 20 has no validFromDate; validFrom/validTo are OpenSSL's "Mon DD HH:MM:SS YYYY GMT".
  return nowMs >= Date.parse(cert.validFrom) && nowMs <= Date.parse(cert.validTo);
}

/** Returns the certificate's identity, or throws PERMISSION_DENIED with the reason. */
export function verifyNodeCertificate(certDer: Uint8Array, ca: X509Certificate, nowMs: number): NodeIdentity {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(certDer));
  } catch (err) {
    throw denied(`not an X.509 certificate: ${errorMessage(err)}`, err);
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw denied('certificate is not signed by the federation CA');
  }
  if (cert.ca) throw denied('a CA certificate is not a node certificate');
  if (!isWithinValidity(cert, nowMs)) {
    throw denied(
      `certificate is not valid at ${new Date(nowMs).toISOString()} (valid ${cert.validFrom} to ${cert.validTo})`,
    );
  }
  if (!isWithinValidity(ca, nowMs)) {
    throw denied(`the federation CA is not valid at ${new Date(nowMs).toISOString()}`);
  }
  const identity = parseNodeIdentity(cert);
  const federation = readCaFederation(ca);
  if (identity.federation !== federation) {
    throw denied(`certificate names federation ${identity.federation}, not ${federation}`);
  }
  return identity;
}
