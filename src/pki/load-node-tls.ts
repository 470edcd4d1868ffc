/**
 * Loads a node's TLS material from files at startup and checks it fits together, so that a
 * misconfigured node fails with a message naming the file instead of failing every handshake.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AllianceError, errorMessage } from '../lib/errors.js';
import { readCaFederation, type NodeIdentity } from './node-identity.js';
import { verifyNodeCertificate } from './verify-node-certificate.js';

export interface NodeTlsFiles {
  /** The federation CA certificate (PEM). */
  caFile: string;
  /** This node's certificate (PEM). */
  certFile: string;
  /** This node's private key (PEM). */
  keyFile: string;
  /** Time at which the certificate must be valid; defaults to now. */
  nowMs?: number;
}

export interface NodeTls {
  caPem: string;
  certPem: string;
  keyPem: string;
  ca: X509Certificate;
  cert: X509Certificate;
  identity: NodeIdentity;
}

function readPem(role: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'FAILED_PRECONDITION';
    throw new AllianceError(code, `cannot read ${role} ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

function invalidFile(role: string, file: string, reason: string, cause?: unknown): AllianceError {
  return new AllianceError(
    'INVALID_ARGUMENT',
    `${role} ${file}: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

export function loadNodeTls(files: NodeTlsFiles): NodeTls {
  const caPem = readPem('CA certificate', files.caFile);
  const certPem = readPem('node certificate', files.certFile);
  const keyPem = readPem('node key', files.keyFile);

  let ca: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
    readCaFederation(ca);
  } catch (err) {
    throw invalidFile('CA certificate', files.caFile, errorMessage(err), err);
  }
  let cert: X509Certificate;
  let identity: NodeIdentity;
  try {
    cert = new X509Certificate(certPem);
    identity = verifyNodeCertificate(cert.raw, ca, files.nowMs ?? Date.now());
  } catch (err) {
    throw invalidFile('node certificate', files.certFile, errorMessage(err), err);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw invalidFile('node key', files.keyFile, `not a readable private key: ${errorMessage(err)}`, err);
  }
  if (!cert.checkPrivateKey(key)) {
    throw invalidFile('node key', files.keyFile, `does not match the certificate ${files.certFile}`);
  }
  return { caPem, certPem, keyPem, ca, cert, identity };
}
