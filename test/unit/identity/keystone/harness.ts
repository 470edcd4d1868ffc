/**
 * Shared set-up for the keystone identity source's unit tests: a fake Keystone, a manual clock,
 * a logger whose JSON lines the test can read, and the source under test. The fake Keystone
 * (test/fakes) knows no users and cannot list domains: the harness's fetch answers those two
 * (GET /v3/users/{id}, GET /v3/domains) itself, from `users` and the fake's `domains`.
 */
import type { KeystoneIdentityConfig } from '../../../../src/config/types.js';
import { createKeystoneIdentity } from '../../../../src/identity/keystone/index.js';
import type {
  KeystoneIdentityDeps,
  KeystoneIdentitySource,
} from '../../../../src/identity/keystone/index.js';
import type { AccountEvent, RevocationInput } from '../../../../src/identity/types.js';
import { ManualClock } from '../../../../src/lib/clock.js';
import { createLogger } from '../../../../src/lib/logger.js';
import type { Logger } from '../../../../src/lib/logger.js';
import { FakeKeystone } from '../../../fakes/fake-keystone.js';

export interface Harness {
  fake: FakeKeystone;
  url: string;
  clock: ManualClock;
  log: Logger;
  /** Every log line written so far, as text. */
  logText(): string;
  logLines(): Record<string, unknown>[];
  config: KeystoneIdentityConfig;
  source: KeystoneIdentitySource;
  /** Served at GET /v3/users/{id} (as Keystone answers the system-scoped service token). */
  users: Map<string, { id: string; name: string; domain_id: string; enabled: boolean }>;
  /** When set, GET /v3/domains answers this status instead of the fake's domains. */
  domainListFailure: { status: number } | null;
  revocations: RevocationInput[];
  /** Every account event the source reported, in order (collected by a listener that resolves at once). */
  accountEvents: AccountEvent[];
  /** Resolves with the first revocation (already seen or coming) that `match` accepts. */
  nextRevocation(match: (r: RevocationInput) => boolean): Promise<RevocationInput>;
  close(): Promise<void>;
}

export async function createHarness(
  overrides: Partial<KeystoneIdentityConfig> = {},
  deps: Partial<KeystoneIdentityDeps> = {},
  options: { collectAccountEvents?: boolean } = {},
): Promise<Harness> {
  const fake = new FakeKeystone();
  const url = await fake.start();
  const clock = new ManualClock(Date.now());
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const config: KeystoneIdentityConfig = {
    kind: 'keystone',
    url,
    serviceUser: {
      name: 'alliance',
      password: 'alliance-secret',
      domainId: 'default',
      projectName: 'service',
      projectDomainId: 'default',
    },
    jwsPublicKeyDir: null,
    revocationPollMs: 2_000,
    refreshMs: 60_000,
    requestTimeoutMs: 1_000,
    notifications: null,
    ...overrides,
  };
  const users: Harness['users'] = new Map();
  const state = { domainListFailure: null as Harness['domainListFailure'] };
  const realFetch = deps.fetch ?? globalThis.fetch;
  const fetchWithUsers: typeof fetch = async (input, init) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    const user = /^\/v3\/users\/([^/]+)$/.exec(target.pathname);
    if (method === 'GET' && user) {
      fake.requests.push({ method, path: target.pathname, authToken: undefined, subjectToken: undefined });
      const u = users.get(decodeURIComponent(user[1]!));
      return u
        ? json(200, { user: { ...u, links: {} } })
        : json(404, { error: { code: 404, message: 'Could not find user', title: 'Not Found' } });
    }
    if (method === 'GET' && target.pathname === '/v3/domains') {
      fake.requests.push({ method, path: target.pathname, authToken: undefined, subjectToken: undefined });
      const failure = state.domainListFailure;
      if (failure) return json(failure.status, { error: { code: failure.status, message: 'no', title: '' } });
      return json(200, { domains: [...fake.domains.values()], links: {} });
    }
    return realFetch(input, init);
  };
  const source = createKeystoneIdentity(
    { clock, log, ...deps, fetch: fetchWithUsers },
    { cloud: 'cloud-a', config },
  );
  const revocations: RevocationInput[] = [];
  const waiters: { match: (r: RevocationInput) => boolean; resolve: (r: RevocationInput) => void }[] = [];
  source.onRevocation((r) => {
    revocations.push(r);
    for (const w of [...waiters]) {
      if (w.match(r)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
    }
  });
  const accountEvents: AccountEvent[] = [];
  if (options.collectAccountEvents !== false)
    source.onAccountEvent(async (event) => {
      accountEvents.push(event);
    });
  return {
    fake,
    url,
    clock,
    log,
    logText: () => lines.join(''),
    logLines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    config,
    source,
    users,
    get domainListFailure() {
      return state.domainListFailure;
    },
    set domainListFailure(value) {
      state.domainListFailure = value;
    },
    revocations,
    accountEvents,
    nextRevocation(match) {
      const seen = revocations.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    async close() {
      await source.stop();
      await fake.stop();
    },
  };
}
