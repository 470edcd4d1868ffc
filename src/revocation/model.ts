/**
 * The revocation model, after Keystone's revocation events (keystone/models/revoke_model.py):
 * a pattern names some facts of a token (its fingerprint, an audit id, the user, project or
 * domain) and an instant; a token matches when it carries every fact the pattern names and
 * was issued at or before that instant. Pure data and functions: no I/O here.
 */

export interface RevocationPattern {
  /** Unique; also the record key of a federated revocation. */
  id: string;
  /** The cloud whose tokens it applies to: a cloud revokes only its own tokens federation-wide. */
  originCloud: string;
  /** A local-only denial applies to every cloud's tokens, at this node only. */
  localOnly: boolean;
  tokenFingerprint?: string;
  auditId?: string;
  auditChainId?: string;
  userId?: string;
  projectId?: string;
  /** Matches the user's domain or the project's domain. */
  domainId?: string;
  issuedBeforeMs: number;
  /** Keystone's events compare issued times truncated to whole seconds. */
  secondGranularity: boolean;
  revokedAtMs: number;
  /** After this, every token it could match has expired; the pattern is dropped. */
  expiresAtMs: number;
  reason: string;
  source: string;
}

/** What a validated token offers to revocation matching. */
export interface TokenFacts {
  originCloud: string;
  fingerprint: string;
  /** [own audit id, chain audit id?] as Keystone gives them. */
  auditIds: string[];
  userId: string;
  projectId: string;
  /** The user's domain and the project's domain. */
  domainIds: string[];
  issuedAtMs: number;
}
