/**
 * The keystone identity source against a fake Keystone on loopback: token validation and its
 * failure modes, the service token's life, the catalog with the roles a stock policy grants,
 * JWS public keys from the key repository, and the rule that a token never reaches the logs.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AllianceError } from '../../../../src/lib/errors.js';
import { fingerprint } from '../../../../src/lib/fingerprint.js';
import type { FakeSubjectToken } from '../../../fakes/fake-keystone.js';
import { createHarness } from './harness.js';
import type { Harness } from './harness.js';

const fernetToken =
  'gAAAAABrA_H9Fh8fsZS9fpqK_sy-h3XhW0b1yKXcGQ6t1KwV1cKJzP1yB4lJm8Xo8fQk9bFf5WQ1wWlKQx0B9H0w6o1b2c3';
const alice: FakeSubjectToken = {
  user: { id: 'u-alice', name: 'alice', domainId: 'default' },
  project: { id: 'p-demo', name: 'demo', domainId: 'dom-2' },
  roles: ['member', 'reader'],
  auditIds: ['YiCmJnEcROyyeYIzmjkAsw'],
  issuedAt: '2026-11-23T06:03:30.000000Z',
  expiresAt: '2026-11-23T07:03:30.000000Z',
};

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AllianceError)) throw new Error(`expected an AllianceError, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

describe('validateToken', () => {
  it("answers valid with the exact identity Keystone's 200 describes", async () => {
    h = await createHarness();
    h.fake.tokens.set(fernetToken, alice);
    expect(await h.source.validateToken(fernetToken)).toEqual({
      valid: true,
      identity: {
        userId: 'u-alice',
        userName: 'alice',
        domainId: 'default',
        projectId: 'p-demo',
        projectName: 'demo',
        projectDomainId: 'dom-2',
        roles: ['member', 'reader'],
        originCloud: 'cloud-a',
        auditIds: ['YiCmJnEcROyyeYIzmjkAsw'],
        issuedAtMs: Date.UTC(2026, 10, 23, 6, 3, 30),
        expiresAtMs: Date.UTC(2026, 10, 23, 7, 3, 30),
        tokenFormat: 'fernet',
      },
    });
    const call = h.fake.requests.find((r) => r.method === 'GET' && r.path === '/v3/auth/tokens');
    expect(call).toEqual({
      method: 'GET',
      path: '/v3/auth/tokens',
      authToken: 'svc-project-1',
      subjectToken: fernetToken,
    });
  });

  it("answers unknown-token for Keystone's 404, saying invalid, expired and revoked look alike", async () => {
    h = await createHarness();
    expect(await h.source.validateToken(fernetToken)).toEqual({
      valid: false,
      reason: 'unknown-token',
      detail:
        'Keystone does not accept this token (it answers 404 for invalid, expired and revoked tokens alike): Could not recognize Fernet token',
    });
  });

  it.each([
    ['an oversized token', 'a'.repeat(8193), 'token longer than 8192 characters'],
    [
      'a token with a header-breaking newline',
      'gAAAA\r\nX-Auth-Token: x',
      'token has characters outside base64url, "." and "="',
    ],
    ['the empty string', '', 'empty token'],
  ])('answers malformed for %s without asking Keystone', async (_name, token, detail) => {
    h = await createHarness();
    expect(await h.source.validateToken(token)).toEqual({ valid: false, reason: 'malformed', detail });
    expect(h.fake.requests).toEqual([]);
  });

  it('throws UNAVAILABLE when Keystone answers 500: "could not find out" is not "no"', async () => {
    h = await createHarness();
    h.fake.validationFailures.push(500);
    expect(await rejection(h.source.validateToken(fernetToken))).toEqual({
      code: 'UNAVAILABLE',
      message:
        'Keystone answered token validation with HTTP 500 An unexpected error prevented the server from fulfilling your request.',
    });
  });

  it('throws UNAVAILABLE when Keystone does not answer within requestTimeoutMs', async () => {
    h = await createHarness({ requestTimeoutMs: 200 });
    h.fake.validationFailures.push('hang');
    const started = Date.now();
    expect(await rejection(h.source.validateToken(fernetToken))).toEqual({
      code: 'UNAVAILABLE',
      message: 'Keystone did not answer GET /v3/auth/tokens?nocatalog within 200 ms',
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('throws UNAVAILABLE when nothing listens at the URL', async () => {
    h = await createHarness();
    await h.fake.stop();
    const { code, message } = await rejection(h.source.validateToken(fernetToken));
    expect([
      code,
      message.startsWith('Keystone unreachable (POST /v3/auth/tokens?nocatalog): fetch failed'),
    ]).toEqual(['UNAVAILABLE', true]);
  });

  it('throws UNAVAILABLE when Keystone refuses the service account', async () => {
    h = await createHarness({
      serviceUser: {
        name: 'alliance',
        password: 'wrong',
        domainId: 'default',
        projectName: 'service',
        projectDomainId: 'default',
      },
    });
    expect(await rejection(h.source.validateToken(fernetToken))).toEqual({
      code: 'UNAVAILABLE',
      message:
        'Keystone refused the service account alliance (project scope): HTTP 401 The request you have made requires authentication.',
    });
    expect(h.logText()).not.toContain('wrong');
  });

  it('does not ask Keystone again for 5 s after it refused the service password', async () => {
    h = await createHarness({
      serviceUser: {
        name: 'alliance',
        password: 'wrong',
        domainId: 'default',
        projectName: 'service',
        projectDomainId: 'default',
      },
    });
    await h.source.validateToken(fernetToken).catch(() => undefined);
    await h.source.validateToken(fernetToken).catch(() => undefined);
    expect(h.fake.authCount()).toBe(1);
    h.clock.advance(5_000);
    expect((await rejection(h.source.validateToken(fernetToken))).code).toBe('UNAVAILABLE');
    expect(h.fake.authCount()).toBe(2);
  });

  it("throws DEADLINE_EXCEEDED when the caller's signal aborts", async () => {
    h = await createHarness({ requestTimeoutMs: 5_000 });
    h.fake.tokens.set(fernetToken, alice);
    await h.source.validateToken(fernetToken); // service token cached
    h.fake.validationFailures.push('hang');
    const controller = new AbortController();
    const pending = h.source.validateToken(fernetToken, controller.signal);
    controller.abort();
    expect((await rejection(pending)).code).toBe('DEADLINE_EXCEEDED');
  });

  it('never writes the token to the log, only its fingerprint', async () => {
    h = await createHarness();
    h.fake.tokens.set(fernetToken, alice);
    const unknown = 'gAAAAABunknownunknownunknownunknown';
    const failing = 'gAAAAABfailingfailingfailingfailing';
    await h.source.validateToken(fernetToken);
    await h.source.validateToken(unknown);
    h.fake.validationFailures.push(503);
    await h.source.validateToken(failing).catch(() => undefined);
    h.fake.expireServiceTokens();
    await h.source.validateToken(fernetToken);
    const text = h.logText();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [fernetToken, unknown, failing, 'svc-project-1', 'svc-project-2', 'alliance-secret'])
      expect(text).not.toContain(secret);
    expect(text).toContain(fingerprint(failing));
  });
});

describe('the service token', () => {
  it('is fetched once for many validations, including concurrent ones', async () => {
    h = await createHarness();
    h.fake.tokens.set(fernetToken, alice);
    await Promise.all([1, 2, 3, 4].map(() => h!.source.validateToken(fernetToken)));
    await h.source.validateToken(fernetToken);
    expect(h.fake.authCount()).toBe(1);
  });

  it('is fetched again, once, when Keystone answers 401 for it', async () => {
    h = await createHarness();
    h.fake.tokens.set(fernetToken, alice);
    await h.source.validateToken(fernetToken);
    h.fake.expireServiceTokens();
    const verdict = await h.source.validateToken(fernetToken);
    expect([verdict.valid, h.fake.authCount()]).toEqual([true, 2]);
    const validations = h.fake.requests.filter((r) => r.method === 'GET').map((r) => r.authToken);
    expect(validations).toEqual(['svc-project-1', 'svc-project-1', 'svc-project-2']);
  });

  it('is refreshed shortly before it expires', async () => {
    h = await createHarness();
    h.fake.serviceTokenLifetimeMs = 3_600_000;
    h.fake.tokens.set(fernetToken, alice);
    await h.source.validateToken(fernetToken);
    h.clock.advance(3_600_000 - 6 * 60_000); // 6 min left: still good (margin is 5 min)
    await h.source.validateToken(fernetToken);
    h.clock.advance(2 * 60_000); // 4 min left
    await h.source.validateToken(fernetToken);
    expect(h.fake.authCount()).toBe(2);
  });
});

describe('catalog', () => {
  it('reads services and endpoints with the system-scoped token the service role lacks', async () => {
    h = await createHarness();
    const endpoint = (id: string, iface: 'public' | 'internal' | 'admin') => ({
      id,
      region: 'RegionOne',
      serviceId: 'svc-keystone',
      interface: iface,
      url: 'http://127.0.0.1:5000/v3/',
      enabled: true,
    });
    expect(await h.source.catalog()).toEqual({
      regions: [
        { id: 'RegionOne', description: '', parentRegionId: '' },
        { id: 'RegionOne-a', description: 'child', parentRegionId: 'RegionOne' },
      ],
      services: [{ id: 'svc-keystone', type: 'identity', name: 'keystone', description: '', enabled: true }],
      endpoints: [
        endpoint('ep-public', 'public'),
        endpoint('ep-internal', 'internal'),
        endpoint('ep-admin', 'admin'),
      ],
    });
    expect(h.logText()).toContain('endpoint ep-odd: interface other is not public, internal or admin');
  });

  it('returns null (keep the configured catalog) when the account may not read it, and logs why', async () => {
    h = await createHarness();
    h.fake.systemRole = false;
    expect(await h.source.catalog()).toBeNull();
    expect(await h.source.catalog()).toBeNull();
    // No role on the system: noticed once, not asked again at every call.
    expect(h.fake.authCount('system')).toBe(1);
    expect(h.logText()).toContain('Keystone answered GET /v3/services with HTTP 403 identity:list_services');
  });

  it('returns null when Keystone is down', async () => {
    h = await createHarness();
    await h.fake.stop();
    expect(await h.source.catalog()).toBeNull();
  });
});

describe('issueToken', () => {
  it('refuses: tokens of a Keystone cloud are issued by Keystone', async () => {
    h = await createHarness();
    const input = { userName: 'a', password: 'b', projectName: 'c', domainName: '', format: 'jws' as const };
    expect(await rejection(h.source.issueToken(input))).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'tokens of this cloud are issued by Keystone',
    });
  });
});

describe('jwsPublicKeys', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const ecPem = () =>
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();

  it('is empty for a fernet cloud', async () => {
    h = await createHarness();
    expect(await h.source.jwsPublicKeys()).toEqual([]);
  });

  it('returns every P-256 key file of the repository, skipping and logging the others, and re-reads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jws-keys-'));
    dirs.push(dir);
    const first = ecPem();
    writeFileSync(join(dir, 'a.pem'), first);
    writeFileSync(join(dir, 'broken.pem'), 'not a key');
    writeFileSync(
      join(dir, 'rsa.pem'),
      generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    h = await createHarness({ jwsPublicKeyDir: dir, refreshMs: 10_000 });
    await h.source.start();
    expect(await h.source.jwsPublicKeys()).toEqual([first]);
    expect(h.logText()).toContain('unusable file in the JWS public key directory, skipped');
    expect(h.logText()).toContain('not an EC P-256 public key');

    const second = ecPem();
    writeFileSync(join(dir, 'b.pem'), second);
    h.clock.advance(10_000);
    await vi.waitFor(async () => expect(await h!.source.jwsPublicKeys()).toEqual([first, second]));
  });

  it('keeps the keys it had when the repository becomes unreadable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jws-keys-'));
    const key = ecPem();
    writeFileSync(join(dir, 'a.pem'), key);
    h = await createHarness({ jwsPublicKeyDir: dir, refreshMs: 10_000 });
    await h.source.start();
    rmSync(dir, { recursive: true });
    h.clock.advance(10_000);
    await vi.waitFor(() => expect(h!.logText()).toContain('JWS public key directory unreadable'));
    expect(await h.source.jwsPublicKeys()).toEqual([key]);
  });
});
