/**
 * The built-in identity source: a small Keystone configured from the node's config file, for the
 * demo and for clouds without a Keystone.
 *
 * - Users, projects, domains and role assignments come from the config; an operator's runtime
 *   enable/disable (IdentityAdmin) is persisted and wins over the config across restarts.
 * - Passwords are compared in constant time over their SHA-256, and an unknown user costs the
 *   same comparison, so the answer and its timing never tell which of name or password was wrong.
 * - Tokens come in Keystone's two shapes: opaque (32 hex characters like a UUID token; only its
 *   SHA-256 is stored) and JWS (ES256, exactly Keystone's header and claims, signed with a P-256
 *   key persisted like Keystone's jws key pair).
 * - Validation re-reads everything that can change (user and project enabled, role assignments)
 *   on every call, as Keystone re-derives roles at validation: nothing cached outlives a disable.
 * - Disabling a user or a project emits one revocation (Keystone emits `{user_id}` for a user;
 *   for a project we also emit `{project_id}`, so every cloud drops its tokens at once). A
 *   re-enable emits nothing, and tokens issued before the disable stay revoked.
 * - Disabling an enabled user or project is also an account event (identity.user.disabled,
 *   identity.project.disabled), written to an outbox in the same transaction as the new state and
 *   offered to every onAccountEvent listener; it leaves the outbox once all of them resolved. The
 *   result's `accountEvent` settles after that first offer (the IdentityAdmin handler awaits it,
 *   so the admin call resolves after the hand-over). A listener that fails leaves the event in the
 *   outbox: it is offered again with backoff, and after a restart (start()), in order, under the
 *   same sourceId. The source deletes nothing, so it reports no deletions.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { settleListener } from '../settle-listener.js';
import type { StaticIdentityConfig, StaticProjectConfig, StaticUserConfig } from '../../config/types.js';
import type { Clock, Timer } from '../../lib/clock.js';
import { AllianceError, errorMessage } from '../../lib/errors.js';
import { fingerprint } from '../../lib/fingerprint.js';
import type { Logger } from '../../lib/logger.js';
import type { SqliteDatabase } from '../../store/database.js';
import type {
  AccountEvent,
  IdentitySource,
  IssuedToken,
  IssueTokenInput,
  RevocationInput,
  TokenFormat,
  TokenIdentity,
  TokenVerdict,
} from '../types.js';
import { buildDirectory, type Directory } from './directory.js';
import { createStaticIdentityStore, type EnabledState, type SubjectKind } from './identity-store.js';
import { loadOrCreateJwsKey } from './jws-key.js';
import { createProvisionedProjectStore, type ProvisionedProject } from './provisioned-projects.js';
import { signKeystoneJws, verifyKeystoneJws } from './keystone-jws.js';

/** Every bound of the static identity source, with its reason. */
export const staticIdentityLimits = {
  /** Longest token read. Keystone's JWS tokens are ~350 bytes and UUID tokens 32. */
  tokenBytesMax: 8 * 1024,
  /** Keystone's `[identity] max_password_length`. */
  passwordBytesMax: 4096,
  /** Keystone's column width for user, project and domain names. */
  nameBytesMax: 255,
  /** A JWS `iat` further in the future than this (clock skew) is not yet valid. */
  issuedAtFutureMaxMs: 5 * 60 * 1000,
  /** How often rows of expired opaque tokens are deleted. */
  purgeIntervalMs: 60 * 1000,
  /** An expired opaque token answers 'expired' this long, then 'unknown-token'. */
  expiredTokenRetentionMs: 60 * 60 * 1000,
  /**
   * Live opaque tokens (one row each, ~200 bytes): a day of 10 logins a second. Beyond it,
   * issuing answers RESOURCE_EXHAUSTED instead of growing the database without bound.
   */
  opaqueTokensMax: 1_000_000,
  /** Shortest token lifetime: JWS times are whole seconds. */
  tokenTtlMinMs: 1000,
  /** A listener that has not settled by then counts as failed; the event is offered again later. */
  accountEventListenerTimeoutMs: 30 * 1000,
  /** Pace of offering a refused account event again, doubling from min to max. */
  accountEventRetryMinMs: 1000,
  accountEventRetryMaxMs: 60 * 1000,
} as const;

/**
 * How the account event of an enabled-state change was handed over: 'none' (the change caused
 * none), 'delivered' (every listener resolved), 'pending' (a listener failed or the source is
 * stopping; the event waits in the outbox and is offered again).
 */
export type AccountEventHandOver = 'none' | 'delivered' | 'pending';

export interface StaticIdentityDeps {
  db: SqliteDatabase;
  clock: Clock;
  log: Logger;
  /** Where the JWS signing key (EC P-256, PKCS #8 PEM, mode 0600) is kept; created if absent. */
  jwsKeyPath: string;
}

export interface StaticIdentityOptions {
  /** This cloud's id: the origin of every token issued here. */
  cloud: string;
  config: StaticIdentityConfig;
}

export interface StaticUser {
  id: string;
  name: string;
  domainId: string;
  /** The effective state: the operator's last choice, else the config's. */
  enabled: boolean;
  assignments: { project: string; role: string }[];
}

export interface StaticProject {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
}

export interface UserEnabledResult {
  user: StaticUser;
  /** What was emitted to onRevocation listeners: set only when an enabled user was disabled. */
  revocation: RevocationInput | null;
  /**
   * Settles (never rejects) once the identity.user.disabled event of this call, if any, was offered
   * to every onAccountEvent listener; the IdentityAdmin handler awaits it before answering.
   */
  accountEvent: Promise<AccountEventHandOver>;
}

export interface ProjectEnabledResult {
  project: StaticProject;
  /** What was emitted to onRevocation listeners: set only when an enabled project was disabled. */
  revocation: RevocationInput | null;
  /** As UserEnabledResult.accountEvent, for identity.project.disabled. */
  accountEvent: Promise<AccountEventHandOver>;
}

export interface StaticIdentity extends IdentitySource {
  readonly kind: 'static';
  /**
   * By user id, or by name in the default domain. Durable before it returns; disabling an
   * enabled user emits `{ userId, issuedBeforeMs: now, reason: 'user disabled' }` and the account
   * event identity.user.disabled (see `accountEvent` of the result).
   * Throws AllianceError('NOT_FOUND') for an unknown user.
   */
  setUserEnabled(userIdOrName: string, enabled: boolean): UserEnabledResult;
  /**
   * As setUserEnabled, for a project: emits `{ projectId, ..., reason: 'project disabled' }` and
   * identity.project.disabled.
   */
  setProjectEnabled(projectIdOrName: string, enabled: boolean): ProjectEnabledResult;
  /** Every configured user, in config order, with its effective enabled state. */
  listUsers(): StaticUser[];
  /**
   * Remote provisioning: creates project `name` in `domainId` (empty: the default domain) and
   * assigns `role` on it to `userId` (a user of another cloud), once per `requestId`: the same
   * request again returns the project it made. Durable when it returns. Throws INVALID_ARGUMENT
   * for an unknown domain, ALREADY_EXISTS when the name is taken in that domain.
   */
  provisionProject(input: ProvisionProjectInput): ProvisionedProject;
  /** Deletes the project `requestId` made, with its assignment; false when there is none. */
  deprovisionProject(requestId: string): boolean;
  /** The projects made by provisioning, oldest first. */
  listProvisionedProjects(): ProvisionedProject[];
}

export interface ProvisionProjectInput {
  requestId: string;
  name: string;
  domainId: string;
  userId: string;
  role: string;
}

export type { ProvisionedProject };

/** What Keystone's UUID provider issues: uuid4().hex. */
const opaqueTokenPattern = /^[0-9a-f]{32}$/;
const opaqueTokenBytes = 16;
const auditIdBytes = 16;
const invalidCredentials = 'invalid user name or password';

interface Grant {
  user: StaticUserConfig;
  project: StaticProjectConfig;
  roles: string[];
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function invalid(reason: Exclude<TokenVerdict, { valid: true }>['reason'], detail: string): TokenVerdict {
  return { valid: false, reason, detail };
}

export function createStaticIdentity(
  deps: StaticIdentityDeps,
  options: StaticIdentityOptions,
): StaticIdentity {
  const { clock } = deps;
  const { config, cloud } = options;
  const log = deps.log.child({ component: 'identity-static' });
  const limits = staticIdentityLimits;
  if (!Number.isSafeInteger(config.tokenTtlMs) || config.tokenTtlMs < limits.tokenTtlMinMs) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `static identity config: tokenTtlMs must be at least ${limits.tokenTtlMinMs} ms`,
    );
  }
  const directory: Directory = buildDirectory(config);
  const store = createStaticIdentityStore(deps.db);
  const provisioned = createProvisionedProjectStore(deps.db);
  const jwsKey = loadOrCreateJwsKey(deps.jwsKeyPath);

  // A user configured without a password cannot authenticate with one (not even an empty one).
  const passwordDigests = new Map(
    config.users.filter((user) => user.password !== '').map((user) => [user.id, sha256(user.password)]),
  );
  // Compared against when there is no such user, so that path costs what a wrong password does.
  const noUserDigest = randomBytes(32);

  const overrides: Record<SubjectKind, Map<string, EnabledState>> = { user: new Map(), project: new Map() };
  for (const state of store.enabledStates()) overrides[state.kind].set(state.id, state);

  let opaqueTokenCount = store.countTokens();
  const listeners = new Set<(revocation: RevocationInput) => void>();
  const accountListeners = new Set<(event: AccountEvent) => Promise<void>>();
  /** Callers waiting for the first offer of an outbox row, by seq. */
  const handOverWaiters = new Map<number, (outcome: AccountEventHandOver) => void>();
  /** Ends the listener waits in progress (stop). */
  const listenerWaits = new Set<(err: Error) => void>();
  let draining: Promise<void> | null = null;
  let drainAgain = false;
  let retryTimer: Timer | null = null;
  let retryMs: number = limits.accountEventRetryMinMs;
  let stopped = false;
  let purgeTimer: Timer | null = null;

  const isEnabled = (kind: SubjectKind, subject: { id: string; enabled: boolean }): boolean =>
    overrides[kind].get(subject.id)?.enabled ?? subject.enabled;
  const revokedBeforeMs = (kind: SubjectKind, id: string): number =>
    overrides[kind].get(id)?.revokedBeforeMs ?? 0;

  function userView(user: StaticUserConfig): StaticUser {
    return {
      id: user.id,
      name: user.name,
      domainId: user.domainId,
      enabled: isEnabled('user', user),
      assignments: user.roles.map(({ project, role }) => ({ project, role })),
    };
  }

  function projectView(project: StaticProjectConfig): StaticProject {
    return {
      id: project.id,
      name: project.name,
      domainId: project.domainId,
      enabled: isEnabled('project', project),
    };
  }

  /** The user, project and roles a token issued at `issuedAtMs` still carries, or why it does not. */
  function currentGrant(userId: string, projectId: string, issuedAtMs: number): Grant | string {
    const user = directory.user(userId);
    if (user === undefined) return `user ${userId} no longer exists`;
    if (!isEnabled('user', user)) return `user ${user.id} is disabled`;
    if (issuedAtMs <= revokedBeforeMs('user', user.id)) {
      return `user ${user.id} was disabled after the token was issued`;
    }
    const project = directory.project(projectId);
    if (project === undefined) return `project ${projectId} no longer exists`;
    if (!isEnabled('project', project)) return `project ${project.id} is disabled`;
    if (issuedAtMs <= revokedBeforeMs('project', project.id)) {
      return `project ${project.id} was disabled after the token was issued`;
    }
    const roles = directory.rolesOn(user, project);
    if (roles.length === 0) return `no role on project ${project.id}`;
    return { user, project, roles };
  }

  function identityOf(
    grant: Grant,
    token: { auditIds: string[]; issuedAtMs: number; expiresAtMs: number; format: TokenFormat },
  ): TokenIdentity {
    return {
      userId: grant.user.id,
      userName: grant.user.name,
      domainId: grant.user.domainId,
      projectId: grant.project.id,
      projectName: grant.project.name,
      projectDomainId: grant.project.domainId,
      roles: grant.roles,
      originCloud: cloud,
      auditIds: token.auditIds,
      issuedAtMs: token.issuedAtMs,
      expiresAtMs: token.expiresAtMs,
      tokenFormat: token.format,
    };
  }

  function checkIssueInput(input: IssueTokenInput): void {
    if (input.format !== 'opaque' && input.format !== 'jws') {
      throw new AllianceError('INVALID_ARGUMENT', 'token format must be "opaque" or "jws"');
    }
    for (const [field, value] of [
      ['user name', input.userName],
      ['project name', input.projectName],
      ['domain name', input.domainName],
    ] as const) {
      if (typeof value !== 'string' || Buffer.byteLength(value) > limits.nameBytesMax) {
        throw new AllianceError('INVALID_ARGUMENT', `${field} must be at most ${limits.nameBytesMax} bytes`);
      }
    }
    if (typeof input.password !== 'string' || Buffer.byteLength(input.password) > limits.passwordBytesMax) {
      throw new AllianceError(
        'INVALID_ARGUMENT',
        `password must be at most ${limits.passwordBytesMax} bytes`,
      );
    }
    if (input.userName === '') throw new AllianceError('INVALID_ARGUMENT', 'a user name is required');
    if (input.projectName === '') {
      throw new AllianceError(
        'INVALID_ARGUMENT',
        'a project name is required: the static identity source issues project-scoped tokens only',
      );
    }
  }

  /** The user whose name and password these are; one answer for every kind of mismatch. */
  function authenticate(input: IssueTokenInput): StaticUserConfig {
    const domain =
      input.domainName === ''
        ? directory.domain(directory.defaultDomainId)
        : directory.domainByNameOrId(input.domainName);
    const user = domain === undefined ? undefined : directory.userByName(domain.id, input.userName);
    const expected = (user && passwordDigests.get(user.id)) ?? noUserDigest;
    const matches = timingSafeEqual(sha256(input.password), expected);
    if (user === undefined || !matches) {
      // The reason is logged, never answered (Keystone: one public failure, the real one logged).
      log.info(
        {
          userName: input.userName,
          domainName: input.domainName,
          why:
            domain === undefined ? 'unknown domain' : user === undefined ? 'unknown user' : 'wrong password',
        },
        'authentication failed',
      );
      throw new AllianceError('UNAUTHENTICATED', invalidCredentials);
    }
    return user;
  }

  function reserveOpaqueTokenRow(nowMs: number): void {
    if (opaqueTokenCount < limits.opaqueTokensMax) return;
    // Full: drop every expired row now rather than wait for the timer or keep them for 'expired'.
    opaqueTokenCount -= store.purgeExpired(nowMs);
    if (opaqueTokenCount >= limits.opaqueTokensMax) {
      log.warn({ opaqueTokensMax: limits.opaqueTokensMax }, 'opaque token limit reached');
      throw new AllianceError(
        'RESOURCE_EXHAUSTED',
        `too many live opaque tokens (limit ${limits.opaqueTokensMax}); use jws tokens or wait for some to expire`,
      );
    }
  }

  function emit(revocation: RevocationInput): void {
    for (const listener of [...listeners]) {
      try {
        listener(revocation);
      } catch (err) {
        // The disable is durable already; one failing listener must not keep the others from hearing.
        log.error({ err, reason: revocation.reason }, 'revocation listener failed');
      }
    }
  }

  /**
   * Persists the new state (with its account event, in one transaction), then emits a revocation
   * when an enabled subject was disabled and offers the event to the account event listeners.
   */
  function setEnabled(
    kind: SubjectKind,
    subject: { id: string; name: string; domainId: string; enabled: boolean },
    enabled: boolean,
  ): { revocation: RevocationInput | null; accountEvent: Promise<AccountEventHandOver> } {
    const nowMs = clock.nowMs();
    const isDisabling = isEnabled(kind, subject) && !enabled;
    const state: EnabledState = {
      kind,
      id: subject.id,
      enabled,
      revokedBeforeMs: isDisabling ? nowMs : revokedBeforeMs(kind, subject.id),
    };
    const event: AccountEvent | undefined = isDisabling
      ? {
          type: kind === 'user' ? 'identity.user.disabled' : 'identity.project.disabled',
          subject: subject.id,
          timeMs: nowMs,
          data: {
            resource_type: kind,
            resource_id: subject.id,
            name: subject.name,
            domain_id: subject.domainId,
          },
          sourceId: `static-${randomUUID()}`,
        }
      : undefined;
    const seq = store.setEnabled(state, nowMs, event);
    overrides[kind].set(subject.id, state);
    log.info({ kind, id: subject.id, enabled }, 'enabled state changed');
    if (!isDisabling || seq === null) return { revocation: null, accountEvent: Promise.resolve('none') };
    const revocation: RevocationInput = Object.freeze(
      kind === 'user'
        ? { userId: subject.id, issuedBeforeMs: nowMs, reason: 'user disabled', source: 'static' }
        : { projectId: subject.id, issuedBeforeMs: nowMs, reason: 'project disabled', source: 'static' },
    );
    emit(revocation);
    const accountEvent = new Promise<AccountEventHandOver>((resolve) => handOverWaiters.set(seq, resolve));
    void drain();
    return { revocation, accountEvent };
  }

  /**
   * Offers the outbox's events to the listeners, oldest first, one at a time; stops at the first a
   * listener refused and tries again after a backoff. One drain at a time.
   */
  function drain(): Promise<void> {
    if (draining !== null) {
      drainAgain = true;
      return draining;
    }
    let done: () => void = () => undefined;
    const current = new Promise<void>((resolve) => (done = resolve));
    draining = current;
    void (async () => {
      try {
        do {
          drainAgain = false;
          for (const { seq, event } of store.pendingAccountEvents()) {
            if (stopped || !(await offer(event))) {
              settleWaiters('pending');
              if (!stopped) scheduleRetry();
              return;
            }
            store.deleteAccountEvent(seq);
            handOverWaiters.get(seq)?.('delivered');
            handOverWaiters.delete(seq);
          }
        } while (drainAgain);
        retryMs = limits.accountEventRetryMinMs;
      } catch (err) {
        // The database failed: the events stay where they are; try again later.
        log.error({ err: errorMessage(err) }, 'offering account events failed');
        settleWaiters('pending');
        if (!stopped) scheduleRetry();
      } finally {
        draining = null;
        done();
      }
    })();
    return current;
  }

  /** Every caller still waiting learns `outcome` (their events wait in the outbox). */
  function settleWaiters(outcome: AccountEventHandOver): void {
    for (const resolve of handOverWaiters.values()) resolve(outcome);
    handOverWaiters.clear();
  }

  function scheduleRetry(): void {
    if (retryTimer !== null) return;
    const waitMs = retryMs;
    retryMs = Math.min(limits.accountEventRetryMaxMs, retryMs * 2);
    retryTimer = clock.setTimer(waitMs, () => {
      retryTimer = null;
      void drain();
    });
  }

  /** True once every listener resolved for `event` (at once when there is none). */
  async function offer(event: AccountEvent): Promise<boolean> {
    const outcomes = await Promise.allSettled(
      [...accountListeners].map((l) =>
        settleListener(l, event, {
          clock,
          timeoutMs: limits.accountEventListenerTimeoutMs,
          waits: listenerWaits,
        }),
      ),
    );
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failures.length === 0) return true;
    if (!stopped)
      log.warn(
        {
          type: event.type,
          subject: event.subject,
          sourceId: event.sourceId,
          failedListeners: failures.length,
          err: errorMessage(failures[0]!.reason),
          retryInMs: retryMs,
        },
        'account event listener failed; the event stays in the outbox and is offered again',
      );
    return false;
  }

  function requireArgument(value: string, what: string): void {
    if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > limits.nameBytesMax) {
      throw new AllianceError(
        'INVALID_ARGUMENT',
        `${what} must be an id or a name of 1 to ${limits.nameBytesMax} bytes`,
      );
    }
  }

  function validateOpaque(token: string): TokenVerdict {
    const row = store.findToken(createHash('sha256').update(token).digest('hex'));
    if (row === undefined) return invalid('unknown-token', 'no such token was issued by this cloud');
    const nowMs = clock.nowMs();
    if (row.expiresAtMs <= nowMs) {
      return invalid('expired', `expired at ${new Date(row.expiresAtMs).toISOString()}`);
    }
    const grant = currentGrant(row.userId, row.projectId, row.issuedAtMs);
    if (typeof grant === 'string') return invalid('revoked', grant);
    return {
      valid: true,
      identity: identityOf(grant, {
        auditIds: [row.auditId],
        issuedAtMs: row.issuedAtMs,
        expiresAtMs: row.expiresAtMs,
        format: 'uuid',
      }),
    };
  }

  function validateJws(token: string): TokenVerdict {
    const check = verifyKeystoneJws(token, jwsKey.publicKey, {
      nowMs: clock.nowMs(),
      issuedAtFutureMaxMs: limits.issuedAtFutureMaxMs,
    });
    if (!check.ok) return invalid(check.reason, check.detail);
    const { claims } = check;
    const issuedAtMs = claims.iat * 1000;
    const grant = currentGrant(claims.sub, claims.openstack_project_id, issuedAtMs);
    if (typeof grant === 'string') return invalid('revoked', grant);
    return {
      valid: true,
      identity: identityOf(grant, {
        auditIds: [...claims.openstack_audit_ids],
        issuedAtMs,
        expiresAtMs: claims.exp * 1000,
        format: 'jws',
      }),
    };
  }

  function purge(): void {
    try {
      const purged = store.purgeExpired(clock.nowMs() - limits.expiredTokenRetentionMs);
      opaqueTokenCount -= purged;
      if (purged > 0) log.debug({ purged }, 'expired opaque tokens purged');
    } catch (err) {
      // Expired rows only cost space, and the next round retries.
      log.error({ err }, 'purging expired opaque tokens failed');
    }
    purgeTimer = clock.setTimer(limits.purgeIntervalMs, purge);
  }

  function provisionProject(input: ProvisionProjectInput): ProvisionedProject {
    const existing = provisioned.byRequest(input.requestId);
    if (existing) return existing;
    const domainId = input.domainId === '' ? directory.defaultDomainId : input.domainId;
    if (directory.domain(domainId) === undefined) {
      throw new AllianceError('INVALID_ARGUMENT', `no domain "${domainId}" is configured here`);
    }
    for (const [field, value] of [
      ['project name', input.name],
      ['user id', input.userId],
      ['role', input.role],
    ] as const) {
      if (value === '' || Buffer.byteLength(value) > limits.nameBytesMax) {
        throw new AllianceError('INVALID_ARGUMENT', `${field} must be 1 to ${limits.nameBytesMax} bytes`);
      }
    }
    if (directory.projectByName(domainId, input.name) || provisioned.byName(domainId, input.name)) {
      throw new AllianceError(
        'ALREADY_EXISTS',
        `a project named "${input.name}" already exists in domain "${domainId}"`,
      );
    }
    const project = provisioned.insert({
      requestId: input.requestId,
      name: input.name,
      domainId,
      userId: input.userId,
      role: input.role,
      createdAtMs: clock.nowMs(),
    });
    log.info({ ...project }, 'project provisioned for a remote user');
    return project;
  }

  function deprovisionProject(requestId: string): boolean {
    const removed = provisioned.remove(requestId);
    if (removed) log.info({ requestId }, 'provisioned project deleted');
    return removed;
  }

  return {
    kind: 'static',

    async start() {
      if (purgeTimer !== null) return;
      stopped = false;
      purgeTimer = clock.setTimer(limits.purgeIntervalMs, purge);
      // Events a listener had not taken before the last stop (or crash).
      if (store.pendingAccountEvents().length > 0) void drain();
    },

    async stop() {
      stopped = true;
      purgeTimer?.cancel();
      purgeTimer = null;
      retryTimer?.cancel();
      retryTimer = null;
      for (const fail of [...listenerWaits]) fail(new Error('identity source stopping'));
      await draining;
    },

    async validateToken(token) {
      if (typeof token !== 'string' || token === '') return invalid('malformed', 'the token is empty');
      if (token.length > limits.tokenBytesMax) {
        return invalid('malformed', `the token is longer than ${limits.tokenBytesMax} bytes`);
      }
      const verdict = opaqueTokenPattern.test(token)
        ? validateOpaque(token)
        : token.includes('.')
          ? validateJws(token)
          : invalid('malformed', 'neither an opaque token (32 hex characters) nor a JWS');
      if (!verdict.valid) {
        log.debug(
          { tokenFingerprint: fingerprint(token), reason: verdict.reason, detail: verdict.detail },
          'token refused',
        );
      }
      return verdict;
    },

    async issueToken(input) {
      checkIssueInput(input);
      const user = authenticate(input);
      if (!isEnabled('user', user)) {
        throw new AllianceError('UNAUTHENTICATED', `user "${user.name}" is disabled`);
      }
      const project = directory.projectByName(user.domainId, input.projectName);
      if (project === undefined) {
        throw new AllianceError(
          'PERMISSION_DENIED',
          `no project "${input.projectName}" in domain "${user.domainId}"`,
        );
      }
      if (!isEnabled('project', project)) {
        throw new AllianceError('PERMISSION_DENIED', `project "${project.name}" is disabled`);
      }
      const roles = directory.rolesOn(user, project);
      if (roles.length === 0) {
        throw new AllianceError(
          'PERMISSION_DENIED',
          `user "${user.name}" has no role on project "${project.name}"`,
        );
      }
      const grant: Grant = { user, project, roles };
      const nowMs = clock.nowMs();
      const auditId = randomBytes(auditIdBytes).toString('base64url');

      let issued: IssuedToken;
      if (input.format === 'opaque') {
        reserveOpaqueTokenRow(nowMs);
        const token = randomBytes(opaqueTokenBytes).toString('hex');
        const expiresAtMs = nowMs + config.tokenTtlMs;
        store.insertToken({
          tokenSha256: createHash('sha256').update(token).digest('hex'),
          userId: user.id,
          projectId: project.id,
          auditId,
          issuedAtMs: nowMs,
          expiresAtMs,
        });
        opaqueTokenCount += 1;
        issued = {
          token,
          expiresAtMs,
          identity: identityOf(grant, {
            auditIds: [auditId],
            issuedAtMs: nowMs,
            expiresAtMs,
            format: 'uuid',
          }),
        };
      } else {
        // Keystone's JWS times are integer seconds; the identity reports what the token says.
        const iat = Math.floor(nowMs / 1000);
        const exp = Math.floor((nowMs + config.tokenTtlMs) / 1000);
        const token = signKeystoneJws(
          {
            sub: user.id,
            iat,
            exp,
            openstack_methods: ['password'],
            openstack_audit_ids: [auditId],
            openstack_project_id: project.id,
          },
          jwsKey.privateKey,
        );
        issued = {
          token,
          expiresAtMs: exp * 1000,
          identity: identityOf(grant, {
            auditIds: [auditId],
            issuedAtMs: iat * 1000,
            expiresAtMs: exp * 1000,
            format: 'jws',
          }),
        };
      }
      log.info(
        {
          tokenFingerprint: fingerprint(issued.token),
          format: input.format,
          userId: user.id,
          projectId: project.id,
          auditId,
        },
        'token issued',
      );
      return issued;
    },

    async jwsPublicKeys() {
      return [jwsKey.publicKeyPem];
    },

    async catalog() {
      return null;
    },

    onAccountEvent(listener) {
      accountListeners.add(listener);
      return () => {
        accountListeners.delete(listener);
      };
    },

    onRevocation(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    setUserEnabled(userIdOrName, enabled) {
      requireArgument(userIdOrName, 'user');
      const user =
        directory.user(userIdOrName) ?? directory.userByName(directory.defaultDomainId, userIdOrName);
      if (user === undefined) {
        throw new AllianceError(
          'NOT_FOUND',
          `no user with id "${userIdOrName}", nor with that name in the default domain`,
        );
      }
      const { revocation, accountEvent } = setEnabled('user', user, enabled);
      return { user: userView(user), revocation, accountEvent };
    },

    setProjectEnabled(projectIdOrName, enabled) {
      requireArgument(projectIdOrName, 'project');
      const project =
        directory.project(projectIdOrName) ??
        directory.projectByName(directory.defaultDomainId, projectIdOrName);
      if (project === undefined) {
        throw new AllianceError(
          'NOT_FOUND',
          `no project with id "${projectIdOrName}", nor with that name in the default domain`,
        );
      }
      const { revocation, accountEvent } = setEnabled('project', project, enabled);
      return { project: projectView(project), revocation, accountEvent };
    },

    listUsers: () => directory.users().map(userView),

    provisionProject,
    deprovisionProject,
    // The port's async shape over the synchronous store; the request id alone is the key here
    // (the requester cloud is not part of it: see ARCHITECTURE.md section 18).
    projects: {
      provisionProject: async (input) => {
        const project = provisionProject(input);
        return {
          projectId: project.projectId,
          name: project.name,
          domainId: project.domainId,
          userId: project.userId,
          remoteUserId: project.userId,
          role: project.role,
        };
      },
      deprovisionProject: async ({ requestId }) => deprovisionProject(requestId),
    },

    listProvisionedProjects: () => provisioned.list(),
  };
}
