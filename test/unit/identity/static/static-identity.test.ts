import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IssueTokenInput, RevocationInput, TokenIdentity } from '../../../../src/identity/index.js';
import { staticIdentityLimits } from '../../../../src/identity/index.js';
import { AllianceError } from '../../../../src/lib/errors.js';
import {
  closeHarness,
  cloud,
  decodeSegment,
  fixtureConfig,
  ids,
  openHarness,
  removeDir,
  tempDir,
  type Harness,
} from './fixture.js';

const alice = (
  format: IssueTokenInput['format'],
  overrides: Partial<IssueTokenInput> = {},
): IssueTokenInput => ({
  userName: 'alice',
  password: 'alice-secret',
  projectName: 'demo',
  domainName: '',
  format,
  ...overrides,
});

/** The code and message of a rejected promise, for asserting whole. */
async function rejection(
  promise: Promise<unknown> | (() => unknown),
): Promise<{ code: string; message: string }> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    if (err instanceof AllianceError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('it succeeded; a failure was expected');
}

function aliceOnDemo(
  fields: Pick<TokenIdentity, 'auditIds' | 'issuedAtMs' | 'expiresAtMs' | 'tokenFormat'>,
): TokenIdentity {
  return {
    userId: ids.alice,
    userName: 'alice',
    domainId: 'default',
    projectId: ids.demo,
    projectName: 'demo',
    projectDomainId: 'default',
    roles: ['member', 'reader'],
    originCloud: cloud,
    ...fields,
  };
}

describe('static identity source', () => {
  let dir: string;
  let h: Harness;

  beforeEach(() => {
    dir = tempDir();
    h = openHarness(dir);
  });

  afterEach(async () => {
    await closeHarness(h);
    removeDir(dir);
  });

  /** Closes the database and opens everything again from the same files: a node restart. */
  async function restart(config = fixtureConfig()): Promise<void> {
    await closeHarness(h);
    h = openHarness(dir, { clock: h.clock, config });
  }

  describe('issuing and validating', () => {
    it('issues an opaque token, like a Keystone UUID token, that validates to the exact identity', async () => {
      const nowMs = h.clock.nowMs();
      const issued = await h.identity.issueToken(alice('opaque'));
      const [auditId] = issued.identity.auditIds;
      expect(issued.token).toMatch(/^[0-9a-f]{32}$/);
      expect(auditId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const identity = aliceOnDemo({
        auditIds: [auditId ?? ''],
        issuedAtMs: nowMs,
        expiresAtMs: nowMs + 3600 * 1000,
        tokenFormat: 'uuid',
      });
      expect(issued).toEqual({ token: issued.token, expiresAtMs: nowMs + 3600 * 1000, identity });
      expect(await h.identity.validateToken(issued.token)).toEqual({ valid: true, identity });
    });

    it('issues a JWS token in exactly Keystone’s shape that validates to the exact identity', async () => {
      const nowMs = h.clock.nowMs();
      const iat = Math.floor(nowMs / 1000);
      const issued = await h.identity.issueToken(alice('jws'));
      const [auditId] = issued.identity.auditIds;
      expect(auditId).toMatch(/^[A-Za-z0-9_-]{22}$/);

      const [header, payload] = issued.token.split('.');
      expect(Buffer.from(header ?? '', 'base64url').toString()).toBe('{"alg":"ES256","typ":"JWT"}');
      expect(Buffer.from(payload ?? '', 'base64url').toString()).toBe(
        JSON.stringify({
          sub: ids.alice,
          iat,
          exp: iat + 3600,
          openstack_methods: ['password'],
          openstack_audit_ids: [auditId],
          openstack_project_id: ids.demo,
        }),
      );

      const identity = aliceOnDemo({
        auditIds: [auditId ?? ''],
        issuedAtMs: iat * 1000,
        expiresAtMs: (iat + 3600) * 1000,
        tokenFormat: 'jws',
      });
      expect(issued).toEqual({ token: issued.token, expiresAtMs: (iat + 3600) * 1000, identity });
      expect(await h.identity.validateToken(issued.token)).toEqual({ valid: true, identity });
    });

    it('gives every token its own audit id and its own opaque value', async () => {
      const tokens = await Promise.all([1, 2, 3].map(() => h.identity.issueToken(alice('opaque'))));
      expect(new Set(tokens.map((t) => t.token)).size).toBe(3);
      expect(new Set(tokens.map((t) => t.identity.auditIds[0])).size).toBe(3);
    });

    it('authenticates a user of another domain named by domain name or id', async () => {
      const input = {
        userName: 'dave',
        password: 'dave-secret',
        projectName: 'lab',
        format: 'opaque',
      } as const;
      for (const domainName of ['Research', 'research']) {
        const issued = await h.identity.issueToken({ ...input, domainName });
        expect(issued.identity).toMatchObject({
          userId: ids.dave,
          domainId: 'research',
          projectId: ids.lab,
          projectDomainId: 'research',
          roles: ['member'],
        });
      }
    });

    it('verifies its JWS tokens with the key jwsPublicKeys publishes, as another cloud would offline', async () => {
      const { token } = await h.identity.issueToken(alice('jws'));
      const [publicPem, ...others] = await h.identity.jwsPublicKeys();
      expect(others).toEqual([]);
      expect(publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const [header, payload, signature] = token.split('.');
      const verifiesWith = (pem: string, data: string): boolean =>
        verify(
          'sha256',
          Buffer.from(data),
          { key: pem, dsaEncoding: 'ieee-p1363' },
          Buffer.from(signature ?? '', 'base64url'),
        );
      expect(verifiesWith(publicPem ?? '', `${header}.${payload}`)).toBe(true);
      expect(verifiesWith(publicPem ?? '', `${header}.${payload}x`)).toBe(false);
    });

    it('has no catalog of its own: the configured one is kept', async () => {
      expect(await h.identity.catalog()).toBeNull();
      expect(h.identity.kind).toBe('static');
    });
  });

  describe('refusing to issue', () => {
    it('answers a wrong password, an unknown user and an unknown domain with the same error', async () => {
      const same = { code: 'UNAUTHENTICATED', message: 'invalid user name or password' };
      expect(await rejection(h.identity.issueToken(alice('opaque', { password: 'wrong' })))).toEqual(same);
      expect(await rejection(h.identity.issueToken(alice('opaque', { password: '' })))).toEqual(same);
      expect(await rejection(h.identity.issueToken(alice('jws', { userName: 'mallory' })))).toEqual(same);
      expect(await rejection(h.identity.issueToken(alice('opaque', { domainName: 'Nowhere' })))).toEqual(
        same,
      );
      // A user exists only in its own domain.
      expect(await rejection(h.identity.issueToken(alice('opaque', { domainName: 'Research' })))).toEqual(
        same,
      );
    });

    it('refuses a user configured without a password, whatever password is given', async () => {
      const config = fixtureConfig();
      const bob = config.users[1];
      if (bob === undefined) throw new Error('fixture changed');
      bob.password = '';
      await restart(config);
      const input = { ...alice('opaque'), userName: 'bob', projectName: 'ops' };
      for (const password of ['', 'bob-secret']) {
        expect(await rejection(h.identity.issueToken({ ...input, password }))).toEqual({
          code: 'UNAUTHENTICATED',
          message: 'invalid user name or password',
        });
      }
    });

    it('refuses a user disabled in the config', async () => {
      expect(
        await rejection(
          h.identity.issueToken({ ...alice('opaque'), userName: 'carol', password: 'carol-secret' }),
        ),
      ).toEqual({ code: 'UNAUTHENTICATED', message: 'user "carol" is disabled' });
    });

    it('refuses an unknown project, a disabled project, and a project without a role', async () => {
      expect(await rejection(h.identity.issueToken(alice('opaque', { projectName: 'nope' })))).toEqual({
        code: 'PERMISSION_DENIED',
        message: 'no project "nope" in domain "default"',
      });
      expect(await rejection(h.identity.issueToken(alice('opaque', { projectName: 'archive' })))).toEqual({
        code: 'PERMISSION_DENIED',
        message: 'project "archive" is disabled',
      });
      expect(await rejection(h.identity.issueToken(alice('jws', { projectName: 'ops' })))).toEqual({
        code: 'PERMISSION_DENIED',
        message: 'user "alice" has no role on project "ops"',
      });
      // Projects are looked up in the user's domain.
      expect(await rejection(h.identity.issueToken(alice('opaque', { projectName: 'lab' })))).toEqual({
        code: 'PERMISSION_DENIED',
        message: 'no project "lab" in domain "default"',
      });
    });

    it('refuses bad input before looking at credentials', async () => {
      expect(await rejection(h.identity.issueToken(alice('pki' as 'jws')))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'token format must be "opaque" or "jws"',
      });
      expect(await rejection(h.identity.issueToken(alice('opaque', { projectName: '' })))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'a project name is required: the static identity source issues project-scoped tokens only',
      });
      expect(await rejection(h.identity.issueToken(alice('opaque', { userName: '' })))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'a user name is required',
      });
      expect(await rejection(h.identity.issueToken(alice('opaque', { userName: 'x'.repeat(256) })))).toEqual({
        code: 'INVALID_ARGUMENT',
        message: 'user name must be at most 255 bytes',
      });
      expect(await rejection(h.identity.issueToken(alice('opaque', { password: 'x'.repeat(4097) })))).toEqual(
        {
          code: 'INVALID_ARGUMENT',
          message: 'password must be at most 4096 bytes',
        },
      );
    });
  });

  describe('validating what it did not issue', () => {
    it.each([
      ['an empty string', '', 'the token is empty'],
      ['junk', 'not a token', 'neither an opaque token (32 hex characters) nor a JWS'],
      [
        'upper-case hex',
        'ABCDEF0123456789ABCDEF0123456789',
        'neither an opaque token (32 hex characters) nor a JWS',
      ],
      [
        '31 hex characters',
        'abcdef0123456789abcdef012345678',
        'neither an opaque token (32 hex characters) nor a JWS',
      ],
      ['a token over 8 KiB', 'a'.repeat(8 * 1024 + 1), 'the token is longer than 8192 bytes'],
      ['a 1 MiB token', 'a.b.'.repeat(256 * 1024), 'the token is longer than 8192 bytes'],
    ])('answers %s as malformed', async (_name, token, detail) => {
      expect(await h.identity.validateToken(token)).toEqual({ valid: false, reason: 'malformed', detail });
    });

    it('answers a well-formed opaque token it never issued as unknown', async () => {
      expect(await h.identity.validateToken('0123456789abcdef0123456789abcdef')).toEqual({
        valid: false,
        reason: 'unknown-token',
        detail: 'no such token was issued by this cloud',
      });
    });
  });

  describe('expiry', () => {
    it('answers an opaque token expired from its expiry on, then unknown once its row is purged', async () => {
      await h.identity.start();
      const { token, expiresAtMs } = await h.identity.issueToken(alice('opaque'));
      h.clock.advance(3600 * 1000 - 1);
      expect((await h.identity.validateToken(token)).valid).toBe(true);
      h.clock.advance(1);
      const expired = {
        valid: false,
        reason: 'expired',
        detail: `expired at ${new Date(expiresAtMs).toISOString()}`,
      };
      expect(await h.identity.validateToken(token)).toEqual(expired);

      // Kept for expiredTokenRetentionMs so the answer stays informative, then purged by the timer.
      h.clock.advance(staticIdentityLimits.expiredTokenRetentionMs - staticIdentityLimits.purgeIntervalMs);
      expect(await h.identity.validateToken(token)).toEqual(expired);
      h.clock.advance(2 * staticIdentityLimits.purgeIntervalMs);
      expect(await h.identity.validateToken(token)).toMatchObject({ valid: false, reason: 'unknown-token' });
      expect(h.db.prepare('SELECT COUNT(*) AS n FROM identity_static_tokens').get()).toEqual({ n: 0 });
    });

    it('answers a JWS token expired from its exp on', async () => {
      const { token, expiresAtMs } = await h.identity.issueToken(alice('jws'));
      h.clock.advance(expiresAtMs - h.clock.nowMs() - 1);
      expect((await h.identity.validateToken(token)).valid).toBe(true);
      h.clock.advance(1);
      expect(await h.identity.validateToken(token)).toEqual({
        valid: false,
        reason: 'expired',
        detail: `expired at ${new Date(expiresAtMs).toISOString()}`,
      });
    });

    it('stops its purge timer on stop()', async () => {
      await h.identity.start();
      await h.identity.start();
      expect(h.clock.pendingTimers()).toBe(1);
      await h.identity.stop();
      expect(h.clock.pendingTimers()).toBe(0);
    });
  });

  describe('disabling users and projects', () => {
    it('revokes a disabled user’s tokens of both formats and refuses them new ones', async () => {
      const opaque = await h.identity.issueToken(alice('opaque'));
      const jws = await h.identity.issueToken(alice('jws'));
      h.identity.setUserEnabled('alice', false);
      for (const { token } of [opaque, jws]) {
        expect(await h.identity.validateToken(token)).toEqual({
          valid: false,
          reason: 'revoked',
          detail: `user ${ids.alice} is disabled`,
        });
      }
      expect(await rejection(h.identity.issueToken(alice('jws')))).toEqual({
        code: 'UNAUTHENTICATED',
        message: 'user "alice" is disabled',
      });
    });

    it('emits exactly one revocation when an enabled user is disabled, and none for a repeat or a re-enable', async () => {
      const emitted: RevocationInput[] = [];
      h.identity.onRevocation((revocation) => emitted.push(revocation));
      const nowMs = h.clock.nowMs();
      const expected = {
        userId: ids.alice,
        issuedBeforeMs: nowMs,
        reason: 'user disabled',
        source: 'static',
      };

      expect(h.identity.setUserEnabled(ids.alice, false)).toEqual({
        user: {
          id: ids.alice,
          name: 'alice',
          domainId: 'default',
          enabled: false,
          assignments: [
            { project: 'demo', role: 'member' },
            { project: 'demo', role: 'reader' },
            { project: 'archive', role: 'member' },
          ],
        },
        revocation: expected,
        accountEvent: expect.any(Promise) as unknown,
      });
      expect(h.identity.setUserEnabled('alice', false).revocation).toBeNull();
      expect(h.identity.setUserEnabled('alice', true).revocation).toBeNull();
      expect(emitted).toEqual([expected]);
    });

    it('keeps tokens revoked by a disable revoked after a re-enable, and accepts tokens issued later', async () => {
      const before = await h.identity.issueToken(alice('jws'));
      h.clock.advance(1000);
      h.identity.setUserEnabled('alice', false);
      h.clock.advance(1000);
      h.identity.setUserEnabled('alice', true);
      expect(await h.identity.validateToken(before.token)).toEqual({
        valid: false,
        reason: 'revoked',
        detail: `user ${ids.alice} was disabled after the token was issued`,
      });
      const after = await h.identity.issueToken(alice('jws'));
      expect(await h.identity.validateToken(after.token)).toEqual({ valid: true, identity: after.identity });
    });

    it('revokes a disabled project’s tokens, emits one revocation for it, and refuses new tokens for it', async () => {
      const emitted: RevocationInput[] = [];
      h.identity.onRevocation((revocation) => emitted.push(revocation));
      const opaque = await h.identity.issueToken(alice('opaque'));
      const nowMs = h.clock.nowMs();

      expect(h.identity.setProjectEnabled('demo', false)).toEqual({
        project: { id: ids.demo, name: 'demo', domainId: 'default', enabled: false },
        revocation: {
          projectId: ids.demo,
          issuedBeforeMs: nowMs,
          reason: 'project disabled',
          source: 'static',
        },
        accountEvent: expect.any(Promise) as unknown,
      });
      expect(emitted).toEqual([
        { projectId: ids.demo, issuedBeforeMs: nowMs, reason: 'project disabled', source: 'static' },
      ]);
      expect(await h.identity.validateToken(opaque.token)).toEqual({
        valid: false,
        reason: 'revoked',
        detail: `project ${ids.demo} is disabled`,
      });
      expect(await rejection(h.identity.issueToken(alice('opaque')))).toEqual({
        code: 'PERMISSION_DENIED',
        message: 'project "demo" is disabled',
      });
    });

    it('enables a project the config disabled, without emitting anything', async () => {
      const emitted: RevocationInput[] = [];
      h.identity.onRevocation((revocation) => emitted.push(revocation));
      expect(h.identity.setProjectEnabled(ids.archive, true)).toEqual({
        project: { id: ids.archive, name: 'archive', domainId: 'default', enabled: true },
        revocation: null,
        accountEvent: expect.any(Promise) as unknown,
      });
      const issued = await h.identity.issueToken(alice('opaque', { projectName: 'archive' }));
      expect(issued.identity.roles).toEqual(['member']);
      expect(emitted).toEqual([]);
    });

    it('answers NOT_FOUND for an unknown user or project, and looks names up in the default domain only', () => {
      expect(() => h.identity.setUserEnabled('mallory', false)).toThrow(
        new AllianceError('NOT_FOUND', 'no user with id "mallory", nor with that name in the default domain'),
      );
      expect(() => h.identity.setUserEnabled('dave', false)).toThrow(
        new AllianceError('NOT_FOUND', 'no user with id "dave", nor with that name in the default domain'),
      );
      expect(h.identity.setUserEnabled(ids.dave, false).user.enabled).toBe(false);
      expect(() => h.identity.setProjectEnabled('lab', false)).toThrow(
        new AllianceError('NOT_FOUND', 'no project with id "lab", nor with that name in the default domain'),
      );
      expect(() => h.identity.setUserEnabled('', false)).toThrow(
        new AllianceError('INVALID_ARGUMENT', 'user must be an id or a name of 1 to 255 bytes'),
      );
    });

    it('stops notifying a listener once unsubscribed, and lets one failing listener not silence the others', () => {
      const heard: string[] = [];
      const unsubscribe = h.identity.onRevocation(() => heard.push('first'));
      h.identity.onRevocation(() => {
        throw new Error('listener bug');
      });
      h.identity.onRevocation((revocation) => heard.push(revocation.reason));
      h.identity.setUserEnabled('alice', false);
      unsubscribe();
      h.identity.setUserEnabled('bob', false);
      expect(heard).toEqual(['first', 'user disabled', 'user disabled']);
    });

    it('lists every configured user with its effective enabled state', () => {
      h.identity.setUserEnabled('bob', false);
      h.identity.setUserEnabled('carol', true);
      expect(h.identity.listUsers()).toEqual([
        {
          id: ids.alice,
          name: 'alice',
          domainId: 'default',
          enabled: true,
          assignments: [
            { project: 'demo', role: 'member' },
            { project: 'demo', role: 'reader' },
            { project: 'archive', role: 'member' },
          ],
        },
        {
          id: ids.bob,
          name: 'bob',
          domainId: 'default',
          enabled: false,
          assignments: [{ project: 'ops', role: 'admin' }],
        },
        {
          id: ids.carol,
          name: 'carol',
          domainId: 'default',
          enabled: true,
          assignments: [{ project: 'demo', role: 'member' }],
        },
        {
          id: ids.dave,
          name: 'dave',
          domainId: 'research',
          enabled: true,
          assignments: [{ project: 'lab', role: 'member' }],
        },
      ]);
    });
  });

  describe('across restarts and config changes', () => {
    it('keeps an operator’s disable across a restart: the override wins over the config', async () => {
      const { token } = await h.identity.issueToken(alice('opaque'));
      h.identity.setUserEnabled('alice', false);
      h.identity.setProjectEnabled('ops', false);
      await restart();
      expect(h.identity.listUsers().find((user) => user.id === ids.alice)?.enabled).toBe(false);
      expect(await h.identity.validateToken(token)).toEqual({
        valid: false,
        reason: 'revoked',
        detail: `user ${ids.alice} is disabled`,
      });
      expect(await rejection(h.identity.issueToken(alice('opaque')))).toEqual({
        code: 'UNAUTHENTICATED',
        message: 'user "alice" is disabled',
      });
      expect(
        await rejection(
          h.identity.issueToken({
            ...alice('opaque'),
            userName: 'bob',
            password: 'bob-secret',
            projectName: 'ops',
          }),
        ),
      ).toEqual({ code: 'PERMISSION_DENIED', message: 'project "ops" is disabled' });
    });

    it('keeps its JWS key across restarts, with mode 0600, so earlier tokens stay valid', async () => {
      const keysBefore = await h.identity.jwsPublicKeys();
      const pemBefore = readFileSync(h.jwsKeyPath, 'utf8');
      const opaque = await h.identity.issueToken(alice('opaque'));
      const jws = await h.identity.issueToken(alice('jws'));
      await restart();
      expect(statSync(h.jwsKeyPath).mode & 0o777).toBe(0o600);
      expect(readFileSync(h.jwsKeyPath, 'utf8')).toBe(pemBefore);
      expect(pemBefore).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(await h.identity.jwsPublicKeys()).toEqual(keysBefore);
      expect(await h.identity.validateToken(jws.token)).toEqual({ valid: true, identity: jws.identity });
      expect(await h.identity.validateToken(opaque.token)).toEqual({
        valid: true,
        identity: opaque.identity,
      });
    });

    it('answers revoked once the role the token relied on is removed from the config', async () => {
      const opaque = await h.identity.issueToken(alice('opaque'));
      const jws = await h.identity.issueToken(alice('jws'));
      const config = fixtureConfig();
      const aliceConfig = config.users[0];
      if (aliceConfig === undefined) throw new Error('fixture changed');
      aliceConfig.roles = aliceConfig.roles.filter((assignment) => assignment.project !== 'demo');
      await restart(config);
      for (const { token } of [opaque, jws]) {
        expect(await h.identity.validateToken(token)).toEqual({
          valid: false,
          reason: 'revoked',
          detail: `no role on project ${ids.demo}`,
        });
      }
    });

    it('reports the current roles, not those at issue time', async () => {
      const { token } = await h.identity.issueToken(alice('jws'));
      const config = fixtureConfig();
      config.users[0]?.roles.push({ project: 'demo', role: 'admin' });
      await restart(config);
      expect(await h.identity.validateToken(token)).toMatchObject({
        valid: true,
        identity: { roles: ['member', 'reader', 'admin'] },
      });
    });

    it('answers revoked once the user is removed from the config', async () => {
      const { token } = await h.identity.issueToken(alice('opaque'));
      const config = fixtureConfig();
      config.users = config.users.filter((user) => user.name !== 'alice');
      await restart(config);
      expect(await h.identity.validateToken(token)).toEqual({
        valid: false,
        reason: 'revoked',
        detail: `user ${ids.alice} no longer exists`,
      });
    });

    it('refuses a config that contradicts itself', async () => {
      const config = fixtureConfig();
      config.users[1]?.roles.push({ project: 'lab', role: 'member' });
      await closeHarness(h);
      expect(() => openHarness(dir, { config })).toThrow(
        new AllianceError(
          'INVALID_ARGUMENT',
          'static identity config: user "bob" has a role on project "lab", which is not in domain "default"',
        ),
      );
      h = openHarness(dir);
    });

    it('refuses a JWS key file that is not an EC P-256 key', async () => {
      await closeHarness(h);
      const other = tempDir();
      try {
        const keyPath = join(other, 'keys', 'jws', 'private.pem');
        mkdirSync(join(other, 'keys', 'jws'), { recursive: true });
        const { privateKey } = generateKeyPairSync('ed25519');
        writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
        expect(() => openHarness(other)).toThrow(
          new AllianceError('INVALID_ARGUMENT', `JWS key ${keyPath} is not an EC P-256 key (ES256)`),
        );
      } finally {
        removeDir(other);
      }
      h = openHarness(dir);
    });
  });

  describe('secrecy', () => {
    it('never stores an opaque token in clear, only its SHA-256', async () => {
      const issued = await Promise.all([1, 2, 3].map(() => h.identity.issueToken(alice('opaque'))));
      const jws = await h.identity.issueToken(alice('jws'));
      const bytesOnDisk = (): string =>
        readdirSync(dir)
          .filter((name) => name.startsWith('node.db'))
          .map((name) => readFileSync(join(dir, name)).toString('latin1'))
          .join('\n');

      for (const snapshot of [bytesOnDisk(), (await restart(), bytesOnDisk())]) {
        for (const { token } of issued) {
          expect(snapshot).not.toContain(token);
          // The digest is there: these are the right bytes to look in.
          expect(snapshot).toContain(createHash('sha256').update(token).digest('hex'));
        }
        expect(snapshot).not.toContain(jws.token.split('.')[2]);
      }
    });

    it('publishes only the public half of its key', async () => {
      const [pem] = await h.identity.jwsPublicKeys();
      expect(pem).not.toContain('PRIVATE');
      expect(createPublicKey(pem ?? '').asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    });
  });

  it('decodes as Keystone’s verify-jws.js would: claims are integer seconds', async () => {
    const { token } = await h.identity.issueToken(alice('jws'));
    const payload = decodeSegment(token, 1) as { iat: unknown; exp: unknown };
    expect(Number.isInteger(payload.iat)).toBe(true);
    expect(Number.isInteger(payload.exp)).toBe(true);
  });
});
