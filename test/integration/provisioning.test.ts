/**
 * Remote provisioning across three real nodes (real gRPC, mTLS, SQLite; the dev clouds use the
 * built-in identity source): cloud-a asks cloud-b for a project for one of its users, and for a
 * custom kind that cloud-b's subscriber nova handles; GetProvision at cloud-a follows the state
 * cloud-b publishes. Every wait is on a change (provisioning or events onChange), never a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApiError } from '../../src/cli/client.js';
import type { LocalApiConnection } from '../../src/cli/client.js';
import { EventsService, Outcome } from '../../src/gen/alliance/v1/events.js';
import type { Event } from '../../src/gen/alliance/v1/events.js';
import { ProvisionState, ProvisioningService } from '../../src/gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../../src/gen/alliance/v1/provisioning.js';
import type { StaticIdentity } from '../../src/identity/index.js';
import { TestFederation, waitFor } from './harness.js';

let federation: TestFederation;
const connections: LocalApiConnection[] = [];

beforeAll(async () => {
  federation = await TestFederation.start({ clouds: 3 });
  await federation.fullyConnected();
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  await federation.stop();
});

function api(index: number): LocalApiConnection {
  const connection = federation.localApi(index);
  connections.push(connection);
  return connection;
}

const provisioning = (index: number) => api(index).client(ProvisioningService);

/** Resolves with the record GetProvision shows at node `at` once its state is `state`. */
async function stateAt(at: number, requestId: string, state: ProvisionState): Promise<ProvisionRecord> {
  const node = federation.node(at);
  await waitFor(
    `${requestId} to be ${ProvisionState[state]} at node ${at}`,
    () => node.provisioning.get(requestId).state === state,
    (onChange) => node.provisioning.onChange(onChange),
    15_000,
  );
  return node.provisioning.get(requestId);
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    if (err instanceof LocalApiError) return err.code;
    throw err;
  }
  return 'OK';
}

function staticIdentityOf(index: number): StaticIdentity {
  const identity = federation.node(index).identity;
  if (identity.kind !== 'static') throw new Error('the dev clouds use the static identity source');
  return identity as StaticIdentity;
}

describe('remote provisioning across three clouds', () => {
  it('provisions a project at cloud-b for a cloud-a user, once per request id', async () => {
    const spec = { name: 'alice-at-b', userId: 'cloud-a-user-alice', role: 'member' };
    const first = await provisioning(0).provision({
      targetCloud: 'cloud-b',
      requestId: 'req-project-1',
      kind: 'project',
      spec,
    });
    expect(first.state).toBe(ProvisionState.PROVISION_STATE_PENDING);
    expect(first.provision?.requesterCloud).toBe('cloud-a');

    const done = await stateAt(0, 'req-project-1', ProvisionState.PROVISION_STATE_DONE);
    expect(done.result).toMatchObject({ name: 'alice-at-b', userId: 'cloud-a-user-alice', role: 'member' });
    const projects = staticIdentityOf(1).listProvisionedProjects();
    expect(projects).toEqual([
      expect.objectContaining({
        requestId: 'req-project-1',
        name: 'alice-at-b',
        userId: 'cloud-a-user-alice',
        role: 'member',
        projectId: done.result?.['projectId'],
      }),
    ]);
    // Nothing at the other clouds.
    expect(staticIdentityOf(0).listProvisionedProjects()).toEqual([]);
    expect(staticIdentityOf(2).listProvisionedProjects()).toEqual([]);

    // The same request again: the same record, nothing made twice.
    const again = await provisioning(0).provision({
      targetCloud: 'cloud-b',
      requestId: 'req-project-1',
      kind: 'project',
      spec,
    });
    expect(again.state).toBe(ProvisionState.PROVISION_STATE_DONE);
    expect(again.provision?.result?.['projectId']).toBe(done.result?.['projectId']);
    expect(staticIdentityOf(1).listProvisionedProjects()).toHaveLength(1);

    // The same id with another spec is refused.
    expect(
      await codeOf(
        provisioning(0).provision({
          targetCloud: 'cloud-b',
          requestId: 'req-project-1',
          kind: 'project',
          spec: { ...spec, role: 'admin' },
        }),
      ),
    ).toBe('ALREADY_EXISTS');

    // Deprovision deletes it.
    const deprovisioning = await provisioning(0).deprovision({ requestId: 'req-project-1' });
    expect(deprovisioning.state).toBe(ProvisionState.PROVISION_STATE_DEPROVISIONING);
    await stateAt(0, 'req-project-1', ProvisionState.PROVISION_STATE_DEPROVISIONED);
    expect(staticIdentityOf(1).listProvisionedProjects()).toEqual([]);
  });

  it('a project name already taken at the target makes the request FAILED with the reason', async () => {
    const spec = { name: 'taken', userId: 'u1', role: 'member' };
    await provisioning(0).provision({
      targetCloud: 'cloud-c',
      requestId: 'req-taken-1',
      kind: 'project',
      spec,
    });
    await stateAt(0, 'req-taken-1', ProvisionState.PROVISION_STATE_DONE);
    await provisioning(0).provision({
      targetCloud: 'cloud-c',
      requestId: 'req-taken-2',
      kind: 'project',
      spec,
    });
    const failed = await stateAt(0, 'req-taken-2', ProvisionState.PROVISION_STATE_FAILED);
    expect(failed.detail).toContain('already exists');
    expect(staticIdentityOf(2).listProvisionedProjects()).toHaveLength(1);
  });

  it('delivers a custom kind to the target subscriber, whose ack is the outcome', async () => {
    const received: Event[] = [];
    const controller = new AbortController();
    const client = api(1).client(EventsService);
    const stream = (async () => {
      for await (const event of client.subscribe(
        { subscriber: 'nova', types: ['provision.request'] },
        { signal: controller.signal },
      )) {
        received.push(event);
        const fail = event.data?.['requestId'] === 'req-quota-bad';
        await client.ack({
          subscriber: 'nova',
          eventId: event.id,
          outcome: fail ? Outcome.OUTCOME_FAILED : Outcome.OUTCOME_DONE,
          detail: fail ? 'quota too large' : 'quota set',
        });
      }
    })().catch((err: unknown) => err);
    try {
      await provisioning(0).provision({
        targetCloud: 'cloud-b',
        requestId: 'req-quota-ok',
        kind: 'quota',
        spec: { cores: 8 },
      });
      await provisioning(0).provision({
        targetCloud: 'cloud-b',
        requestId: 'req-quota-bad',
        kind: 'quota',
        spec: { cores: 100_000 },
      });
      const ok = await stateAt(0, 'req-quota-ok', ProvisionState.PROVISION_STATE_DONE);
      expect(ok.detail).toBe('quota set');
      const bad = await stateAt(0, 'req-quota-bad', ProvisionState.PROVISION_STATE_FAILED);
      expect(bad.detail).toContain('quota too large');
      const okEvent = received.find((e) => e.data?.['requestId'] === 'req-quota-ok');
      expect(okEvent?.type).toBe('provision.request');
      expect(okEvent?.originCloud).toBe('cloud-b');
      expect(okEvent?.data).toMatchObject({
        requesterCloud: 'cloud-a',
        kind: 'quota',
        action: 'provision',
        spec: { cores: 8, action: 'provision' },
      });

      await provisioning(0).deprovision({ requestId: 'req-quota-ok' });
      await stateAt(0, 'req-quota-ok', ProvisionState.PROVISION_STATE_DEPROVISIONED);
      expect(
        received.some((e) => e.data?.['requestId'] === 'req-quota-ok' && e.data['action'] === 'deprovision'),
      ).toBe(true);
    } finally {
      controller.abort();
      await stream;
    }
  });

  it('answers bad input and unknown ids with clear statuses', async () => {
    const client = provisioning(0);
    expect(await codeOf(client.getProvision({ requestId: 'no-such-request' }))).toBe('NOT_FOUND');
    expect(await codeOf(client.deprovision({ requestId: 'no-such-request' }))).toBe('NOT_FOUND');
    expect(await codeOf(client.getProvision({ requestId: '' }))).toBe('INVALID_ARGUMENT');
    const base = { targetCloud: 'cloud-b', requestId: 'req-bad', kind: 'quota', spec: {} };
    for (const bad of [
      { ...base, requestId: '' },
      { ...base, requestId: 'x'.repeat(200) },
      { ...base, requestId: 'has space' },
      { ...base, targetCloud: '' },
      { ...base, kind: '' },
      { ...base, kind: 'Not A Kind' },
      { ...base, spec: { blob: 'x'.repeat(20_000) } },
      { ...base, kind: 'project', spec: { name: 'p' } },
    ]) {
      expect(await codeOf(client.provision(bad)), JSON.stringify(bad).slice(0, 80)).toBe('INVALID_ARGUMENT');
    }
    // Nothing was recorded for the refused requests.
    expect(await codeOf(client.getProvision({ requestId: 'req-bad' }))).toBe('NOT_FOUND');
  });
});
