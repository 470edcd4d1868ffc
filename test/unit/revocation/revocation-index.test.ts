/**
 * The in-memory index answers exactly as a scan of every pattern with matchesToken would, over
 * random patterns and tokens drawn from small pools of values (so that they collide often), from
 * a seeded generator so that every run is the same.
 */
import { describe, expect, it } from 'vitest';
import { RevocationIndex, matchesToken, targetFields } from '../../../src/revocation/index.js';
import type { RevocationPattern, TokenFacts } from '../../../src/revocation/index.js';

const t0 = 1_700_000_000_000;

/** mulberry32: a small, seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function generator(seed: number) {
  const random = prng(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const pool = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const values = {
    tokenFingerprint: pool('fp', 60),
    auditId: pool('audit', 60),
    auditChainId: pool('audit', 60),
    userId: pool('user', 40),
    projectId: pool('project', 40),
    domainId: pool('domain', 30),
  };
  const clouds = ['cloud-a', 'cloud-b'];

  function pattern(i: number): RevocationPattern {
    const p: RevocationPattern = {
      id: `p${i}`,
      originCloud: pick(clouds),
      localOnly: random() < 0.2,
      issuedBeforeMs: t0 + Math.floor((random() - 0.5) * 10_000),
      secondGranularity: random() < 0.5,
      revokedAtMs: t0,
      expiresAtMs: t0 + Math.floor((random() - 0.2) * 20_000),
      reason: '',
      source: 'test',
    };
    // One to three targets, the rarer ones more often alone.
    const count = 1 + Math.floor(random() * 3);
    for (let k = 0; k < count; k++) {
      const field = pick(targetFields);
      p[field] = pick(values[field]);
    }
    return p;
  }

  function token(): TokenFacts {
    const own = pick(values.auditId);
    return {
      originCloud: pick(clouds),
      fingerprint: pick(values.tokenFingerprint),
      auditIds: random() < 0.5 ? [own] : [own, pick(values.auditChainId)],
      userId: pick(values.userId),
      projectId: random() < 0.2 ? '' : pick(values.projectId),
      domainIds: [pick(values.domainId), pick(values.domainId)],
      issuedAtMs: t0 + Math.floor((random() - 0.5) * 12_000),
    };
  }

  return { pattern, token, random };
}

function ids(patterns: RevocationPattern[]): string[] {
  return patterns.map((p) => p.id).sort();
}

describe('RevocationIndex', () => {
  it('finds exactly the patterns a scan of all of them finds, over 400 random patterns and 400 random tokens', () => {
    const gen = generator(42);
    const patterns = Array.from({ length: 400 }, (_, i) => gen.pattern(i));
    const index = new RevocationIndex();
    for (const p of patterns) index.add(p);
    const nowMs = t0 + 1_000;

    let matched = 0;
    for (let n = 0; n < 400; n++) {
      const facts = gen.token();
      const expected = patterns.filter((p) => matchesToken(p, facts, nowMs));
      expect(ids(index.allMatches(facts, nowMs))).toEqual(ids(expected));
      const first = index.firstMatch(facts, nowMs);
      if (expected.length === 0) expect(first).toBeNull();
      else expect(expected).toContain(first);
      if (expected.length > 0) matched++;
    }
    // The pools are small enough that the comparison covers both answers often.
    expect(matched).toBeGreaterThan(100);
    expect(matched).toBeLessThan(300);
  });

  it('still agrees with a scan after half the patterns are removed and the expired ones purged', () => {
    const gen = generator(7);
    const patterns = Array.from({ length: 300 }, (_, i) => gen.pattern(i));
    const index = new RevocationIndex();
    for (const p of patterns) index.add(p);
    const removed = patterns.filter(() => gen.random() < 0.5);
    for (const p of removed) expect(index.remove(p.originCloud, p.id)).toBe(p);
    const nowMs = t0 + 2_000;
    const purged = index.removeExpired(nowMs);
    const left = patterns.filter((p) => !removed.includes(p) && p.expiresAtMs > nowMs);

    expect(ids(purged)).toEqual(ids(patterns.filter((p) => !removed.includes(p) && p.expiresAtMs <= nowMs)));
    expect(ids([...index.values()])).toEqual(ids(left));
    expect(index.size).toBe(left.length);
    for (let n = 0; n < 300; n++) {
      const facts = gen.token();
      expect(ids(index.allMatches(facts, nowMs))).toEqual(
        ids(left.filter((p) => matchesToken(p, facts, nowMs))),
      );
    }
  });

  it('keeps patterns of two clouds that share an id apart, and counts each cloud', () => {
    const index = new RevocationIndex();
    const a: RevocationPattern = {
      id: 'same',
      originCloud: 'cloud-a',
      localOnly: false,
      userId: 'u',
      issuedBeforeMs: t0,
      secondGranularity: false,
      revokedAtMs: t0,
      expiresAtMs: t0 + 1000,
      reason: '',
      source: 'test',
    };
    const m = { ...a, originCloud: 'cloud-m' };
    expect([index.add(m), index.add(a), index.add({ ...a })]).toEqual([true, true, false]);
    expect([index.countFor('cloud-a'), index.countFor('cloud-m'), index.size]).toEqual([1, 1, 2]);
    expect(index.firstMatch({ ...factsOf('cloud-a'), userId: 'u' }, t0)).toBe(a);
    expect(index.remove('cloud-m', 'same')).toBe(m);
    expect([index.countFor('cloud-a'), index.countFor('cloud-m'), index.size]).toEqual([1, 0, 1]);
  });

  it('refuses a pattern with no target: it would match every token', () => {
    const index = new RevocationIndex();
    const noTarget: RevocationPattern = {
      id: 'x',
      originCloud: 'cloud-a',
      localOnly: false,
      issuedBeforeMs: t0,
      secondGranularity: false,
      revokedAtMs: t0,
      expiresAtMs: t0 + 1000,
      reason: '',
      source: 'test',
    };
    expect(() => index.add(noTarget)).toThrow(/no target field/);
    expect(index.size).toBe(0);
  });
});

function factsOf(cloud: string): TokenFacts {
  return {
    originCloud: cloud,
    fingerprint: 'f',
    auditIds: ['a'],
    userId: 'u',
    projectId: 'p',
    domainIds: ['d'],
    issuedAtMs: t0,
  };
}
