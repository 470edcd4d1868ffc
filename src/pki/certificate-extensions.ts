/**
 * Encoders for the few X.509 v3 extensions Alliance certificates carry (RFC 5280 §4.2). Each
 * returns one `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import forge from 'node-forge';
import { AllianceError } from '../lib/errors.js';
import { asn1ToDer, oid, sequence, toForgeBytes } from './build-certificate.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const extensionOids = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

export const extendedKeyUsages = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Bit numbers of KeyUsage (RFC 5280 §4.2.1.3). */
export const keyUsageBits = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

function extension(extnId: string, critical: boolean, value: Asn1): Asn1 {
  const fields = [oid(extnId)];
  // DER omits a field equal to its DEFAULT, so `critical` appears only when TRUE.
  if (critical) fields.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\xff'));
  fields.push(
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, toForgeBytes(asn1ToDer(value))),
  );
  return sequence(fields);
}

/** Critical, as RFC 5280 §4.2.1.9 requires for CAs; a CA with pathLen 0 signs only leaves. */
export function basicConstraints(options: { ca: boolean }): Asn1 {
  const fields = options.ca
    ? [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\xff'),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(0).getBytes()),
      ]
    : [];
  return extension(extensionOids.basicConstraints, true, sequence(fields));
}

/** A named BIT STRING in DER: trailing zero bits dropped, first octet counts the unused bits. */
export function keyUsage(bits: readonly number[]): Asn1 {
  const highest = Math.max(...bits);
  if (bits.length === 0 || highest > 7) throw new Error('keyUsage supports bits 0-7 only');
  let octet = 0;
  for (const bit of bits) octet |= 0x80 >> bit;
  const value = String.fromCharCode(7 - highest) + String.fromCharCode(octet);
  return extension(
    extensionOids.keyUsage,
    true,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, value),
  );
}

export function extKeyUsage(purposes: readonly string[]): Asn1 {
  return extension(extensionOids.extKeyUsage, false, sequence(purposes.map((purpose) => oid(purpose))));
}

export function subjectKeyIdentifier(keyId: Uint8Array): Asn1 {
  return extension(
    extensionOids.subjectKeyIdentifier,
    false,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, toForgeBytes(keyId)),
  );
}

export function authorityKeyIdentifier(keyId: Uint8Array): Asn1 {
  // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT KeyIdentifier OPTIONAL, ... }
  return extension(
    extensionOids.authorityKeyIdentifier,
    false,
    sequence([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, toForgeBytes(keyId))]),
  );
}

export interface SubjectAltNames {
  uris?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

/** A hostname (RFC 1123 labels), optionally a leading wildcard label. */
const dnsNamePattern =
  /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function assertValidDnsName(name: string): string {
  if (name.length > 253 || !dnsNamePattern.test(name)) {
    throw new AllianceError('INVALID_ARGUMENT', `invalid DNS name ${JSON.stringify(name)}`);
  }
  return name;
}

/** The 4 or 16 octets of an IPv4 or IPv6 address, as the iPAddress GeneralName holds them. */
export function ipAddressToBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  // A zone id ("fe80::1%eth0") names a local interface: meaningless in a certificate.
  if (!isIPv6(address) || address.includes('%')) {
    throw new AllianceError('INVALID_ARGUMENT', `invalid IP address ${JSON.stringify(address)}`);
  }
  let text = address;
  // An embedded IPv4 tail ("::ffff:10.0.0.1") stands for the last two 16-bit groups.
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (isIPv4(last)) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  const parseGroups = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => parseInt(group, 16));
  const left = parseGroups(halves[0] ?? '');
  const right = parseGroups(halves[1] ?? '');
  // isIPv6 already checked the syntax, so '::' (when present) stands for at least one zero group.
  const zeros = halves.length > 1 ? 8 - left.length - right.length : 0;
  const groups = [...left, ...Array<number>(zeros).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  return bytes;
}

/** Non-critical: every Alliance certificate also has a non-empty subject (RFC 5280 §4.2.1.6). */
export function subjectAltName(names: SubjectAltNames): Asn1 {
  // GeneralName CHOICE tags: dNSName [2] IA5String, uniformResourceIdentifier [6], iPAddress [7].
  const generalNames: Asn1[] = [
    ...(names.uris ?? []).map((uri) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, uri)),
    ...(names.dnsNames ?? []).map((name) =>
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, assertValidDnsName(name)),
    ),
    ...(names.ipAddresses ?? []).map((address) =>
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, toForgeBytes(ipAddressToBytes(address))),
    ),
  ];
  return extension(extensionOids.subjectAltName, false, sequence(generalNames));
}
