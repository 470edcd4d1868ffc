/**
 * Answers already given, by token fingerprint, so a repeated validation is a map lookup.
 * A positive answer lives until its token expires, unless a revocation that matches it
 * arrives first: revocations invalidate entries (DESIGN.md §6), time only ends them.
 * Bounded: past the limit the oldest entry goes first.
 */
import type { ValidateTokenResponse } from '../gen/alliance/v1/tokens.js';
import type { RevocationPattern, TokenFacts } from '../revocation/model.js';

export interface CachedValidation {
  response: ValidateTokenResponse;
  /** What revocations are matched against; null for a negative answer. */
  facts: TokenFacts | null;
  /** Unix ms after which the entry is not used. */
  expiresAtMs: number;
}

export class ValidationCache {
  private readonly entries = new Map<string, CachedValidation>();

  constructor(private readonly entriesMax: number) {}

  get(fingerprint: string, nowMs: number): CachedValidation | undefined {
    const entry = this.entries.get(fingerprint);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.entries.delete(fingerprint);
      return undefined;
    }
    return entry;
  }

  set(fingerprint: string, entry: CachedValidation): void {
    this.entries.delete(fingerprint);
    if (this.entries.size >= this.entriesMax) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(fingerprint, entry);
  }

  /**
   * Turns every positive entry `pattern` matches into `revoked` (kept until the token would
   * have expired); returns how many. The answer stays "revoked", not whatever the issuer says
   * next: Keystone answers a revoked token with 404, which would read as "unknown token".
   * A scan: revocations are rare next to validations, and this keeps the validation path free
   * of any index upkeep.
   */
  invalidate(
    pattern: RevocationPattern,
    matches: (pattern: RevocationPattern, facts: TokenFacts) => boolean,
    revoked: (pattern: RevocationPattern) => ValidateTokenResponse,
  ): number {
    let changed = 0;
    for (const [fingerprint, entry] of this.entries) {
      if (entry.facts && matches(pattern, entry.facts)) {
        this.entries.set(fingerprint, {
          response: revoked(pattern),
          facts: null,
          expiresAtMs: entry.expiresAtMs,
        });
        changed++;
      }
    }
    return changed;
  }

  get size(): number {
    return this.entries.size;
  }
}
