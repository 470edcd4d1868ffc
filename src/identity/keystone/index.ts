/**
 * The `keystone` identity source: a cloud's real Keystone, over its v3 REST API with a service
 * account, plus its notifications on RabbitMQ.
 *
 * - validateToken: GET /v3/auth/tokens?nocatalog (X-Auth-Token: service, X-Subject-Token: the
 *   token). 200 is mapped to a TokenIdentity; 404 is 'unknown-token' (Keystone says 404 for
 *   invalid, expired and revoked tokens alike); a token that cannot be one is 'malformed' without
 *   asking; no answer (network, 5xx, timeout, service account refused) throws UNAVAILABLE, because
 *   "could not find out" is not "no".
 * - jwsPublicKeys: the PEM files of [jwt_tokens] jws_public_key_repository, re-read every
 *   refreshMs (Keystone rotates keys by adding and removing files).
 * - catalog: /v3/regions, /v3/services and /v3/endpoints, read on each call (the caller re-reads
 *   every refreshMs); null when Keystone cannot be read, so the configured catalog stays.
 *   A stock Keystone lets the `service` role read regions but not services or endpoints (403):
 *   those need a system-scoped token with role `reader` on the system (or an admin account);
 *   scripts/keystone/start-keystone.sh grants both roles to the service user.
 * - revocations: OS-REVOKE events, polled every revocationPollMs (revocation-poller.ts), plus
 *   the facts Keystone does not write as events but publishes as notifications: project or
 *   domain disabled, role assignment removed (notifications.ts, amqp-consumer.ts).
 * - account events (onAccountEvent): what the same notifications stand for (account-events.ts):
 *   project, domain and user deleted or disabled, role assignment removed.
 * - projects (remote provisioning of kind "project"): projects tagged per request, shadow users
 *   for the requester's users and their role assignments, made with the service account, which
 *   then needs `admin` on the system (project-provisioner.ts).
 *
 * Each notification, one at a time in queue order: parse it (malformed: parked in the
 * dead-letter queue `<queue>.dead` and acked, never retried); work out its revocations and account
 * events, reading Keystone where a notification only says "updated" (Keystone unreachable: the
 * message goes back to the queue after a delay); emit the revocations; hand each event to every
 * account event listener and wait for all of them; only then ack. A listener that rejects (or does
 * not settle within accountEventListenerTimeoutMs) leaves the message unacked: it is requeued after
 * the delay and handled again, producing the same events under the same sourceIds. Register
 * listeners before start(): with none, a notification's events are not kept.
 *
 * Keystone deletes a domain's project twin as identity.project.deleted before identity.domain.deleted;
 * to report that as the domain, the source knows the domain ids: listed (GET /v3/domains) at start,
 * then learnt from notifications (domain created or updated, a project read with is_domain). A
 * domain created and deleted while the source was down is reported as both a project and a domain.
 */
import { settleListener } from '../settle-listener.js';
import type { Logger } from 'pino';
import type { CatalogConfig, KeystoneIdentityConfig } from '../../config/types.js';
import type { Clock, Timer } from '../../lib/clock.js';
import { AllianceError, errorMessage } from '../../lib/errors.js';
import { fingerprint } from '../../lib/fingerprint.js';
import type { AccountEvent, IdentitySource, RevocationInput, TokenVerdict } from '../types.js';
import { disabledEventOf, groupMemberRoleRemoved, translateNotification } from './account-events.js';
import type { AccountEventCandidate } from './account-events.js';
import { createAmqpConsumer, defaultAmqpConsumerTiming } from './amqp-consumer.js';
import type { AmqpConsumer, AmqpConsumerDeps, AmqpMessage, AmqpOutcome } from './amqp-consumer.js';
import { mapKeystoneCatalog } from './catalog-mapping.js';
import { readJwsPublicKeys } from './jws-keys.js';
import { createKeystoneClient, keystoneMessage } from './keystone-client.js';
import type { KeystoneClient } from './keystone-client.js';
import {
  MalformedNotification,
  domainDisabled,
  issuedBeforeMsFor,
  parseOsloNotification,
  planNotification,
  projectDisabled,
  resourceIdOf,
} from './notifications.js';
import type { NotificationAction, OsloNotification } from './notifications.js';
import { createKeystoneProjectProvisioner } from './project-provisioner.js';
import { createRevocationPoller } from './revocation-poller.js';
import type { RevocationPoller } from './revocation-poller.js';
import {
  UnexpectedKeystoneResponse,
  isObject,
  malformedTokenDetail,
  mapValidatedToken,
} from './token-mapping.js';

export { createAmqpConsumer, deadLetterHeaders, defaultAmqpConsumerTiming } from './amqp-consumer.js';
export type {
  AmqpConsumer,
  AmqpConsumerOptions,
  AmqpHandler,
  AmqpMessage,
  AmqpOutcome,
} from './amqp-consumer.js';
export { parseOsloNotification, MalformedNotification } from './notifications.js';
export type { OsloNotification } from './notifications.js';
export { accountEventTypes, translateNotification } from './account-events.js';
export { createKeystoneProjectProvisioner, provisionTag, shadowDomainName } from './project-provisioner.js';
export type {
  KeystoneProjectProvisionerDeps,
  KeystoneProjectProvisionerOptions,
} from './project-provisioner.js';
export type { AccountEventCandidate, AccountEventType, TranslationContext } from './account-events.js';

/**
 * How far back the first OS-REVOKE poll after start looks. Keystone keeps events for the token
 * lifetime plus [revoke] expiration_buffer (1 h + 30 min by default): a day covers that with room.
 */
export const revocationLookbackMs = 24 * 60 * 60_000;

/** Bounds of the account event hand-over, with their reasons. */
export const accountEventLimits = {
  /**
   * A listener that has not settled by then counts as failed (the message is requeued): one stuck
   * listener must not hold the queue forever. Storing an event durably takes milliseconds.
   */
  listenerTimeoutMs: 30_000,
  /** How long a delivered (type, subject, request id) drops the second notification of a pair. */
  duplicateWindowMs: 10 * 60_000,
  /** Most such keys remembered; the oldest go first. */
  duplicateKeysMax: 10_000,
  /** Retry pace of GET /v3/domains after a failure, doubling. */
  domainListRetryMinMs: 1_000,
  domainListRetryMaxMs: 10 * 60_000,
} as const;

export interface KeystoneIdentityDeps {
  clock: Clock;
  log: Logger;
  /** Global fetch unless given (tests). */
  fetch?: typeof fetch;
  /** amqplib's connect unless given (tests). */
  amqpConnect?: AmqpConsumerDeps['connect'];
}

export interface KeystoneIdentityOptions {
  cloud: string;
  config: KeystoneIdentityConfig;
}

export interface KeystoneIdentityStatus {
  /** Unix ms of the last successful OS-REVOKE poll, or null. */
  lastRevocationPollMs: number | null;
  /** null when notifications are not configured. */
  notificationsConsuming: boolean | null;
  jwsPublicKeyCount: number;
}

export interface KeystoneIdentitySource extends IdentitySource {
  readonly kind: 'keystone';
  status(): KeystoneIdentityStatus;
}

export function createKeystoneIdentity(
  deps: KeystoneIdentityDeps,
  options: KeystoneIdentityOptions,
): KeystoneIdentitySource {
  const { clock } = deps;
  const config = options.config;
  const log = deps.log.child({ component: 'identity-keystone', cloud: options.cloud });
  const client: KeystoneClient = createKeystoneClient(
    { clock, log, fetch: deps.fetch ?? globalThis.fetch },
    config,
  );
  const listeners = new Set<(revocation: RevocationInput) => void>();
  const accountListeners = new Set<(event: AccountEvent) => Promise<void>>();
  /** Ids of Keystone's domains (see the top of this file). */
  const domains = new Set<string>();
  let domainsTimer: Timer | null = null;
  let domainsRetryMs: number = accountEventLimits.domainListRetryMinMs;
  /** `${type} ${subject} ${request id}` of events delivered lately, with when they stop counting. */
  const delivered = new Map<string, number>();
  /** Rejects the listener waits in progress: stop() ends them (their messages are redelivered). */
  const listenerWaits = new Set<(err: Error) => void>();
  let stopped = false;
  let keys: string[] | null = null;
  let keysTimer: Timer | null = null;

  function emit(revocation: RevocationInput): void {
    if (stopped) return;
    for (const listener of listeners) {
      try {
        listener(revocation);
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'revocation listener failed');
      }
    }
  }

  const poller: RevocationPoller = createRevocationPoller(
    { clock, log, client, emit },
    { pollMs: config.revocationPollMs, lookbackMs: revocationLookbackMs },
  );

  const consumer: AmqpConsumer | null = config.notifications
    ? createAmqpConsumer(
        { clock, log, connect: deps.amqpConnect },
        {
          url: config.notifications.url,
          exchange: config.notifications.exchange,
          // As oslo.messaging's rabbit driver declares its notification exchange.
          exchangeType: 'topic',
          exchangeDurable: false,
          queue: config.notifications.queue,
          // oslo publishes to <topic>.<priority> (notifications.info, notifications.error, ...).
          bindingKeys: ['#'],
          ...defaultAmqpConsumerTiming,
          connectTimeoutMs: Math.max(config.requestTimeoutMs, 1000),
          deadLetterQueue: `${config.notifications.queue}.dead`,
        },
        handleNotification,
      )
    : null;

  async function handleNotification(message: AmqpMessage): Promise<AmqpOutcome> {
    let notification: OsloNotification;
    let action: NotificationAction;
    let candidates: AccountEventCandidate[];
    try {
      notification = parseOsloNotification(message.content);
      action = planNotification(notification);
      candidates = translateNotification(notification, {
        receivedAtMs: clock.nowMs(),
        isDomain: (id) => domains.has(id),
      });
    } catch (err) {
      if (!(err instanceof MalformedNotification)) throw err;
      return { park: `malformed Keystone notification: ${err.message}` };
    }
    const about = { eventType: notification.eventType, messageId: notification.messageId };
    noteDomain(notification);
    if (action.kind === 'ignore' && candidates.length === 0) {
      log.debug({ ...about, why: action.why }, 'Keystone notification ignored');
      return 'ack';
    }
    const read = memoisedReader();
    let events: PendingEvent[];
    try {
      await applyNotification(action, read);
      events = await accountEventsOf(candidates, read);
    } catch (err) {
      if (err instanceof ForbiddenLookup) {
        // Asking again cannot help until the account gets the role, and would hold up the queue.
        log.error(
          { ...about, err: err.message },
          'service account may not read what a Keystone notification is about; notification parked',
        );
        return { park: `service account may not read it: ${err.message}` };
      }
      log.warn({ ...about, err: errorMessage(err) }, 'Keystone notification not handled yet; will retry');
      return 'requeue';
    }
    return (await deliver(events, about)) ? 'ack' : 'requeue';
  }

  type Read = (path: string, key: string | null) => Promise<Record<string, unknown> | null>;

  /** readResource, asking Keystone once per path for one notification (revocations and events share). */
  function memoisedReader(): Read {
    const reads = new Map<string, Promise<Record<string, unknown> | null>>();
    return (path, key) => {
      let p = reads.get(path);
      if (!p) {
        p = readResource(path, key);
        reads.set(path, p);
      }
      return p;
    };
  }

  async function applyNotification(action: NotificationAction, read: Read): Promise<void> {
    const issuedBeforeMs = (atMs: number | null) => issuedBeforeMsFor(atMs, clock.nowMs());
    switch (action.kind) {
      case 'ignore':
        return;
      case 'revoke':
        emit({ ...action.revocation, issuedBeforeMs: issuedBeforeMs(action.atMs) });
        return;
      case 'check-project': {
        const project = await read(`/v3/projects/${encodeURIComponent(action.projectId)}`, 'project');
        if (!project || project['enabled'] !== false) return;
        // Disabling a domain also updates the project that stands for it (is_domain: true).
        const revocation =
          project['is_domain'] === true
            ? domainDisabled(action.projectId)
            : projectDisabled(action.projectId);
        emit({ ...revocation, issuedBeforeMs: issuedBeforeMs(action.atMs) });
        return;
      }
      case 'check-domain': {
        const domain = await read(`/v3/domains/${encodeURIComponent(action.domainId)}`, 'domain');
        if (!domain || domain['enabled'] !== false) return;
        emit({ ...domainDisabled(action.domainId), issuedBeforeMs: issuedBeforeMs(action.atMs) });
        return;
      }
      case 'revoke-group-members': {
        for (const userId of await groupMembers(action.groupId, read)) {
          emit({
            userId,
            ...action.target,
            issuedBeforeMs: issuedBeforeMs(action.atMs),
            reason: 'role assignment removed',
            source: 'keystone-notification',
            secondGranularity: true,
          });
        }
        return;
      }
    }
  }

  interface PendingEvent {
    event: AccountEvent;
    requestId: string | null;
  }

  /** The events of a notification's candidates, reading Keystone where they ask. */
  async function accountEventsOf(candidates: AccountEventCandidate[], read: Read): Promise<PendingEvent[]> {
    const events: PendingEvent[] = [];
    for (const c of candidates) {
      switch (c.kind) {
        case 'event':
          events.push({ event: c.event, requestId: c.requestId });
          break;
        case 'check-disabled': {
          const resource = await read(`/v3/${c.resource}s/${encodeURIComponent(c.id)}`, c.resource);
          if (c.resource === 'project' && resource?.['is_domain'] === true) domains.add(c.id);
          const event = disabledEventOf(c, resource);
          if (event) events.push({ event, requestId: c.requestId });
          break;
        }
        case 'group-role-removed':
          for (const userId of await groupMembers(c.groupId, read))
            events.push({ event: groupMemberRoleRemoved(c, userId), requestId: c.requestId });
          break;
      }
    }
    return events;
  }

  /** The user ids of a group's members now; none when the group is gone. */
  async function groupMembers(groupId: string, read: Read): Promise<string[]> {
    const body = await read(`/v3/groups/${encodeURIComponent(groupId)}/users`, null);
    const users = body && Array.isArray(body['users']) ? body['users'] : [];
    const ids: string[] = [];
    for (const user of users) if (isObject(user) && typeof user['id'] === 'string') ids.push(user['id']);
    return ids;
  }

  /**
   * Hands each event to every account event listener, one event after the other, and waits for all
   * of them: true when every listener resolved for every event (the message may be acked).
   */
  async function deliver(events: PendingEvent[], about: Record<string, unknown>): Promise<boolean> {
    if (events.length === 0) return true;
    if (accountListeners.size === 0) {
      log.debug({ ...about, events: events.length }, 'no account event listener; events not reported');
      return true;
    }
    for (const { event, requestId } of events) {
      const nowMs = clock.nowMs();
      for (const [key, untilMs] of delivered) {
        if (untilMs > nowMs && delivered.size <= accountEventLimits.duplicateKeysMax) break;
        delivered.delete(key);
      }
      const key = requestId === null ? null : `${event.type} ${event.subject} ${requestId}`;
      const what = { ...about, type: event.type, subject: event.subject, sourceId: event.sourceId };
      if (key !== null && delivered.has(key)) {
        log.debug(what, 'account event already reported for this Keystone request; skipped');
        continue;
      }
      const frozen = deepFreeze(structuredClone(event));
      const outcomes = await Promise.allSettled(
        [...accountListeners].map((l) =>
          settleListener(l, frozen, {
            clock,
            timeoutMs: accountEventLimits.listenerTimeoutMs,
            waits: listenerWaits,
          }),
        ),
      );
      const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failures.length > 0) {
        if (stopped) return false;
        log.warn(
          { ...what, failedListeners: failures.length, err: errorMessage(failures[0]!.reason) },
          'account event listener failed; the Keystone notification will be retried',
        );
        return false;
      }
      if (key !== null) delivered.set(key, clock.nowMs() + accountEventLimits.duplicateWindowMs);
      log.debug({ ...what, sinceKeystoneMs: clock.nowMs() - event.timeMs }, 'account event reported');
    }
    return true;
  }

  /** Domain ids learnt from a notification (deleted ones are kept: a redelivery may need them). */
  function noteDomain(n: OsloNotification): void {
    if (n.eventType !== 'identity.domain.created' && n.eventType !== 'identity.domain.updated') return;
    const id = resourceIdOf(n.payload);
    if (id) domains.add(id);
  }

  async function loadDomains(): Promise<void> {
    if (consumer === null || stopped) return;
    try {
      const body = await client.getJson('/v3/domains', 'lookup');
      const list = isObject(body) ? body['domains'] : undefined;
      if (!Array.isArray(list)) throw new Error('unexpected answer to GET /v3/domains');
      for (const d of list) if (isObject(d) && typeof d['id'] === 'string') domains.add(d['id']);
      domainsRetryMs = accountEventLimits.domainListRetryMinMs;
      log.debug({ count: domains.size }, 'Keystone domains listed');
    } catch (err) {
      if (stopped) return;
      const retryInMs = domainsRetryMs;
      domainsRetryMs = Math.min(accountEventLimits.domainListRetryMaxMs, domainsRetryMs * 2);
      log.warn(
        { err: errorMessage(err), retryInMs },
        "listing Keystone's domains failed; until it works, a deleted domain may also be reported as a deleted project",
      );
      domainsTimer = clock.setTimer(retryInMs, () => {
        domainsTimer = null;
        void loadDomains();
      });
    }
  }

  /** The resource, or null when it no longer exists (its deletion comes as a notification too). */
  async function readResource(path: string, key: string | null): Promise<Record<string, unknown> | null> {
    const res = await client.request(path, { scope: 'lookup' });
    if (res.status === 404) return null;
    if (res.status === 403)
      throw new ForbiddenLookup(
        `Keystone answered GET ${path} with HTTP 403 (grant the service user role reader on the system)`,
      );
    if (res.status !== 200)
      throw new AllianceError('UNAVAILABLE', `Keystone answered GET ${path} with HTTP ${res.status}`);
    const resource = key === null ? res.body : isObject(res.body) ? res.body[key] : undefined;
    if (!isObject(resource)) throw new AllianceError('UNAVAILABLE', `unexpected answer to GET ${path}`);
    return resource;
  }

  async function loadKeys(): Promise<string[]> {
    if (config.jwsPublicKeyDir === null) return [];
    try {
      const loaded = await readJwsPublicKeys(config.jwsPublicKeyDir, log);
      if (keys === null || loaded.join() !== keys.join())
        log.info({ dir: config.jwsPublicKeyDir, count: loaded.length }, 'JWS public keys loaded');
      keys = loaded;
    } catch (err) {
      // Keep the keys read last time: a transient failure must not drop every key.
      log.warn(
        { dir: config.jwsPublicKeyDir, err: errorMessage(err) },
        'JWS public key directory unreadable',
      );
    }
    return keys ?? [];
  }

  function scheduleKeyRefresh(): void {
    if (config.jwsPublicKeyDir === null || stopped) return;
    keysTimer = clock.setTimer(config.refreshMs, () => {
      keysTimer = null;
      void loadKeys().then(scheduleKeyRefresh);
    });
  }

  return {
    kind: 'keystone',
    projects: createKeystoneProjectProvisioner({ client, log }, { cloud: options.cloud }),

    async start() {
      stopped = false;
      await loadKeys();
      scheduleKeyRefresh();
      await Promise.all([poller.start(), loadDomains()]);
      await consumer?.start();
      log.info(
        { url: config.url, notifications: config.notifications !== null, jwsKeys: keys?.length ?? 0 },
        'Keystone identity source started',
      );
    },

    async stop() {
      stopped = true;
      for (const fail of [...listenerWaits]) fail(new Error('identity source stopping'));
      poller.stop();
      keysTimer?.cancel();
      keysTimer = null;
      domainsTimer?.cancel();
      domainsTimer = null;
      await consumer?.stop();
    },

    async validateToken(token, signal): Promise<TokenVerdict> {
      const malformed = malformedTokenDetail(token);
      if (malformed !== null) return { valid: false, reason: 'malformed', detail: malformed };
      const tokenFingerprint = fingerprint(token);
      const res = await client.request('/v3/auth/tokens?nocatalog', {
        scope: 'project',
        subjectToken: token,
        signal,
      });
      if (res.status === 200) {
        try {
          const identity = mapValidatedToken(res.body, options.cloud, token);
          log.debug({ tokenFingerprint, userId: identity.userId }, 'token valid at Keystone');
          return { valid: true, identity };
        } catch (err) {
          if (!(err instanceof UnexpectedKeystoneResponse)) throw err;
          throw new AllianceError(
            'UNAVAILABLE',
            `Keystone's token validation answer is unusable: ${err.message}`,
          );
        }
      }
      if (res.status === 404) {
        log.debug({ tokenFingerprint }, 'token unknown to Keystone');
        return {
          valid: false,
          reason: 'unknown-token',
          detail: `Keystone does not accept this token (it answers 404 for invalid, expired and revoked tokens alike): ${keystoneMessage(res.body)}`,
        };
      }
      if (res.status === 400)
        return { valid: false, reason: 'malformed', detail: `Keystone: ${keystoneMessage(res.body)}` };
      log.warn({ tokenFingerprint, status: res.status }, 'Keystone could not validate a token');
      throw new AllianceError(
        'UNAVAILABLE',
        `Keystone answered token validation with HTTP ${res.status} ${keystoneMessage(res.body)}`,
      );
    },

    issueToken() {
      return Promise.reject(
        new AllianceError('FAILED_PRECONDITION', 'tokens of this cloud are issued by Keystone'),
      );
    },

    async jwsPublicKeys() {
      if (config.jwsPublicKeyDir === null) return [];
      return keys ?? loadKeys();
    },

    async catalog(): Promise<CatalogConfig | null> {
      try {
        const [regions, services, endpoints] = await Promise.all([
          client.getJson('/v3/regions', 'lookup'),
          client.getJson('/v3/services', 'lookup'),
          client.getJson('/v3/endpoints', 'lookup'),
        ]);
        const { catalog, skipped } = mapKeystoneCatalog(regions, services, endpoints);
        if (skipped.length > 0) log.warn({ skipped }, 'Keystone catalog entries left out');
        return catalog;
      } catch (err) {
        log.warn(
          { err: errorMessage(err) },
          'reading the catalog from Keystone failed; keeping the configured one',
        );
        return null;
      }
    },

    onAccountEvent(listener) {
      accountListeners.add(listener);
      return () => accountListeners.delete(listener);
    },

    onRevocation(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    status() {
      return {
        lastRevocationPollMs: poller.lastSuccessMs(),
        notificationsConsuming: consumer ? consumer.isConsuming() : null,
        jwsPublicKeyCount: keys?.length ?? 0,
      };
    },
  };
}

/** The service account lacks the role to read a resource: not transient. */
class ForbiddenLookup extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenLookup';
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
