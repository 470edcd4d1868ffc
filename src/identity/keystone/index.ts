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
 */
import type { Logger } from 'pino';
import type { CatalogConfig, KeystoneIdentityConfig } from '../../config/types.js';
import type { Clock, Timer } from '../../lib/clock.js';
import { AllianceError, errorMessage } from '../../lib/errors.js';
import { fingerprint } from '../../lib/fingerprint.js';
import type { IdentitySource, RevocationInput, TokenVerdict } from '../types.js';
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
} from './notifications.js';
import type { NotificationAction, OsloNotification } from './notifications.js';
import { createRevocationPoller } from './revocation-poller.js';
import type { RevocationPoller } from './revocation-poller.js';
import {
  UnexpectedKeystoneResponse,
  isObject,
  malformedTokenDetail,
  mapValidatedToken,
} from './token-mapping.js';

export { createAmqpConsumer, defaultAmqpConsumerTiming } from './amqp-consumer.js';
export type {
  AmqpConsumer,
  AmqpConsumerOptions,
  AmqpHandler,
  AmqpMessage,
  AmqpOutcome,
} from './amqp-consumer.js';
export { parseOsloNotification, MalformedNotification } from './notifications.js';
export type { OsloNotification } from './notifications.js';

/**
 * How far back the first OS-REVOKE poll after start looks. Keystone keeps events for the token
 * lifetime plus [revoke] expiration_buffer (1 h + 30 min by default): a day covers that with room.
 */
export const revocationLookbackMs = 24 * 60 * 60_000;

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
        },
        handleNotification,
      )
    : null;

  async function handleNotification(message: AmqpMessage): Promise<AmqpOutcome> {
    let notification: OsloNotification;
    let action: NotificationAction;
    try {
      notification = parseOsloNotification(message.content);
      action = planNotification(notification);
    } catch (err) {
      if (!(err instanceof MalformedNotification)) throw err;
      log.warn(
        { routingKey: message.routingKey, bytes: message.content.length, err: err.message },
        'malformed Keystone notification, dropped',
      );
      return 'ack';
    }
    try {
      await applyNotification(action);
      return 'ack';
    } catch (err) {
      if (err instanceof ForbiddenLookup) {
        // Asking again cannot help until the account gets the role, and would hold up the queue.
        log.error(
          { eventType: notification.eventType, messageId: notification.messageId, err: err.message },
          'service account may not read what a Keystone notification is about; notification dropped',
        );
        return 'ack';
      }
      log.warn(
        { eventType: notification.eventType, messageId: notification.messageId, err: errorMessage(err) },
        'Keystone notification not handled yet; will retry',
      );
      return 'requeue';
    }
  }

  async function applyNotification(action: NotificationAction): Promise<void> {
    const issuedBeforeMs = (atMs: number | null) => issuedBeforeMsFor(atMs, clock.nowMs());
    switch (action.kind) {
      case 'ignore':
        return;
      case 'revoke':
        emit({ ...action.revocation, issuedBeforeMs: issuedBeforeMs(action.atMs) });
        return;
      case 'check-project': {
        const project = await readResource(`/v3/projects/${encodeURIComponent(action.projectId)}`, 'project');
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
        const domain = await readResource(`/v3/domains/${encodeURIComponent(action.domainId)}`, 'domain');
        if (!domain || domain['enabled'] !== false) return;
        emit({ ...domainDisabled(action.domainId), issuedBeforeMs: issuedBeforeMs(action.atMs) });
        return;
      }
      case 'revoke-group-members': {
        const body = await readResource(`/v3/groups/${encodeURIComponent(action.groupId)}/users`, null);
        const users = body && Array.isArray(body['users']) ? body['users'] : [];
        for (const user of users) {
          if (!isObject(user) || typeof user['id'] !== 'string') continue;
          emit({
            userId: user['id'],
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

  /** The resource, or null when it no longer exists (its deletion comes as an OS-REVOKE event). */
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

    async start() {
      stopped = false;
      await loadKeys();
      scheduleKeyRefresh();
      await poller.start();
      await consumer?.start();
      log.info(
        { url: config.url, notifications: config.notifications !== null, jwsKeys: keys?.length ?? 0 },
        'Keystone identity source started',
      );
    },

    async stop() {
      stopped = true;
      poller.stop();
      keysTimer?.cancel();
      keysTimer = null;
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

    // Account events from notifications land with the events capability.
    onAccountEvent: () => () => undefined,

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
