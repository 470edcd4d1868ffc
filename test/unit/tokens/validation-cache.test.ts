/**
 * The validation cache: bounded (the oldest entry goes first), entries end at their expiry, and
 * a revocation drops exactly the positive entries it matches (with revocation's own
 * matchesToken), never a negative answer.
 */
import { describe, expect, it } from 'vitest';
import { ValidateTokenResponse } from '../../../src/gen/alliance/v1/tokens.js';
import { matchesToken } from '../../../src/revocation/index.js';
import type { RevocationPattern, TokenFacts } from '../../../src/revocation/index.js';
import { invalidResponse } from '../../../src/tokens/index.js';
import { ValidationCache } from '../../../src/tokens/validation-cache.js';
import type { CachedValidation } from '../../../src/tokens/validation-cache.js';
import { fixedNowMs } from './jws-helpers.js';

const nowMs = fixedNowMs;

function facts(fingerprint: string, overrides: Partial<TokenFacts> = {}): TokenFacts {
  return {
    originCloud: 'cloud-a',
    fingerprint,
    auditIds: [`audit-${fingerprint}`],
    userId: 'u-alice',
    projectId: 'p-demo',
    domainIds: ['default'],
    issuedAtMs: nowMs - 60_000,
    ...overrides,
  };
}

function positive(
  fingerprint: string,
  overrides: Partial<TokenFacts> = {},
  expiresAtMs = nowMs + 3_600_000,
): CachedValidation {
  return {
    response: ValidateTokenResponse.fromPartial({ valid: true, detail: fingerprint }),
    facts: facts(fingerprint, overrides),
    expiresAtMs,
  };
}

function negative(fingerprint: string, expiresAtMs = nowMs + 30_000): CachedValidation {
  return {
    response: ValidateTokenResponse.fromPartial({ valid: false, detail: fingerprint }),
    facts: null,
    expiresAtMs,
  };
}

function pattern(targets: Partial<RevocationPattern>): RevocationPattern {
  return {
    id: 'rev-1',
    originCloud: 'cloud-a',
    localOnly: false,
    issuedBeforeMs: nowMs,
    secondGranularity: false,
    revokedAtMs: nowMs,
    expiresAtMs: nowMs + 3_600_000,
    reason: 'test',
    source: 'alliance-api',
    ...targets,
  };
}

const matches = (p: RevocationPattern, f: TokenFacts): boolean => matchesToken(p, f, nowMs);

/** The fingerprints still answered at `atMs`, of those asked. */
function held(cache: ValidationCache, fingerprints: string[], atMs = nowMs): string[] {
  return fingerprints.filter((f) => cache.get(f, atMs) !== undefined);
}

/** The fingerprints whose cached answer is still "valid". */
function validHeld(cache: ValidationCache, fingerprints: string[], atMs = nowMs): string[] {
  return fingerprints.filter((f) => cache.get(f, atMs)?.response.valid === true);
}

const revoked = (p: RevocationPattern) => invalidResponse('revoked', `revoked: ${p.reason}`);

describe('ValidationCache: bound and expiry', () => {
  it('returns what was stored, until its expiry instant', () => {
    const cache = new ValidationCache(10);
    const entry = positive('t1', {}, nowMs + 1000);
    cache.set('t1', entry);
    expect(cache.get('t1', nowMs + 999)).toEqual(entry);
    expect(cache.get('t1', nowMs + 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops the oldest entry when full', () => {
    const cache = new ValidationCache(3);
    for (const f of ['t1', 't2', 't3', 't4']) cache.set(f, positive(f));
    expect(cache.size).toBe(3);
    expect(held(cache, ['t1', 't2', 't3', 't4'])).toEqual(['t2', 't3', 't4']);
  });

  it('counts an entry stored again as new: it is not the oldest any more', () => {
    const cache = new ValidationCache(3);
    for (const f of ['t1', 't2', 't3']) cache.set(f, positive(f));
    cache.set('t1', negative('t1'));
    cache.set('t4', positive('t4'));
    expect(held(cache, ['t1', 't2', 't3', 't4'])).toEqual(['t1', 't3', 't4']);
    expect(cache.get('t1', nowMs)?.response.valid).toBe(false);
  });

  it('replacing an entry when full drops nothing else', () => {
    const cache = new ValidationCache(2);
    cache.set('t1', positive('t1'));
    cache.set('t2', positive('t2'));
    cache.set('t2', negative('t2'));
    expect(held(cache, ['t1', 't2'])).toEqual(['t1', 't2']);
  });
});

describe('ValidationCache: invalidation by a revocation', () => {
  function filled(): ValidationCache {
    const cache = new ValidationCache(100);
    cache.set('alice-demo', positive('alice-demo'));
    cache.set('alice-ops', positive('alice-ops', { projectId: 'p-ops' }));
    cache.set('bob-demo', positive('bob-demo', { userId: 'u-bob' }));
    cache.set('alice-demo-b', positive('alice-demo-b', { originCloud: 'cloud-b' }));
    cache.set('alice-later', positive('alice-later', { issuedAtMs: nowMs + 1 }));
    cache.set('rescoped', positive('rescoped', { auditIds: ['own', 'audit-alice-demo'] }));
    cache.set('refused', negative('refused'));
    return cache;
  }
  const all = ['alice-demo', 'alice-ops', 'bob-demo', 'alice-demo-b', 'alice-later', 'rescoped', 'refused'];

  it.each<[string, Partial<RevocationPattern>, string[]]>([
    [
      'a user: their tokens of this cloud issued before',
      { userId: 'u-alice' },
      ['alice-demo', 'alice-ops', 'rescoped'],
    ],
    ['a project', { projectId: 'p-ops' }, ['alice-ops']],
    ['a token fingerprint', { tokenFingerprint: 'bob-demo' }, ['bob-demo']],
    ['an audit id: the token’s own only', { auditId: 'audit-alice-demo' }, ['alice-demo']],
    [
      'an audit chain: the original and the token rescoped from it',
      { auditChainId: 'audit-alice-demo' },
      ['alice-demo', 'rescoped'],
    ],
    ['a user and a project together', { userId: 'u-alice', projectId: 'p-demo' }, ['alice-demo', 'rescoped']],
    [
      'a local-only denial of a user: every cloud’s tokens',
      { userId: 'u-alice', localOnly: true },
      ['alice-demo', 'alice-ops', 'alice-demo-b', 'rescoped'],
    ],
    ['another cloud’s user', { userId: 'u-alice', originCloud: 'cloud-c' }, []],
    ['an expired pattern', { userId: 'u-alice', expiresAtMs: nowMs }, []],
  ])(
    'turns exactly what %s matches into "revoked", kept until the token expires',
    (_name, targets, revokedOnes) => {
      const cache = filled();
      const revocation = pattern(targets);
      expect(cache.invalidate(revocation, matches, revoked)).toBe(revokedOnes.length);
      // The negative entry `refused` never was "valid"; the rest stay valid unless matched.
      expect(validHeld(cache, all)).toEqual(all.filter((f) => f !== 'refused' && !revokedOnes.includes(f)));
      for (const f of revokedOnes) {
        expect(cache.get(f, nowMs)).toEqual({
          response: revoked(revocation),
          facts: null,
          expiresAtMs: expect.any(Number),
        });
      }
    },
  );

  it('never changes a negative answer, even one whose fingerprint the pattern names', () => {
    const cache = filled();
    const before = cache.get('refused', nowMs);
    expect(cache.invalidate(pattern({ tokenFingerprint: 'refused' }), matches, revoked)).toBe(0);
    expect(cache.get('refused', nowMs)).toEqual(before);
  });
});
