/**
 * Builds and signs an X.509 v3 certificate (RFC 5280 §4.1) with an EC P-256 issuer key.
 *
 * node-forge only puts RSA keys into certificates (TOOLCHAIN.md, "mTLS and identity"), so the
 * TBSCertificate is assembled here from forge's ASN.1 helpers, the DER is signed with
 * node:crypto (ECDSA with SHA-256, DER-encoded signature) and the three parts are wrapped in the
 * outer Certificate SEQUENCE. This is the only file that encodes certificates.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { AllianceError } from '../lib/errors.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const oids = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
} as const;

/** Every `Bytes` value forge handles is a binary string: one char per byte. */
export function toForgeBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('binary');
}

export function fromForgeBytes(bytes: string): Buffer {
  return Buffer.from(bytes, 'binary');
}

/**
 * Parses DER without forge's default of decoding BIT STRING contents as nested ASN.1: key and
 * signature bits are opaque and must be re-encoded byte for byte.
 */
export function derToAsn1(der: Uint8Array): Asn1 {
  const fromDer = asn1.fromDer as unknown as (
    bytes: string,
    options: { strict: boolean; decodeBitStrings: boolean; parseAllBytes: boolean },
  ) => Asn1;
  return fromDer(toForgeBytes(der), { strict: true, decodeBitStrings: false, parseAllBytes: true });
}

export function asn1ToDer(node: Asn1): Buffer {
  return fromForgeBytes(asn1.toDer(node).getBytes());
}

export function sequence(items: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
}

export function oid(dotted: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

/** Subject and issuer names: UTF8String values, as RFC 5280 §4.1.2.4 asks of new certificates. */
export function distinguishedName(attributes: { organization?: string; commonName: string }): Asn1 {
  const rdn = (type: string, value: string): Asn1 =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
      sequence([
        oid(type),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(value)),
      ]),
    ]);
  const rdns: Asn1[] = [];
  if (attributes.organization !== undefined) rdns.push(rdn(oids.organizationName, attributes.organization));
  rdns.push(rdn(oids.commonName, attributes.commonName));
  return sequence(rdns);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
function timeToAsn1(timeMs: number): Asn1 {
  const date = new Date(Math.floor(timeMs / 1000) * 1000);
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

/** 128 random bits, positive and without a leading zero byte (RFC 5280 §4.1.2.2: ≤ 20 octets). */
function randomSerialNumber(): Asn1 {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, toForgeBytes(serial));
}

export function subjectPublicKeyInfo(publicKey: KeyObject): Asn1 {
  return derToAsn1(publicKey.export({ type: 'spki', format: 'der' }));
}

/** Key identifier per RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = subjectPublicKeyInfo(publicKey);
  const bits = (spki.value as Asn1[])[1]?.value;
  if (typeof bits !== 'string') throw new Error('unexpected SubjectPublicKeyInfo shape');
  // The first content octet of a BIT STRING counts unused bits; it is not part of the key.
  return createHash('sha1')
    .update(fromForgeBytes(bits.slice(1)))
    .digest();
}

/** Only ECDSA P-256 with SHA-256 is produced, so every Alliance certificate verifies the same way. */
export function assertP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AllianceError('INVALID_ARGUMENT', `${what} must be an EC P-256 key`);
  }
}

export interface CertificateTemplate {
  issuerName: Asn1;
  subjectName: Asn1;
  notBeforeMs: number;
  notAfterMs: number;
  subjectPublicKey: KeyObject;
  /** Encoded Extension SEQUENCEs (see certificate-extensions.ts). */
  extensions: Asn1[];
  /** EC P-256 private key of the issuer (the subject's own key for a self-signed certificate). */
  issuerKey: KeyObject;
}

/** Returns the DER encoding of the signed certificate. */
export function buildCertificate(template: CertificateTemplate): Buffer {
  assertP256(template.issuerKey, 'issuer key');
  // RFC 5758 §3.2: ecdsa-with-SHA256 has no parameters field at all (not even NULL).
  const signatureAlgorithm = sequence([oid(oids.ecdsaWithSha256)]);
  const version = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(2).getBytes()),
  ]);
  const tbsCertificate = sequence([
    version,
    randomSerialNumber(),
    signatureAlgorithm,
    template.issuerName,
    sequence([timeToAsn1(template.notBeforeMs), timeToAsn1(template.notAfterMs)]),
    template.subjectName,
    subjectPublicKeyInfo(template.subjectPublicKey),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [sequence(template.extensions)]),
  ]);
  // For EC keys crypto.sign yields the DER Ecdsa-Sig-Value that X.509 expects (dsaEncoding 'der').
  const signature = sign('sha256', asn1ToDer(tbsCertificate), template.issuerKey);
  const certificate = sequence([
    tbsCertificate,
    sequence([oid(oids.ecdsaWithSha256)]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\x00' + toForgeBytes(signature)),
  ]);
  return asn1ToDer(certificate);
}

/**
 * The subject Name of a certificate, as encoded in it, for use as the issuer of certificates it
 * signs: RFC 5280 §7.1 name chaining compares names, and copying the bytes keeps them identical.
 */
export function subjectNameOf(certDer: Uint8Array): Asn1 {
  const certificate = derToAsn1(certDer);
  const tbs = (certificate.value as Asn1[])[0];
  const fields = tbs?.value;
  if (!Array.isArray(fields)) throw new Error('unexpected Certificate shape');
  // version is [0] EXPLICIT and optional; subject follows serial, signature, issuer, validity.
  const offset = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject) throw new Error('unexpected TBSCertificate shape');
  return subject;
}

/** Longest validity accepted, in days: 100 years; anything longer is a typo. */
export const validDaysMax = 36_500;

/**
 * notBefore is set a little in the past so that a peer whose clock runs behind ours still
 * accepts a certificate issued just now.
 */
export const clockSkewAllowanceMs = 5 * 60 * 1000;

export function validityWindow(
  nowMs: number,
  validDays: number,
): { notBeforeMs: number; notAfterMs: number } {
  if (!Number.isInteger(validDays) || validDays < 1 || validDays > validDaysMax) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `invalid validity ${validDays} days: use a whole number from 1 to ${validDaysMax}`,
    );
  }
  return { notBeforeMs: nowMs - clockSkewAllowanceMs, notAfterMs: nowMs + validDays * 24 * 3600 * 1000 };
}
