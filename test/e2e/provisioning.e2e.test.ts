/**
 * Remote provisioning of kind "project" against a real Keystone: cloud-a's node (keystone "a")
 * asks, through its local API, for a project at cloud-b, whose node (keystone "b", the lab's JWS
 * one) makes it in Keystone with a shadow user for cloud-a's user and a role assignment. Each
 * outcome is checked in b's Keystone itself, as its admin. Waits are on provisioning onChange
 * with a deadline, never a sleep. Prints the Provision -> DONE time as an E2E {...} line.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLocalApi } from '../../src/cli/client.js';
import type { LocalApiConnection } from '../../src/cli/client.js';
import type { DevCloud } from '../../src/dev/index.js';
import { ProvisionState, ProvisioningService } from '../../src/gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../../src/gen/alliance/v1/provisioning.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createNode } from '../../src/node.js';
import type { AllianceNode } from '../../src/node.js';
import { onFederationChange, waitFor } from '../integration/harness.js';
import {
  KeystoneAdmin,
  bringUpKeystoneLab,
  identityConfigFor,
  prepareLabFederation,
} from './keystone-lab.js';
import type { KeystoneLab } from './keystone-lab.js';

const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const stateDeadlineMs = 30_000;

let lab: KeystoneLab;
let dir: string;
let clouds: DevCloud[];
const nodes: AllianceNode[] = [];
let api: LocalApiConnection;
let keystoneA: KeystoneAdmin;
let keystoneB: KeystoneAdmin;
/** A user of cloud-a's Keystone, for whom cloud-b makes projects, and the project it was made in. */
let remoteUserId: string;
let remoteProjectId: string;
const madeByTest: string[] = [];

function report(name: string, figures: Record<string, number>): void {
  console.log(`E2E ${JSON.stringify({ name, ...figures })}`);
}

const provisioning = () => api.client(ProvisioningService);

/** The record GetProvision shows at cloud-a once its state is `state`; throws after the deadline. */
async function stateAtA(requestId: string, state: ProvisionState): Promise<ProvisionRecord> {
  const a = nodes[0]!;
  await waitFor(
    `${requestId} to be ${ProvisionState[state]} at cloud-a (now ${ProvisionState[a.provisioning.get(requestId).state]}: ${a.provisioning.get(requestId).detail})`,
    () => a.provisioning.get(requestId).state === state,
    (onChange) => a.provisioning.onChange(onChange),
    stateDeadlineMs,
  );
  const answer = await provisioning().getProvision({ requestId });
  expect(answer.state).toBe(state);
  return answer.provision!;
}

/** The projects of b's Keystone carrying the request's tag. */
async function taggedAtB(requestId: string): Promise<{ id: string; name: string; tags: string[] }[]> {
  const tag = encodeURIComponent(`alliance:cloud-a:${requestId}`);
  const body = await keystoneB.must('GET', `/v3/projects?tags=${tag}`);
  return body['projects'] as { id: string; name: string; tags: string[] }[];
}

beforeAll(async () => {
  lab = await bringUpKeystoneLab();
  keystoneA = new KeystoneAdmin(lab.a);
  keystoneB = new KeystoneAdmin(lab.b);
  ({ dir, clouds } = await prepareLabFederation('alliance-e2e-provisioning-'));
  // No notifications: this file is about provisioning, and leaves no queues behind.
  clouds[0]!.config.identity = identityConfigFor(lab.a, 'unused', { notifications: null });
  clouds[1]!.config.identity = identityConfigFor(lab.b, 'unused', { notifications: null });
  for (const cloud of clouds) {
    const n = createNode(cloud.config, { log: silentLogger() });
    nodes.push(n);
    await n.start();
  }
  await waitFor(
    'the two nodes to connect',
    () => nodes.every((n) => n.mesh.connectedPeers().length === 1),
    onFederationChange(nodes),
    20_000,
  );
  api = connectLocalApi({ address: `127.0.0.1:${clouds[0]!.ports.local}`, timeoutMs: 10_000 });
  ({ userId: remoteUserId, projectId: remoteProjectId } = await keystoneA.projectWithMember('e2e-prov'));
}, 600_000);

afterAll(async () => {
  api?.close();
  await Promise.all(nodes.map((n) => n.stop()));
  for (const id of madeByTest) await keystoneB.call('DELETE', `/v3/projects/${id}`).catch(() => undefined);
  if (remoteUserId) {
    await keystoneA.call('DELETE', `/v3/users/${remoteUserId}`).catch(() => undefined);
    await keystoneA.call('DELETE', `/v3/projects/${remoteProjectId}`).catch(() => undefined);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('remote provisioning of a project in a real Keystone', () => {
  it("makes a tagged project at cloud-b with cloud-a's user holding member, once per request id, and deletes it", async () => {
    const requestId = `e2e-prov-${runId}`;
    const spec = { name: `e2e-prov-${runId}`, userId: remoteUserId, role: 'member' };
    const askedAtMs = Date.now();
    const first = await provisioning().provision({
      targetCloud: 'cloud-b',
      requestId,
      kind: 'project',
      spec,
    });
    expect(first.state).toBe(ProvisionState.PROVISION_STATE_PENDING);
    const done = await stateAtA(requestId, ProvisionState.PROVISION_STATE_DONE);
    const provisionMs = Date.now() - askedAtMs;
    const result = done.result ?? {};
    expect(result).toMatchObject({
      action: 'provision',
      name: spec.name,
      domainId: 'default',
      remoteUserId,
      role: 'member',
    });
    const projectId = result['projectId'] as string;
    const shadowUserId = result['userId'] as string;
    madeByTest.push(projectId);
    expect(done.detail).toBe(`project ${projectId} created, role member assigned`);

    // In b's Keystone: the project, with its tag and description ...
    const tagged = await taggedAtB(requestId);
    expect(tagged.map((p) => ({ id: p.id, name: p.name, tags: p.tags }))).toEqual([
      { id: projectId, name: spec.name, tags: [`alliance:cloud-a:${requestId}`] },
    ]);
    const project = (await keystoneB.must('GET', `/v3/projects/${projectId}`))['project'] as Record<
      string,
      unknown
    >;
    expect(project['description']).toBe(
      `Made by Alliance for user ${remoteUserId} of cloud cloud-a, provisioning request ${requestId}`,
    );
    // ... the shadow user, named after cloud-a's user id, in domain alliance-cloud-a ...
    const user = (await keystoneB.must('GET', `/v3/users/${shadowUserId}`))['user'] as Record<
      string,
      unknown
    >;
    expect(user).toMatchObject({ name: remoteUserId, enabled: true });
    const domain = (await keystoneB.must('GET', `/v3/domains/${user['domain_id'] as string}`))[
      'domain'
    ] as Record<string, unknown>;
    expect(domain['name']).toBe('alliance-cloud-a');
    // ... and its role on the project.
    const assignments = (
      await keystoneB.must(
        'GET',
        `/v3/role_assignments?scope.project.id=${projectId}&user.id=${shadowUserId}&include_names=true`,
      )
    )['role_assignments'] as { role: { name: string } }[];
    expect(assignments.map((a) => a.role.name)).toEqual(['member']);

    // The same request again: the same record, no second project.
    const again = await provisioning().provision({
      targetCloud: 'cloud-b',
      requestId,
      kind: 'project',
      spec,
    });
    expect(again.state).toBe(ProvisionState.PROVISION_STATE_DONE);
    expect(again.provision?.result?.['projectId']).toBe(projectId);
    // And cloud-b's provisioner run again for it (as after a crash while RUNNING) finds it by its tag.
    const rerun = await nodes[1]!.identity.projects!.provisionProject({
      requestId,
      requesterCloud: 'cloud-a',
      name: spec.name,
      domainId: '',
      userId: remoteUserId,
      role: 'member',
    });
    expect(rerun).toEqual({
      projectId,
      name: spec.name,
      domainId: 'default',
      userId: shadowUserId,
      remoteUserId,
      role: 'member',
    });
    expect(await taggedAtB(requestId)).toHaveLength(1);

    // Deprovision: gone from Keystone; the shadow user stays.
    const deprovisionAtMs = Date.now();
    const deprovisioning = await provisioning().deprovision({ requestId });
    expect(deprovisioning.state).toBe(ProvisionState.PROVISION_STATE_DEPROVISIONING);
    const gone = await stateAtA(requestId, ProvisionState.PROVISION_STATE_DEPROVISIONED);
    const deprovisionMs = Date.now() - deprovisionAtMs;
    expect(gone.detail).toBe('project deleted');
    expect(await taggedAtB(requestId)).toEqual([]);
    expect((await keystoneB.call('GET', `/v3/projects/${projectId}`)).status).toBe(404);
    expect((await keystoneB.call('GET', `/v3/users/${shadowUserId}`)).status).toBe(200);

    report('provision project in Keystone', { provisionToDoneMs: provisionMs, deprovisionMs });
  });

  it('answers FAILED, saying so, when the name is taken by a project Alliance did not make', async () => {
    const name = `e2e-prov-taken-${runId}`;
    const theirs = (await keystoneB.must('POST', '/v3/projects', {
      project: { name, domain_id: 'default' },
    })) as { project: { id: string } };
    madeByTest.push(theirs.project.id);
    const requestId = `e2e-prov-taken-${runId}`;
    await provisioning().provision({
      targetCloud: 'cloud-b',
      requestId,
      kind: 'project',
      spec: { name, userId: remoteUserId, role: 'member' },
    });
    const failed = await stateAtA(requestId, ProvisionState.PROVISION_STATE_FAILED);
    expect(failed.detail).toBe(
      `a project named "${name}" already exists in domain "default" of the Keystone of cloud cloud-b, ` +
        'and Alliance did not make it for this request',
    );
    expect(await taggedAtB(requestId)).toEqual([]);
  });

  it('answers FAILED, saying so, for a role that Keystone does not have', async () => {
    const requestId = `e2e-prov-role-${runId}`;
    await provisioning().provision({
      targetCloud: 'cloud-b',
      requestId,
      kind: 'project',
      spec: { name: `e2e-prov-role-${runId}`, userId: remoteUserId, role: 'no-such-role' },
    });
    const failed = await stateAtA(requestId, ProvisionState.PROVISION_STATE_FAILED);
    expect(failed.detail).toBe('the Keystone of cloud cloud-b has no role named "no-such-role"');
    expect(await taggedAtB(requestId)).toEqual([]);
  });
});
