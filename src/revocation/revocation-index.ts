/**
 * Revocation patterns in memory, indexed so that checking a token looks only at the patterns
 * that could match it. A pattern matches only a token that carries every target it sets, so it
 * is filed under one of them (the most selective it has: fingerprint, then audit id, chain, user,
 * project, domain) and a token looks in six places: its fingerprint, its own audit id, its chain
 * id, its user, its project and each of its domains. The cost is the number of patterns filed
 * under those values, never the number held (Keystone's revoke tree has the same aim).
 *
 * Patterns are keyed by (origin cloud, id), not by id alone: a cloud cannot shadow another
 * cloud's revocation by publishing one of its own under the same id first.
 */
import assert from 'node:assert/strict';
import { chainAuditId, isSet, matchesToken, ownAuditId, targetFields } from './match.js';
import type { TargetField } from './match.js';
import type { RevocationPattern, TokenFacts } from './model.js';

type Buckets = Map<string, Map<string, RevocationPattern>>;

export class RevocationIndex {
  private readonly byKey = new Map<string, RevocationPattern>();
  private readonly byField = new Map<TargetField, Buckets>(targetFields.map((field) => [field, new Map()]));
  private readonly perCloud = new Map<string, number>();

  get size(): number {
    return this.byKey.size;
  }

  has(originCloud: string, id: string): boolean {
    return this.byKey.has(keyOf(originCloud, id));
  }

  get(originCloud: string, id: string): RevocationPattern | undefined {
    return this.byKey.get(keyOf(originCloud, id));
  }

  /** Patterns held under `cloud`, expired ones included until removed. */
  countFor(cloud: string): number {
    return this.perCloud.get(cloud) ?? 0;
  }

  /** Adds `pattern` unless one of its cloud with its id is held; true when it was added. */
  add(pattern: RevocationPattern): boolean {
    const key = keyOf(pattern.originCloud, pattern.id);
    if (this.byKey.has(key)) return false;
    const [field, value] = filingKey(pattern);
    this.byKey.set(key, pattern);
    const buckets = this.buckets(field);
    let bucket = buckets.get(value);
    if (!bucket) buckets.set(value, (bucket = new Map()));
    bucket.set(key, pattern);
    this.perCloud.set(pattern.originCloud, this.countFor(pattern.originCloud) + 1);
    return true;
  }

  /** Removes the pattern of `originCloud` with `id`; the pattern, or undefined when none was held. */
  remove(originCloud: string, id: string): RevocationPattern | undefined {
    const key = keyOf(originCloud, id);
    const pattern = this.byKey.get(key);
    if (!pattern) return undefined;
    this.byKey.delete(key);
    const [field, value] = filingKey(pattern);
    const buckets = this.buckets(field);
    const bucket = buckets.get(value);
    bucket?.delete(key);
    if (bucket?.size === 0) buckets.delete(value);
    const count = this.countFor(pattern.originCloud) - 1;
    if (count > 0) this.perCloud.set(pattern.originCloud, count);
    else this.perCloud.delete(pattern.originCloud);
    return pattern;
  }

  /** A live pattern matching the token, or null: the validation hot path, so no scan and no I/O. */
  firstMatch(facts: TokenFacts, nowMs: number): RevocationPattern | null {
    const found =
      this.firstIn('tokenFingerprint', facts.fingerprint, facts, nowMs) ??
      this.firstIn('auditId', ownAuditId(facts), facts, nowMs) ??
      this.firstIn('auditChainId', chainAuditId(facts), facts, nowMs) ??
      this.firstIn('userId', facts.userId, facts, nowMs) ??
      this.firstIn('projectId', facts.projectId, facts, nowMs);
    if (found) return found;
    for (let i = 0; i < facts.domainIds.length; i++) {
      const domain = facts.domainIds[i];
      // The user's and the project's domain are often the same: look once.
      if (facts.domainIds.indexOf(domain as string) !== i) continue;
      const match = this.firstIn('domainId', domain, facts, nowMs);
      if (match) return match;
    }
    return null;
  }

  /** Every live pattern matching the token, in no particular order. */
  allMatches(facts: TokenFacts, nowMs: number): RevocationPattern[] {
    const lookups: [TargetField, string | undefined][] = [
      ['tokenFingerprint', facts.fingerprint],
      ['auditId', ownAuditId(facts)],
      ['auditChainId', chainAuditId(facts)],
      ['userId', facts.userId],
      ['projectId', facts.projectId],
      ...[...new Set(facts.domainIds)].map((domain): [TargetField, string] => ['domainId', domain]),
    ];
    const matches: RevocationPattern[] = [];
    for (const [field, value] of lookups) {
      if (!isSet(value)) continue;
      for (const pattern of this.buckets(field).get(value)?.values() ?? []) {
        if (matchesToken(pattern, facts, nowMs)) matches.push(pattern);
      }
    }
    return matches;
  }

  /** Every pattern held, expired ones included until removed. */
  values(): IterableIterator<RevocationPattern> {
    return this.byKey.values();
  }

  /** Removes every pattern expired at `nowMs`; returns them. */
  removeExpired(nowMs: number): RevocationPattern[] {
    const expired = [...this.byKey.values()].filter((pattern) => pattern.expiresAtMs <= nowMs);
    for (const pattern of expired) this.remove(pattern.originCloud, pattern.id);
    return expired;
  }

  private firstIn(
    field: TargetField,
    value: string | undefined,
    facts: TokenFacts,
    nowMs: number,
  ): RevocationPattern | null {
    if (!isSet(value)) return null;
    const bucket = this.buckets(field).get(value);
    if (!bucket) return null;
    for (const pattern of bucket.values()) if (matchesToken(pattern, facts, nowMs)) return pattern;
    return null;
  }

  private buckets(field: TargetField): Buckets {
    const buckets = this.byField.get(field);
    assert(buckets, `no index for ${field}`);
    return buckets;
  }
}

/** Length-prefixed, so no pair of strings can spell another pair. */
function keyOf(originCloud: string, id: string): string {
  return `${originCloud.length}:${originCloud}${id}`;
}

/** The field a pattern is filed under: its most selective target. */
function filingKey(pattern: RevocationPattern): [TargetField, string] {
  for (const field of targetFields) {
    const value = pattern[field];
    if (isSet(value)) return [field, value];
  }
  assert.fail(`revocation ${pattern.id} has no target field: validate patterns before indexing them`);
}
