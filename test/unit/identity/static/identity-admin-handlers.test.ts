/**
 * alliance.v1.IdentityAdmin over a real grpc-js server on 127.0.0.1:0, served by the static
 * identity source (and by nothing, as on a Keystone cloud).
 */
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createIdentityAdminHandlers,
  keystoneManagedDetails,
  type IdentityAdminHandlerDeps,
} from '../../../../src/api/identity-admin-handlers.js';
import { acceptMalformedRequests } from '../../../../src/api/malformed-request.js';
import { IdentityAdminClient, IdentityAdminService } from '../../../../src/gen/alliance/v1/identity.js';
import type { Revocation } from '../../../../src/gen/alliance/v1/tokens.js';
import type { RevocationInput } from '../../../../src/identity/index.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import { call, failure, insecure } from '../../api/local-server-harness.js';
import { closeHarness, cloud, ids, openHarness, removeDir, tempDir, type Harness } from './fixture.js';

interface Running {
  client: IdentityAdminClient;
  close(): Promise<void>;
}

async function serve(deps: IdentityAdminHandlerDeps): Promise<Running> {
  const server = new Server();
  server.addService(acceptMalformedRequests(IdentityAdminService), createIdentityAdminHandlers(deps));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  const client = new IdentityAdminClient(`127.0.0.1:${port}`, insecure);
  return {
    client,
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

/** What the node's revocation capability would answer for a published pattern. */
function publishedRevocation(input: RevocationInput): Revocation {
  return {
    id: `static-${input.userId ?? input.projectId ?? ''}`,
    originCloud: cloud,
    localOnly: false,
    tokenFingerprint: '',
    auditId: '',
    auditChainId: '',
    userId: input.userId ?? '',
    projectId: input.projectId ?? '',
    domainId: '',
    issuedBefore: new Date(input.issuedBeforeMs),
    revokedAt: new Date(input.issuedBeforeMs),
    expiresAt: new Date(input.issuedBeforeMs + 3600 * 1000),
    reason: input.reason,
  };
}

describe('IdentityAdmin', () => {
  let dir: string | undefined;
  let h: Harness | undefined;
  let running: Running | undefined;

  afterEach(async () => {
    await running?.close();
    if (h) await closeHarness(h);
    if (dir) removeDir(dir);
    running = undefined;
    h = undefined;
    dir = undefined;
  });

  async function withStaticIdentity(revocationOf?: IdentityAdminHandlerDeps['revocationOf']) {
    dir = tempDir();
    h = openHarness(dir);
    const emitted: RevocationInput[] = [];
    h.identity.onRevocation((revocation) => emitted.push(revocation));
    running = await serve({ identity: h.identity, log: silentLogger(), revocationOf });
    return { client: running.client, harness: h, emitted };
  }

  it('SetUserEnabled disables a user by name, emits its revocation and answers with the published one', async () => {
    const { client, harness, emitted } = await withStaticIdentity(publishedRevocation);
    const nowMs = harness.clock.nowMs();
    const expectedInput = {
      userId: ids.bob,
      issuedBeforeMs: nowMs,
      reason: 'user disabled',
      source: 'static',
    };
    expect(await call((cb) => client.setUserEnabled({ user: 'bob', enabled: false }, cb))).toEqual({
      user: { id: ids.bob, name: 'bob', domainId: 'default', enabled: false, assignments: ['ops:admin'] },
      revocation: publishedRevocation(expectedInput),
    });
    expect(emitted).toEqual([expectedInput]);
  });

  it('SetUserEnabled re-enables by id and answers without a revocation', async () => {
    const { client, emitted } = await withStaticIdentity(publishedRevocation);
    expect(await call((cb) => client.setUserEnabled({ user: ids.carol, enabled: true }, cb))).toEqual({
      user: {
        id: ids.carol,
        name: 'carol',
        domainId: 'default',
        enabled: true,
        assignments: ['demo:member'],
      },
      revocation: undefined,
    });
    expect(emitted).toEqual([]);
  });

  it('SetProjectEnabled disables a project and answers with the published revocation', async () => {
    const { client, harness, emitted } = await withStaticIdentity(publishedRevocation);
    const expectedInput = {
      projectId: ids.demo,
      issuedBeforeMs: harness.clock.nowMs(),
      reason: 'project disabled',
      source: 'static',
    };
    expect(await call((cb) => client.setProjectEnabled({ project: 'demo', enabled: false }, cb))).toEqual({
      projectId: ids.demo,
      enabled: false,
      revocation: publishedRevocation(expectedInput),
    });
    expect(emitted).toEqual([expectedInput]);
  });

  it('leaves the revocation unset when no revocationOf is wired, though the revocation is still emitted', async () => {
    const { client, emitted } = await withStaticIdentity();
    expect(await call((cb) => client.setProjectEnabled({ project: ids.ops, enabled: false }, cb))).toEqual({
      projectId: ids.ops,
      enabled: false,
      revocation: undefined,
    });
    expect(emitted).toHaveLength(1);
  });

  it('ListUsers lists every user with its assignments as "<project>:<role>"', async () => {
    const { client } = await withStaticIdentity();
    await call((cb) => client.setUserEnabled({ user: 'alice', enabled: false }, cb));
    expect(await call((cb) => client.listUsers({}, cb))).toEqual({
      users: [
        {
          id: ids.alice,
          name: 'alice',
          domainId: 'default',
          enabled: false,
          assignments: ['demo:member', 'demo:reader', 'archive:member'],
        },
        { id: ids.bob, name: 'bob', domainId: 'default', enabled: true, assignments: ['ops:admin'] },
        { id: ids.carol, name: 'carol', domainId: 'default', enabled: false, assignments: ['demo:member'] },
        { id: ids.dave, name: 'dave', domainId: 'research', enabled: true, assignments: ['lab:member'] },
      ],
    });
  });

  it('answers NOT_FOUND for an unknown user or project and INVALID_ARGUMENT for an empty one', async () => {
    const { client } = await withStaticIdentity();
    expect(
      await failure(call((cb) => client.setUserEnabled({ user: 'mallory', enabled: false }, cb))),
    ).toEqual({
      code: status.NOT_FOUND,
      details: 'no user with id "mallory", nor with that name in the default domain',
    });
    expect(
      await failure(call((cb) => client.setProjectEnabled({ project: 'nope', enabled: true }, cb))),
    ).toEqual({
      code: status.NOT_FOUND,
      details: 'no project with id "nope", nor with that name in the default domain',
    });
    expect(await failure(call((cb) => client.setUserEnabled({ user: '', enabled: false }, cb)))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'user must be an id or a name of 1 to 255 bytes',
    });
  });

  it('answers FAILED_PRECONDITION for every method on a Keystone cloud', async () => {
    running = await serve({ identity: null, log: silentLogger() });
    const { client } = running;
    const expected = { code: status.FAILED_PRECONDITION, details: keystoneManagedDetails };
    expect(keystoneManagedDetails).toBe(
      "this cloud's identity source is Keystone: manage users and projects there",
    );
    expect(await failure(call((cb) => client.setUserEnabled({ user: 'alice', enabled: false }, cb)))).toEqual(
      expected,
    );
    expect(
      await failure(call((cb) => client.setProjectEnabled({ project: 'demo', enabled: false }, cb))),
    ).toEqual(expected);
    expect(await failure(call((cb) => client.listUsers({}, cb)))).toEqual(expected);
  });
});
