/**
 * The port between Alliance and a cloud's token-issuing backend. Two implementations:
 * `static` (built in, issues its own tokens, configured from the file) and `keystone`
 * (a real Keystone over its v3 REST API). The node never needs to know which it has.
 */
import type { CatalogConfig } from '../config/types.js';

/** Why a token is not valid: the reason codes of alliance.v1.InvalidReason, as strings. */
export type InvalidReasonCode =
  | 'malformed'
  | 'bad-signature'
  | 'unknown-issuer'
  | 'expired'
  | 'not-yet-valid'
  | 'revoked'
  | 'unknown-token'
  | 'origin-unreachable';

export type TokenFormat = 'uuid' | 'fernet' | 'opaque' | 'jws' | 'federation';

/** Who a valid token speaks for, as its issuing cloud knows it. */
export interface TokenIdentity {
  userId: string;
  userName: string;
  /** The user's domain. */
  domainId: string;
  /** Empty for an unscoped or system-scoped token. */
  projectId: string;
  projectName: string;
  projectDomainId: string;
  roles: string[];
  originCloud: string;
  /** Keystone's audit ids: [the token's own, the chain's first] (the second only for rescoped tokens). */
  auditIds: string[];
  issuedAtMs: number;
  expiresAtMs: number;
  tokenFormat: TokenFormat;
}

export type TokenVerdict =
  { valid: true; identity: TokenIdentity } | { valid: false; reason: InvalidReasonCode; detail: string };

/** A revocation pattern as an identity source reports it (see src/revocation). */
export interface RevocationInput {
  /** Exactly one kind of target, or a combination Keystone emits (e.g. user + project). */
  tokenFingerprint?: string;
  auditId?: string;
  auditChainId?: string;
  userId?: string;
  projectId?: string;
  domainId?: string;
  /** Tokens issued at or before this instant match. */
  issuedBeforeMs: number;
  reason: string;
  /** Where it came from, e.g. "keystone-os-revoke", "keystone-notification", "static". */
  source: string;
  /** Keystone compares issued times at whole seconds; patterns from it keep that rule. */
  secondGranularity?: boolean;
}

/**
 * An account-state change the backend reported (a Keystone notification, or the built-in
 * source's own admin action), for the events capability to deliver to every cloud's services.
 */
export interface AccountEvent {
  /** One of the account event types of src/events (e.g. "identity.project.deleted"). */
  type: string;
  /** The id of the user, project or domain it is about. */
  subject: string;
  /** When it happened, at the backend. */
  timeMs: number;
  /** Details: ids, names, the domain a project was in, the role removed, ... */
  data: Record<string, unknown>;
  /** A stable id from the backend (e.g. the oslo message id), so a redelivery is recognised. */
  sourceId: string;
}

export interface IssueTokenInput {
  userName: string;
  password: string;
  projectName: string;
  /** Empty: the default domain. */
  domainName: string;
  format: 'opaque' | 'jws';
}

export interface IssuedToken {
  token: string;
  expiresAtMs: number;
  identity: TokenIdentity;
}

/** What remote provisioning of kind "project" asks of the target cloud's identity source. */
export interface ProjectProvisionInput {
  /** The provisioning request id: with requesterCloud, the idempotency key. */
  requestId: string;
  /** The cloud that asked (and whose user `userId` is). */
  requesterCloud: string;
  name: string;
  /** Empty: the backend's default domain. */
  domainId: string;
  /** A user id of the requester cloud. */
  userId: string;
  role: string;
  /** Aborted when the node stops: the work is left for the next start, which does it again. */
  signal?: AbortSignal;
}

export interface ProvisionedProjectResult {
  projectId: string;
  name: string;
  domainId: string;
  /** Who holds the role here: the remote user's id as this backend knows it (a shadow user in Keystone). */
  userId: string;
  /** The requester cloud's user id it stands for. */
  remoteUserId: string;
  role: string;
}

/**
 * Creates and deletes projects for remote provisioning. Both operations are idempotent per
 * (requesterCloud, requestId): a node that stopped half-way does the same request again at start.
 * Failures are AllianceErrors whose message is the detail the requester sees (ALREADY_EXISTS for
 * a name taken, INVALID_ARGUMENT for an unknown role or domain, PERMISSION_DENIED when the backend
 * refuses the node, UNAVAILABLE when it cannot be reached).
 */
export interface ProjectProvisioner {
  provisionProject(input: ProjectProvisionInput): Promise<ProvisionedProjectResult>;
  /** Deletes the project the request made; false when there is none. */
  deprovisionProject(input: {
    requestId: string;
    requesterCloud: string;
    signal?: AbortSignal;
  }): Promise<boolean>;
}

export interface IdentitySource {
  readonly kind: 'static' | 'keystone';
  /** How kind "project" of remote provisioning is executed here; null: this source cannot. */
  readonly projects: ProjectProvisioner | null;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * The authority's answer for a token this cloud issued (opaque or JWS): online, with
   * current roles. Never throws for a bad token; throws AllianceError('UNAVAILABLE') when
   * the backend cannot be reached.
   */
  validateToken(token: string, signal?: AbortSignal): Promise<TokenVerdict>;
  /** Static only; a Keystone source throws AllianceError('FAILED_PRECONDITION'). */
  issueToken(input: IssueTokenInput): Promise<IssuedToken>;
  /** PEM SubjectPublicKeyInfo keys that verify this cloud's JWS tokens (may be empty). */
  jwsPublicKeys(): Promise<string[]>;
  /** This cloud's catalog as the backend knows it; null: keep the configured one. */
  catalog(): Promise<CatalogConfig | null>;
  /** Revocations the backend produced (Keystone events, disabled users/projects, ...). */
  onRevocation(listener: (revocation: RevocationInput) => void): () => void;
  /**
   * Account-state changes. The source acknowledges the change to its backend (e.g. acks the
   * RabbitMQ message) only after every listener's promise resolved, so a listener that stores
   * the event durably before resolving makes the hand-over lossless.
   */
  onAccountEvent(listener: (event: AccountEvent) => Promise<void>): () => void;
}
