/**
 * Patterns as alliance.v1.Revocation, and the check every federated record passes: it decodes,
 * names a target, is keyed by its id, is not local-only, and revokes only its publisher's tokens.
 */
import { describe, expect, it } from 'vitest';
import { Revocation } from '../../../src/gen/alliance/v1/tokens.js';
import {
  InvalidRevocationError,
  decodePublishedRevocation,
  decodeRevocation,
  encodeRevocation,
  revocationToProto,
} from '../../../src/revocation/index.js';
import type { RevocationPattern } from '../../../src/revocation/index.js';

const t0 = 1_700_000_000_000;

const userPattern: RevocationPattern = {
  id: 'r1',
  originCloud: 'cloud-a',
  localOnly: false,
  userId: 'user-1',
  issuedBeforeMs: t0 + 250,
  secondGranularity: false,
  revokedAtMs: t0 + 300,
  expiresAtMs: t0 + 3_600_250,
  reason: 'logout',
  source: 'static',
};

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRevocationError);
    return (err as InvalidRevocationError).reason;
  }
  return 'accepted';
}

describe('the wire form', () => {
  it('is an alliance.v1.Revocation with Timestamps and empty strings for unset targets', () => {
    expect(revocationToProto(userPattern)).toEqual({
      id: 'r1',
      originCloud: 'cloud-a',
      localOnly: false,
      tokenFingerprint: '',
      auditId: '',
      auditChainId: '',
      userId: 'user-1',
      projectId: '',
      domainId: '',
      issuedBefore: new Date(t0 + 250),
      revokedAt: new Date(t0 + 300),
      expiresAt: new Date(t0 + 3_600_250),
      reason: 'logout',
    });
  });

  it('decodes to the same pattern, named after where it came from', () => {
    expect(decodeRevocation(encodeRevocation(userPattern), 'mesh:cloud-a/n1')).toEqual({
      ...userPattern,
      source: 'mesh:cloud-a/n1',
    });
  });

  it('keeps whole-second comparison through issued_before ending in 999 ms', () => {
    const keystone: RevocationPattern = {
      ...userPattern,
      issuedBeforeMs: t0 + 999,
      secondGranularity: true,
      source: 'keystone-os-revoke',
    };
    expect(decodeRevocation(encodeRevocation(keystone), 'keystone-os-revoke')).toEqual(keystone);
  });

  it('refuses bytes that are not a Revocation, and a Revocation without times', () => {
    expect(reasonOf(() => decodeRevocation(Uint8Array.from([0x0a, 0xff, 0x01]), 'x'))).toBe('malformed');
    const noTimes = Revocation.encode({
      ...revocationToProto(userPattern),
      issuedBefore: undefined,
    }).finish();
    expect(reasonOf(() => decodeRevocation(noTimes, 'x'))).toBe('bad-time');
  });
});

describe('a federated record', () => {
  const record = (pattern: RevocationPattern, overrides: { origin?: string; key?: string } = {}) => ({
    origin: overrides.origin ?? 'cloud-a/n1',
    key: overrides.key ?? pattern.id,
    payload: encodeRevocation(pattern),
  });

  it.each([
    { name: "a revocation of its publisher's cloud", rec: record(userPattern), reason: 'accepted' },
    {
      name: "from another node of the publisher's cloud",
      rec: record(userPattern, { origin: 'cloud-a/n2' }),
      reason: 'accepted',
    },
    {
      name: "claiming another cloud's tokens",
      rec: record(userPattern, { origin: 'cloud-m/n1' }),
      reason: 'wrong-origin-cloud',
    },
    {
      name: 'flagged local-only (it would deny every cloud everywhere)',
      rec: record({ ...userPattern, localOnly: true }),
      reason: 'local-only-published',
    },
    { name: 'keyed other than by its id', rec: record(userPattern, { key: 'r2' }), reason: 'key-mismatch' },
    { name: 'naming no target', rec: record({ ...userPattern, userId: undefined }), reason: 'no-target' },
  ])('$name: $reason', ({ rec, reason }) => {
    expect(reasonOf(() => decodePublishedRevocation(rec))).toBe(reason);
  });
});
