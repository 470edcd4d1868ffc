/**
 * Single sign-on and sign-out with real Keystones: cloud-a's node fronts the Fernet Keystone
 * ("a", 127.0.0.1:5000), cloud-b's the JWS one ("b", 127.0.0.1:5001). Tokens Keystone issued
 * in one cloud are accepted by the other cloud's node; revocations and disables made in
 * Keystone reach the other cloud. Times are printed as E2E {...} lines.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevCloud } from '../../src/dev/index.js';
import { EventsService, Outcome } from '../../src/gen/alliance/v1/events.js';
import { InvalidReason } from '../../src/gen/alliance/v1/tokens.js';
import { connectLocalApi } from '../../src/cli/client.js';
import type { ValidateTokenResponse } from '../../src/gen/alliance/v1/tokens.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createNode } from '../../src/node.js';
import type { AllianceNode } from '../../src/node.js';
import type { RevocationPattern } from '../../src/revocation/index.js';
import { onFederationChange, waitFor } from '../integration/harness.js';
import {
  KeystoneAdmin,
  bringUpKeystoneLab,
  identityConfigFor,
  prepareLabFederation,
} from './keystone-lab.js';
import type { KeystoneLab } from './keystone-lab.js';

let lab: KeystoneLab;
let dir: string;
let clouds: DevCloud[];
const nodes: (AllianceNode | null)[] = [null, null];
let keystoneA: KeystoneAdmin;
let keystoneB: KeystoneAdmin;

function report(name: string, figures: Record<string, number>): void {
  console.log(`E2E ${JSON.stringify({ name, ...figures })}`);
}

function node(i: number): AllianceNode {
  const n = nodes[i];
  if (!n) throw new Error(`node ${i} is not running`);
  return n;
}

async function startNode(i: number): Promise<AllianceNode> {
  const cloud = clouds[i];
  if (!cloud) throw new Error(`no cloud ${i}`);
  const n = createNode(cloud.config, { log: silentLogger() });
  nodes[i] = n;
  await n.start();
  return n;
}

async function bothConnected(): Promise<void> {
  const running = nodes.filter((n): n is AllianceNode => n !== null);
  await waitFor(
    'the two nodes to connect',
    () => running.every((n) => n.mesh.connectedPeers().length === running.length - 1),
    onFederationChange(running),
    20_000,
  );
}

/** Resolves when `at` has applied a revocation `match` accepts; the ms it took from now. */
async function appliedAt(
  at: AllianceNode,
  match: (p: RevocationPattern) => boolean,
  timeoutMs = 20_000,
): Promise<number> {
  const started = Date.now();
  await waitFor(
    'the revocation',
    () => at.revocations.list().some(match),
    (cb) => at.revocations.onApplied(cb),
    timeoutMs,
  );
  return Date.now() - started;
}

const summary = (r: ValidateTokenResponse) => ({
  valid: r.valid,
  reason: InvalidReason[r.reason],
  user: r.identity?.userName,
  project: r.identity?.projectName,
  origin: r.identity?.originCloud,
  format: r.identity?.tokenFormat,
  mapped: r.local?.mapped,
});

beforeAll(async () => {
  lab = await bringUpKeystoneLab();
  keystoneA = new KeystoneAdmin(lab.a);
  keystoneB = new KeystoneAdmin(lab.b);
  ({ dir, clouds } = await prepareLabFederation('alliance-e2e-'));
  const runId = Date.now().toString(36);
  clouds[0]!.config.identity = identityConfigFor(lab.a, `alliance-e2e-a-${runId}`);
  clouds[1]!.config.identity = identityConfigFor(lab.b, `alliance-e2e-b-${runId}`);
  // Keystone's bootstrapped users hold admin and member: map a remote member to a local project.
  for (const cloud of clouds) {
    cloud.config.mapping = [
      {
        name: 'remote-members',
        match: { clouds: [], domains: [], projects: [], roles: ['member', 'admin'] },
        grant: { project: 'remote-{cloud}', roles: ['member'] },
      },
    ];
  }
  await startNode(0);
  await startNode(1);
  await bothConnected();
}, 600_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n?.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('with real Keystones', () => {
  it("publishes each Keystone's catalog, so the other cloud discovers it", async () => {
    await waitFor(
      "both Keystones' regions at both nodes",
      () =>
        nodes.every((n) => {
          const regions = n!.catalog.listRegions({}).map((r) => `${r.cloud}/${r.id}`);
          return regions.includes('cloud-a/RegionOne') && regions.includes('cloud-b/RegionTwo');
        }),
      onFederationChange(nodes.filter((n): n is AllianceNode => n !== null)),
    );
    const identityAtA = node(1).catalog.listEndpoints({
      cloud: 'cloud-a',
      serviceType: 'identity',
      interface: 'public',
    });
    expect(identityAtA.map((e) => e.url)).toEqual(['http://127.0.0.1:5000/v3/']);
  });

  it("accepts a Fernet token of cloud-a's Keystone at cloud-b, asking cloud-a", async () => {
    const token = await keystoneA.issue('admin', lab.a.adminPassword, { projectName: 'admin' });
    expect(token.startsWith('gAAAAA')).toBe(true);
    const answer = await node(1).tokens.validate(token, '');
    expect(summary(answer)).toEqual({
      valid: true,
      reason: 'INVALID_REASON_UNSPECIFIED',
      user: 'admin',
      project: 'admin',
      origin: 'cloud-a',
      format: 'fernet',
      mapped: true,
    });
    expect(answer.identity?.roles).toContain('admin');
  });

  it("verifies a JWS token of cloud-b's Keystone offline at cloud-a, roles from cloud-b", async () => {
    const token = await keystoneB.issue('admin', lab.b.adminPassword, { projectName: 'admin' });
    const answer = await node(0).tokens.validate(token, '');
    expect(summary(answer)).toEqual({
      valid: true,
      reason: 'INVALID_REASON_UNSPECIFIED',
      user: 'admin',
      project: 'admin',
      origin: 'cloud-b',
      format: 'jws',
      mapped: true,
    });

    // With cloud-b's node down, new JWS tokens still verify: the signature is checked offline
    // with the keys the mesh distributed. A user already seen keeps its remembered names and
    // roles; a user never seen is valid with names and roles unknown, and the answer says so.
    const sameUser = await keystoneB.issue('admin', lab.b.adminPassword, { projectName: 'admin' });
    const stranger = await keystoneB.projectWithMember('e2e-offline');
    const strangerToken = await keystoneB.issue(stranger.userName, stranger.password, {
      projectId: stranger.projectId,
    });
    await node(1).stop();
    nodes[1] = null;
    try {
      const known = await node(0).tokens.validate(sameUser, '');
      expect(summary(known)).toMatchObject({ valid: true, user: 'admin', origin: 'cloud-b', format: 'jws' });
      expect(known.identity?.roles).toContain('admin');
      const offline = await node(0).tokens.validate(strangerToken, '');
      expect(offline.valid).toBe(true);
      expect(offline.identity?.originCloud).toBe('cloud-b');
      expect(offline.identity?.userId).toBe(stranger.userId);
      expect(offline.identity?.roles).toEqual([]);
      expect(offline.detail).toContain('verified offline');
    } finally {
      await startNode(1);
      await bothConnected();
    }
  });

  it('stops a token revoked in Keystone at the other cloud (single sign-out)', async () => {
    const token = await keystoneA.issue('admin', lab.a.adminPassword, { projectName: 'admin' });
    const before = await node(1).tokens.validate(token, '');
    expect(before.valid).toBe(true);
    const auditId = before.identity?.auditIds[0];

    const revokedAtMs = Date.now();
    const r = await keystoneA.call('DELETE', '/v3/auth/tokens', { subject: token });
    expect(r.status).toBe(204);
    await appliedAt(node(1), (p) => p.auditId === auditId && p.originCloud === 'cloud-a');
    report('keystone-revoke-to-other-cloud', { ms: Date.now() - revokedAtMs, pollMs: 500 });
    expect(summary(await node(1).tokens.validate(token, ''))).toMatchObject({
      valid: false,
      reason: 'INVALID_REASON_REVOKED',
    });
  });

  it('stops JWS tokens of a project disabled in Keystone at the other cloud (notifications)', async () => {
    const member = await keystoneB.projectWithMember('e2e-fed');
    const token = await keystoneB.issue(member.userName, member.password, { projectId: member.projectId });
    expect((await node(0).tokens.validate(token, '')).valid).toBe(true);

    const disabledAtMs = Date.now();
    await keystoneB.must('PATCH', `/v3/projects/${member.projectId}`, { project: { enabled: false } });
    await appliedAt(node(0), (p) => p.projectId === member.projectId && p.originCloud === 'cloud-b');
    report('keystone-disable-project-to-other-cloud', { ms: Date.now() - disabledAtMs });
    expect(summary(await node(0).tokens.validate(token, ''))).toMatchObject({
      valid: false,
      reason: 'INVALID_REASON_REVOKED',
    });
  });

  it("delivers a project deleted in cloud-a's Keystone to cloud-b's nova, and cloud-a sees it done", async () => {
    const member = await keystoneA.projectWithMember('e2e-events');
    const api = connectLocalApi({ address: `127.0.0.1:${clouds[1]!.ports.local}`, timeoutMs: 10_000 });
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(), 30_000);
    try {
      const stream = api
        .client(EventsService)
        .subscribe({ subscriber: 'nova', types: ['identity.project.deleted'] }, { signal: abort.signal });
      const deletedAtMs = Date.now();
      await keystoneA.must('DELETE', `/v3/projects/${member.projectId}`);
      let received: { id: string; originCloud: string; type: string } | undefined;
      for await (const event of stream) {
        if (event.subject === member.projectId) {
          received = { id: event.id, originCloud: event.originCloud, type: event.type };
          await api
            .client(EventsService)
            .ack({ subscriber: 'nova', eventId: event.id, outcome: Outcome.OUTCOME_DONE, detail: '' });
          break;
        }
        // Other deletions (earlier tests' projects) are someone else's business here.
        await api
          .client(EventsService)
          .ack({ subscriber: 'nova', eventId: event.id, outcome: Outcome.OUTCOME_SKIPPED, detail: '' });
      }
      expect(received).toMatchObject({ originCloud: 'cloud-a', type: 'identity.project.deleted' });
      report('keystone-project-deleted-to-other-cloud-subscriber', { ms: Date.now() - deletedAtMs });

      // The receipt travels back: cloud-a's status shows cloud-b's nova done.
      const eventId = received!.id;
      const novaAtB = () =>
        node(0)
          .events.status(eventId)
          .clouds.find((c) => c.cloud === 'cloud-b')
          ?.subscribers.find((sub) => sub.name === 'nova')?.outcome;
      await waitFor(
        'the receipt of cloud-b/nova at cloud-a',
        () => novaAtB() === Outcome.OUTCOME_DONE,
        (cb) => node(0).events.onChange(cb),
      );
    } finally {
      clearTimeout(deadline);
      abort.abort();
      api.close();
    }
  });
});
