/**
 * The pure revocation rules: matching (Keystone's revoke_model, plus fingerprint and origin
 * cloud), making a pattern from an input, checking it, and the deterministic id of Keystone
 * events. Table-driven; every case names the rule it pins down.
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidRevocationError,
  keystoneRevocationId,
  matchesToken,
  patternFromInput,
  validateNewPattern,
  validatePattern,
} from '../../../src/revocation/index.js';
import type { RevocationPattern, TokenFacts } from '../../../src/revocation/index.js';
import type { RevocationInput } from '../../../src/identity/types.js';

/** A whole second, so second-granularity edges are easy to read. */
const t0 = 1_700_000_000_000;
const hourMs = 3_600_000;

function pattern(overrides: Partial<RevocationPattern>): RevocationPattern {
  return {
    id: 'p1',
    originCloud: 'cloud-a',
    localOnly: false,
    issuedBeforeMs: t0,
    secondGranularity: false,
    revokedAtMs: t0,
    expiresAtMs: t0 + hourMs,
    reason: 'test',
    source: 'static',
    ...overrides,
  };
}

/** An original (not rescoped) project-scoped token of cloud-a, issued at t0. */
function token(overrides: Partial<TokenFacts> = {}): TokenFacts {
  return {
    originCloud: 'cloud-a',
    fingerprint: 'fp-1',
    auditIds: ['audit-own'],
    userId: 'user-1',
    projectId: 'project-1',
    domainIds: ['domain-user', 'domain-project'],
    issuedAtMs: t0,
    ...overrides,
  };
}

/** A token rescoped from the one whose audit id is 'audit-original'. */
const rescoped = token({ auditIds: ['audit-rescoped', 'audit-original'] });

interface Case {
  name: string;
  pattern: Partial<RevocationPattern>;
  token?: TokenFacts;
  nowMs?: number;
  matches: boolean;
}

const cases: Case[] = [
  // Each target alone.
  { name: 'the token fingerprint matches its token', pattern: { tokenFingerprint: 'fp-1' }, matches: true },
  { name: 'another fingerprint does not', pattern: { tokenFingerprint: 'fp-2' }, matches: false },
  { name: "an audit id matches the token's own audit id", pattern: { auditId: 'audit-own' }, matches: true },
  { name: 'another audit id does not', pattern: { auditId: 'audit-other' }, matches: false },
  {
    name: 'an audit id matches a rescoped token by its own id',
    pattern: { auditId: 'audit-rescoped' },
    token: rescoped,
    matches: true,
  },
  {
    name: 'an audit id does not match tokens rescoped from that token (Keystone: audit_id is audit_ids[0])',
    pattern: { auditId: 'audit-original' },
    token: rescoped,
    matches: false,
  },
  {
    name: 'a chain id matches every token rescoped from the original (Keystone: audit_chain_id is audit_ids[-1])',
    pattern: { auditChainId: 'audit-original' },
    token: rescoped,
    matches: true,
  },
  {
    name: 'a chain id matches the original token, its own chain',
    pattern: { auditChainId: 'audit-own' },
    matches: true,
  },
  {
    name: "a chain id naming a rescoped token's own id does not match it",
    pattern: { auditChainId: 'audit-rescoped' },
    token: rescoped,
    matches: false,
  },
  {
    name: 'a token without audit ids matches no audit pattern',
    pattern: { auditChainId: 'audit-own' },
    token: token({ auditIds: [] }),
    matches: false,
  },
  { name: 'a user matches', pattern: { userId: 'user-1' }, matches: true },
  { name: 'another user does not', pattern: { userId: 'user-2' }, matches: false },
  { name: 'a project matches', pattern: { projectId: 'project-1' }, matches: true },
  { name: 'another project does not', pattern: { projectId: 'project-2' }, matches: false },
  {
    name: 'a project does not match an unscoped token',
    pattern: { projectId: 'project-1' },
    token: token({ projectId: '' }),
    matches: false,
  },
  { name: "a domain matches through the user's domain", pattern: { domainId: 'domain-user' }, matches: true },
  {
    name: "a domain matches through the project's domain",
    pattern: { domainId: 'domain-project' },
    matches: true,
  },
  { name: 'another domain does not', pattern: { domainId: 'domain-other' }, matches: false },
  // Combinations: every field set must match.
  {
    name: 'user and project both matching',
    pattern: { userId: 'user-1', projectId: 'project-1' },
    matches: true,
  },
  {
    name: 'user matching, project not',
    pattern: { userId: 'user-1', projectId: 'project-2' },
    matches: false,
  },
  {
    name: 'a chain revoked within a project (Keystone revoke_chain) in that project',
    pattern: { auditChainId: 'audit-original', projectId: 'project-1' },
    token: rescoped,
    matches: true,
  },
  {
    name: 'a chain revoked within a project, for a token of the chain in another project',
    pattern: { auditChainId: 'audit-original', projectId: 'project-1' },
    token: { ...rescoped, projectId: 'project-2' },
    matches: false,
  },
  {
    name: 'fingerprint, user and domain all matching',
    pattern: { tokenFingerprint: 'fp-1', userId: 'user-1', domainId: 'domain-project' },
    matches: true,
  },
  {
    name: 'an empty target field counts as unset',
    pattern: { userId: 'user-1', projectId: '' },
    token: token({ projectId: 'project-9' }),
    matches: true,
  },
  // issued_before, at milliseconds.
  { name: 'a token issued at issued_before exactly', pattern: { userId: 'user-1' }, matches: true },
  {
    name: 'a token issued 1 ms after issued_before',
    pattern: { userId: 'user-1' },
    token: token({ issuedAtMs: t0 + 1 }),
    matches: false,
  },
  {
    name: 'a token issued long before',
    pattern: { userId: 'user-1' },
    token: token({ issuedAtMs: t0 - hourMs }),
    matches: true,
  },
  // issued_before, at whole seconds (Keystone).
  {
    name: 'at second granularity, a token issued in the last millisecond of the same second',
    pattern: { userId: 'user-1', secondGranularity: true },
    token: token({ issuedAtMs: t0 + 999 }),
    matches: true,
  },
  {
    name: 'at second granularity, a token issued in the next second',
    pattern: { userId: 'user-1', secondGranularity: true },
    token: token({ issuedAtMs: t0 + 1000 }),
    matches: false,
  },
  {
    name: 'at second granularity, a token issued in the second before',
    pattern: { userId: 'user-1', secondGranularity: true, issuedBeforeMs: t0 + 500 },
    token: token({ issuedAtMs: t0 - 1 }),
    matches: true,
  },
  {
    name: 'at millisecond granularity, a token issued later in the same second',
    pattern: { userId: 'user-1', issuedBeforeMs: t0 + 500 },
    token: token({ issuedAtMs: t0 + 501 }),
    matches: false,
  },
  // Expiry.
  {
    name: 'a pattern one millisecond before it expires',
    pattern: { userId: 'user-1' },
    nowMs: t0 + hourMs - 1,
    matches: true,
  },
  {
    name: 'an expired pattern matches nothing',
    pattern: { userId: 'user-1' },
    nowMs: t0 + hourMs,
    matches: false,
  },
  // Origin cloud.
  {
    name: "a federated pattern ignores another cloud's token with the same user id",
    pattern: { userId: 'user-1' },
    token: token({ originCloud: 'cloud-b' }),
    matches: false,
  },
  {
    name: "a local-only denial applies to another cloud's token",
    pattern: { userId: 'user-1', localOnly: true },
    token: token({ originCloud: 'cloud-b' }),
    matches: true,
  },
];

describe('matchesToken', () => {
  it.each(cases)('$name: $matches', (c) => {
    expect(matchesToken(pattern(c.pattern), c.token ?? token(), c.nowMs ?? t0)).toBe(c.matches);
  });
});

const keystoneInput: RevocationInput = {
  userId: 'user-1',
  issuedBeforeMs: t0 + 250,
  reason: 'user disabled',
  source: 'keystone-os-revoke',
};

describe('patternFromInput', () => {
  it('makes a Keystone pattern whole-second, holding the last millisecond of its second, expiring a retention later', () => {
    expect(
      patternFromInput(keystoneInput, {
        originCloud: 'cloud-a',
        localOnly: false,
        nowMs: t0 + 2000,
        retentionMs: hourMs,
        id: 'k1',
      }),
    ).toEqual({
      id: 'k1',
      originCloud: 'cloud-a',
      localOnly: false,
      userId: 'user-1',
      issuedBeforeMs: t0 + 999,
      secondGranularity: true,
      revokedAtMs: t0 + 2000,
      expiresAtMs: t0 + 999 + hourMs,
      reason: 'user disabled',
      source: 'keystone-os-revoke',
    });
  });

  it('keeps milliseconds for other sources and drops empty targets', () => {
    expect(
      patternFromInput(
        { auditId: 'a1', projectId: '', issuedBeforeMs: t0 + 250, reason: 'logout', source: 'static' },
        { originCloud: 'cloud-b', localOnly: true, nowMs: t0 + 300, retentionMs: hourMs, id: 'r1' },
      ),
    ).toEqual({
      id: 'r1',
      originCloud: 'cloud-b',
      localOnly: true,
      auditId: 'a1',
      issuedBeforeMs: t0 + 250,
      secondGranularity: false,
      revokedAtMs: t0 + 300,
      expiresAtMs: t0 + 250 + hourMs,
      reason: 'logout',
      source: 'static',
    });
  });

  it('lets an input ask for whole seconds explicitly, or refuse them for Keystone', () => {
    const ctx = { originCloud: 'cloud-a', localOnly: false, nowMs: t0, retentionMs: hourMs, id: 'x' };
    expect(
      patternFromInput({ ...keystoneInput, source: 'static', secondGranularity: true }, ctx).issuedBeforeMs,
    ).toBe(t0 + 999);
    expect(patternFromInput({ ...keystoneInput, secondGranularity: false }, ctx).issuedBeforeMs).toBe(
      t0 + 250,
    );
  });
});

describe('validating a pattern', () => {
  function reasonOf(fn: () => void): string {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidRevocationError);
      const invalid = err as InvalidRevocationError;
      expect(invalid.code).toBe('INVALID_ARGUMENT');
      return invalid.reason;
    }
    return 'accepted';
  }

  it.each([
    { name: 'a pattern with a target', pattern: pattern({ userId: 'u' }), reason: 'accepted' },
    { name: 'a pattern with no target', pattern: pattern({}), reason: 'no-target' },
    {
      name: 'a pattern whose targets are all empty',
      pattern: pattern({ userId: '', domainId: '' }),
      reason: 'no-target',
    },
    { name: 'a pattern without an id', pattern: pattern({ userId: 'u', id: '' }), reason: 'malformed' },
    {
      name: 'a pattern without a cloud',
      pattern: pattern({ userId: 'u', originCloud: '' }),
      reason: 'malformed',
    },
    { name: 'a 256-byte user id', pattern: pattern({ userId: 'u'.repeat(256) }), reason: 'field-too-long' },
    { name: 'a 255-byte user id', pattern: pattern({ userId: 'u'.repeat(255) }), reason: 'accepted' },
    {
      name: 'a reason above 1 KiB',
      pattern: pattern({ userId: 'u', reason: 'r'.repeat(1025) }),
      reason: 'field-too-long',
    },
    {
      name: 'an issued_before that is not a number',
      pattern: pattern({ userId: 'u', issuedBeforeMs: NaN }),
      reason: 'bad-time',
    },
    {
      name: 'a fractional expiry',
      pattern: pattern({ userId: 'u', expiresAtMs: t0 + 0.5 }),
      reason: 'bad-time',
    },
  ])('$name: $reason', ({ pattern: p, reason }) => {
    expect(reasonOf(() => validatePattern(p))).toBe(reason);
  });

  it('accepts a new pattern up to 5 minutes ahead of the clock, and refuses one further ahead', () => {
    const skewMs = 5 * 60 * 1000;
    expect(
      reasonOf(() => validateNewPattern(pattern({ userId: 'u', issuedBeforeMs: t0 + skewMs }), t0)),
    ).toBe('accepted');
    expect(
      reasonOf(() => validateNewPattern(pattern({ userId: 'u', issuedBeforeMs: t0 + skewMs + 1 }), t0)),
    ).toBe('issued-before-in-future');
  });
});

describe('keystoneRevocationId', () => {
  const ctx = { originCloud: 'cloud-a', localOnly: false, nowMs: t0, retentionMs: hourMs, id: '' };
  const id = keystoneRevocationId(patternFromInput(keystoneInput, ctx));

  it('is the same for the same event seen again later, from another channel, with another reason', () => {
    const again = patternFromInput(
      { ...keystoneInput, reason: 'identity.user.updated', source: 'keystone-notification' },
      { ...ctx, nowMs: t0 + 60_000 },
    );
    expect(keystoneRevocationId(again)).toBe(id);
    expect(id).toMatch(/^keystone-[0-9a-f]{32}$/);
  });

  it('differs when anything that decides what it matches differs', () => {
    const variants = [
      patternFromInput({ ...keystoneInput, userId: 'user-2' }, ctx),
      patternFromInput({ ...keystoneInput, issuedBeforeMs: t0 + 1000 }, ctx),
      patternFromInput({ ...keystoneInput, projectId: 'project-1' }, ctx),
      patternFromInput(keystoneInput, { ...ctx, originCloud: 'cloud-b' }),
      patternFromInput(keystoneInput, { ...ctx, localOnly: true }),
    ].map(keystoneRevocationId);
    expect(new Set([id, ...variants]).size).toBe(6);
  });
});
