/**
 * A node's identity is the single URI SAN of its certificate,
 * `spiffe://<federation>/cloud/<cloud>/node/<node>` (DESIGN.md §3); the federation CA carries
 * `spiffe://<federation>`. Ids are DNS-label-like so they are safe in URIs, file names and logs.
 * Parsing is strict: exactly one URI SAN, matching the pattern exactly, or the certificate names
 * no identity (the SPIFFE X.509-SVID spec also requires exactly one URI SAN).
 */
import { X509Certificate } from 'node:crypto';
import { AllianceError, errorMessage } from '../lib/errors.js';

export interface NodeIdentity {
  federation: string;
  cloud: string;
  node: string;
  /** `${cloud}/${node}`: unique within a federation. */
  nodeId: string;
}

export type IdKind = 'federation' | 'cloud' | 'node';

/** Lowercase letters, digits and '-', 1–63 characters, starting with a letter or digit (a DNS label). */
const idSource = '[a-z0-9][a-z0-9-]{0,62}';
const idPattern = new RegExp(`^${idSource}$`);
const nodeUriPattern = new RegExp(`^spiffe://(${idSource})/cloud/(${idSource})/node/(${idSource})$`);
const federationUriPattern = new RegExp(`^spiffe://(${idSource})$`);

export function isValidId(value: string): boolean {
  return idPattern.test(value);
}

/** Returns `value` when it is a valid id; otherwise an INVALID_ARGUMENT naming the field. */
export function assertValidId(kind: IdKind, value: string): string {
  if (!isValidId(value)) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `invalid ${kind} id ${JSON.stringify(value)}: use 1-63 lowercase letters, digits or '-', starting with a letter or digit`,
    );
  }
  return value;
}

export function nodeSpiffeUri(identity: { federation: string; cloud: string; node: string }): string {
  return `spiffe://${identity.federation}/cloud/${identity.cloud}/node/${identity.node}`;
}

export function federationSpiffeUri(federation: string): string {
  return `spiffe://${federation}`;
}

export type CertificateInput = Uint8Array | string | X509Certificate;

/** Parses DER bytes or PEM text; an unparseable certificate is INVALID_ARGUMENT. */
export function toX509Certificate(cert: CertificateInput): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  try {
    return new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch (err) {
    throw new AllianceError('INVALID_ARGUMENT', `not an X.509 certificate: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

interface SubjectAltName {
  type: string;
  value: string;
}

/**
 * Splits Node's `subjectAltName` text ("URI:a, DNS:b, IP Address:c"). Since the fix for
 * CVE-2021-44532, Node JSON-quotes any entry whose value holds ',', '"' or control characters,
 * so a crafted value cannot pose as a second entry; quoted values are decoded here so the
 * exact-match patterns see the real bytes (and reject them).
 */
function parseSubjectAltNames(text: string): SubjectAltName[] {
  const names: SubjectAltName[] = [];
  let pos = 0;
  while (pos < text.length) {
    const colon = text.indexOf(':', pos);
    if (colon < 0) throw new Error('malformed subjectAltName');
    const type = text.slice(pos, colon);
    pos = colon + 1;
    let value: string;
    if (text[pos] === '"') {
      let end = pos + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(pos, end + 1)) as string;
      pos = end + 1;
    } else {
      const comma = text.indexOf(', ', pos);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(pos, end);
      pos = end;
    }
    names.push({ type, value });
    if (pos < text.length) {
      if (!text.startsWith(', ', pos)) throw new Error('malformed subjectAltName');
      pos += 2;
    }
  }
  return names;
}

/** The certificate's one URI SAN, or a PERMISSION_DENIED saying why there is none. */
function soleUriSan(cert: X509Certificate): string {
  let names: SubjectAltName[];
  try {
    names = parseSubjectAltNames(cert.subjectAltName ?? '');
  } catch (err) {
    throw new AllianceError('PERMISSION_DENIED', `certificate has a malformed subjectAltName`, {
      cause: err,
    });
  }
  const uris = names.filter((name) => name.type === 'URI').map((name) => name.value);
  const [uri] = uris;
  if (uri === undefined) {
    throw new AllianceError('PERMISSION_DENIED', 'certificate has no URI SAN identity');
  }
  if (uris.length > 1) {
    throw new AllianceError(
      'PERMISSION_DENIED',
      `certificate has ${uris.length} URI SANs; exactly one is allowed`,
    );
  }
  return uri;
}

/**
 * The node identity a certificate claims. This does not check who signed it: callers either got
 * the certificate from a TLS handshake that verified the chain, or use verifyNodeCertificate.
 */
export function parseNodeIdentity(cert: CertificateInput): NodeIdentity {
  const uri = soleUriSan(toX509Certificate(cert));
  const match = nodeUriPattern.exec(uri);
  if (!match) {
    throw new AllianceError(
      'PERMISSION_DENIED',
      `certificate URI SAN ${JSON.stringify(uri)} is not a node identity`,
    );
  }
  const [, federation = '', cloud = '', node = ''] = match;
  return { federation, cloud, node, nodeId: `${cloud}/${node}` };
}

/** The federation a CA certificate was made for (its `spiffe://<federation>` URI SAN). */
export function readCaFederation(ca: CertificateInput): string {
  const cert = toX509Certificate(ca);
  let uri: string;
  try {
    uri = soleUriSan(cert);
  } catch (err) {
    throw new AllianceError('INVALID_ARGUMENT', `not an Alliance federation CA: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const match = federationUriPattern.exec(uri);
  if (!match?.[1]) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `not an Alliance federation CA: URI SAN ${JSON.stringify(uri)} is not spiffe://<federation>`,
    );
  }
  return match[1];
}
