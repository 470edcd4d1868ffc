/**
 * A small client of Keystone's v3 REST API, authenticated as the Alliance service account.
 *
 * Two service tokens, because no single role of a stock Keystone (Zed) policy covers everything
 * Alliance reads (measured against Keystone 22, see scripts/keystone/ and docs in index.ts):
 *  - project-scoped (serviceUser.projectName, role `service`): validates tokens and reads
 *    GET /v3/OS-REVOKE/events (policy `service_or_admin`), /v3/regions and /v3/domains/{id};
 *  - system-scoped (role `reader` on the system): reads /v3/services, /v3/endpoints,
 *    /v3/projects/{id}, /v3/groups/{id}/users, but gets 403 on OS-REVOKE/events; with role
 *    `admin` on the system it also makes the projects, users and role assignments of remote
 *    provisioning (project-provisioner.ts).
 * Calls with scope 'lookup' (or 'admin', for provisioning's writes) try the system token first
 * and fall back to the project token on 403 (an admin service account needs no system role); a
 * service account without a system role is noticed once (401 at system-scoped authentication) and
 * not asked again for a while.
 *
 * Each token is cached until shortly before its expiry, fetched by one request however many
 * callers wait for it, and fetched again once when Keystone answers 401 (revoked, rotated keys,
 * password change). Tokens are never logged.
 */
import type { Logger } from 'pino';
import { AllianceError, errorMessage } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { KeystoneIdentityConfig } from '../../config/types.js';
import { isObject } from './token-mapping.js';
import { parseKeystoneTimeMs } from './keystone-time.js';

/** Largest response body read from Keystone; a catalog with thousands of endpoints fits. */
export const keystoneResponseBytesMax = 16 * 1024 * 1024;
/** A service token is refreshed this long before it expires, at most (10 % of its lifetime if less). */
const serviceTokenRefreshMarginMaxMs = 5 * 60_000;
/** After the service account turned out to have no system role, how long before trying again. */
const systemScopeRetryMs = 10 * 60_000;
/**
 * After Keystone refused the service account's password, how long callers get that answer without
 * a new attempt: a wrong password must not turn every validation into a bcrypt check at Keystone.
 */
const serviceAuthFailureHoldMs = 5_000;

/**
 * 'project': the project-scoped token only. 'lookup': the system-scoped token, then the
 * project-scoped one on 403. 'admin': the same choice as 'lookup', named for the writes of
 * remote provisioning (project-provisioner.ts), which need the `admin` role: on the system
 * (as scripts/keystone/start-keystone.sh grants it) or on the service project.
 */
export type ServiceScope = 'project' | 'lookup' | 'admin';

export interface KeystoneResponse {
  status: number;
  /** Parsed JSON, or null for an empty or non-JSON body. */
  body: unknown;
  headers: Headers;
}

export interface KeystoneRequest {
  /** Which service token authenticates the call; null: none (password authentication). */
  scope: ServiceScope | null;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  subjectToken?: string;
  body?: unknown;
  signal?: AbortSignal;
}

export interface KeystoneClient {
  /**
   * Sends one request to `path` (starting with /v3/). Throws AllianceError UNAVAILABLE when
   * Keystone cannot be reached, does not answer in time or refuses the service account, and
   * DEADLINE_EXCEEDED when the caller's signal aborts; any HTTP answer is returned.
   */
  request(path: string, request: KeystoneRequest): Promise<KeystoneResponse>;
  /** GET that must answer 200; anything else is UNAVAILABLE, naming the status. */
  getJson(path: string, scope: ServiceScope, signal?: AbortSignal): Promise<unknown>;
}

export interface KeystoneClientDeps {
  clock: Clock;
  log: Logger;
  fetch: typeof fetch;
}

interface CachedToken {
  token: string;
  refreshAtMs: number;
}

type TokenScope = 'project' | 'system';

export function createKeystoneClient(
  deps: KeystoneClientDeps,
  config: Pick<KeystoneIdentityConfig, 'url' | 'serviceUser' | 'requestTimeoutMs'>,
): KeystoneClient {
  const baseUrl = config.url.replace(/\/+$/, '').replace(/\/v3$/, '');
  const log = deps.log;
  const cached = new Map<TokenScope, CachedToken>();
  const pending = new Map<TokenScope, Promise<CachedToken>>();
  const refused = new Map<TokenScope, { error: ServiceAuthError; untilMs: number }>();
  let systemScopeRetryAtMs = 0;

  async function send(path: string, request: KeystoneRequest, authToken: string | null) {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (authToken !== null) headers['X-Auth-Token'] = authToken;
    if (request.subjectToken !== undefined) headers['X-Subject-Token'] = request.subjectToken;
    if (request.body !== undefined) headers['Content-Type'] = 'application/json';
    const timeout = AbortSignal.timeout(config.requestTimeoutMs);
    const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
    const method = request.method ?? 'GET';
    try {
      const res = await deps.fetch(baseUrl + path, {
        method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal,
      });
      const length = Number(res.headers.get('content-length') ?? '0');
      if (length > keystoneResponseBytesMax) {
        await res.body?.cancel();
        throw new AllianceError('UNAVAILABLE', `Keystone answered ${path} with ${length} bytes, too many`);
      }
      const text = await res.text();
      if (text.length > keystoneResponseBytesMax)
        throw new AllianceError('UNAVAILABLE', `Keystone answered ${path} with too many bytes`);
      let body: unknown = null;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
      }
      return { status: res.status, body, headers: res.headers };
    } catch (err) {
      if (err instanceof AllianceError) throw err;
      if (request.signal?.aborted)
        throw new AllianceError('DEADLINE_EXCEEDED', `request to Keystone ${method} ${path} cancelled`, {
          cause: err,
        });
      if (timeout.aborted)
        throw new AllianceError(
          'UNAVAILABLE',
          `Keystone did not answer ${method} ${path} within ${config.requestTimeoutMs} ms`,
          { cause: err },
        );
      throw new AllianceError(
        'UNAVAILABLE',
        `Keystone unreachable (${method} ${path}): ${causeMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  async function authenticate(scope: TokenScope): Promise<CachedToken> {
    const u = config.serviceUser;
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: u.name, domain: { id: u.domainId }, password: u.password } },
        },
        scope:
          scope === 'system'
            ? { system: { all: true } }
            : { project: { name: u.projectName, domain: { id: u.projectDomainId } } },
      },
    };
    const res = await send('/v3/auth/tokens?nocatalog', { scope: null, method: 'POST', body }, null);
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) {
      throw new ServiceAuthError(
        res.status,
        `Keystone refused the service account ${u.name} (${scope} scope): HTTP ${res.status} ${keystoneMessage(res.body)}`,
      );
    }
    const t = isObject(res.body) && isObject(res.body['token']) ? res.body['token'] : {};
    const nowMs = deps.clock.nowMs();
    const expiresAtMs = parseKeystoneTimeMs(t['expires_at']) ?? nowMs + 60_000;
    const marginMs = Math.min(serviceTokenRefreshMarginMaxMs, Math.max(0, (expiresAtMs - nowMs) / 10));
    log.info({ scope, expiresAtMs }, 'service token obtained');
    return { token, refreshAtMs: expiresAtMs - marginMs };
  }

  function serviceToken(scope: TokenScope): Promise<CachedToken> {
    const nowMs = deps.clock.nowMs();
    const current = cached.get(scope);
    if (current && nowMs < current.refreshAtMs) return Promise.resolve(current);
    const failure = refused.get(scope);
    if (failure && nowMs < failure.untilMs) return Promise.reject(failure.error);
    let p = pending.get(scope);
    if (!p) {
      p = authenticate(scope)
        .then((t) => {
          cached.set(scope, t);
          refused.delete(scope);
          return t;
        })
        .catch((err: unknown) => {
          if (err instanceof ServiceAuthError && (err.status === 401 || err.status === 403))
            refused.set(scope, { error: err, untilMs: deps.clock.nowMs() + serviceAuthFailureHoldMs });
          throw err;
        })
        .finally(() => pending.delete(scope));
      pending.set(scope, p);
    }
    return p;
  }

  /** One call with a service token of `scope`, again with a fresh token after a 401. */
  async function sendAs(scope: TokenScope, path: string, request: KeystoneRequest) {
    const first = await serviceToken(scope);
    const res = await send(path, request, first.token);
    if (res.status !== 401) return res;
    if (cached.get(scope) === first) cached.delete(scope);
    log.info({ scope }, 'service token refused by Keystone, authenticating again');
    const second = await serviceToken(scope);
    return send(path, request, second.token);
  }

  async function request(path: string, request: KeystoneRequest): Promise<KeystoneResponse> {
    try {
      if (request.scope === null) return await send(path, request, null);
      if (request.scope === 'project') return await sendAs('project', path, request);
      // 'lookup' and 'admin': a 403 with the system token is not final, the project token may do.
      if (deps.clock.nowMs() >= systemScopeRetryAtMs) {
        try {
          const res = await sendAs('system', path, request);
          if (res.status !== 403) return res;
        } catch (err) {
          if (!(err instanceof ServiceAuthError) || err.status !== 401) throw err;
          systemScopeRetryAtMs = deps.clock.nowMs() + systemScopeRetryMs;
          log.warn(
            { retryInMs: systemScopeRetryMs },
            'service account has no role on the system scope; look-ups use the project-scoped token',
          );
        }
      }
      return await sendAs('project', path, request);
    } catch (err) {
      if (err instanceof ServiceAuthError)
        throw new AllianceError('UNAVAILABLE', err.message, { cause: err });
      throw err;
    }
  }

  async function getJson(path: string, scope: ServiceScope, signal?: AbortSignal): Promise<unknown> {
    const res = await request(path, { scope, signal });
    if (res.status !== 200)
      throw new AllianceError(
        'UNAVAILABLE',
        `Keystone answered GET ${path} with HTTP ${res.status} ${keystoneMessage(res.body)}`,
      );
    return res.body;
  }

  return { request, getJson };
}

class ServiceAuthError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceAuthError';
  }
}

/** Keystone's error message (`{"error": {"message": ...}}`), for logs and details. */
export function keystoneMessage(body: unknown): string {
  const e = isObject(body) ? body['error'] : undefined;
  const message = isObject(e) && typeof e['message'] === 'string' ? e['message'] : '';
  return message.slice(0, 300);
}

/** fetch's TypeError hides the reason (ECONNREFUSED, ...) in `cause`. */
function causeMessage(err: unknown): string {
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  return cause instanceof Error ? `${errorMessage(err)} (${cause.message})` : errorMessage(err);
}
