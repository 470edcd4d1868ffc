/**
 * Account events from Keystone's notifications, through the identity source with an in-memory
 * broker and a fake Keystone: a message is acked only after every account event listener resolved;
 * a listener that rejects (or never settles) gets the message requeued after the delay, never
 * acked; updates become disabled events after reading the resource; a domain's paired notifications
 * become one event; malformed messages are parked, however many, and the consumer goes on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AccountEvent } from '../../../../src/identity/types.js';
import { deadLetterBroker } from './dead-letter-broker.js';
import type { DeadLetterBroker } from './dead-letter-broker.js';
import { createHarness } from './harness.js';
import type { Harness } from './harness.js';
import {
  cadfGroupRoleAssignmentDeleted,
  cadfProjectUpdated,
  cadfRoleAssignmentDeleted,
} from './notification-samples.js';

const samplesDir = join(import.meta.dirname, 'samples');
const notifications = {
  url: 'amqp://guest:guest@127.0.0.1:5672/a',
  exchange: 'keystone',
  queue: 'alliance-cloud-a',
};

/** The wire bodies of a *.jsonl capture, in arrival order, with their inner messages. */
function capture(file: string): { body: string; id: string; type: string; resource: string }[] {
  return readFileSync(join(samplesDir, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const r = JSON.parse(l) as {
        envelope: unknown;
        message: { message_id: string; event_type: string; payload: { resource_info?: string } };
      };
      return {
        body: JSON.stringify(r.envelope),
        id: r.message.message_id,
        type: r.message.event_type,
        resource: r.message.payload.resource_info ?? '',
      };
    });
}

/** The wire body of a pretty-printed sample. */
const sample = (file: string) =>
  JSON.stringify(
    (JSON.parse(readFileSync(join(samplesDir, file), 'utf8')) as { envelope: unknown }).envelope,
  );

const projectId = '1d4e39c7e28345a78e1ea2717d548bd9'; // of cadfProjectUpdated, cadfRoleAssignmentDeleted
const cadfDomain = 'b402368be86f436cbb70fa150832e627'; // the CADF scenario's domain
const cadfUser = '28a29bda1118448d8d0fae107bb4444b'; // the CADF scenario's alice

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function started(setup: (h: Harness) => void = () => undefined) {
  const dl: DeadLetterBroker = deadLetterBroker();
  h = await createHarness({ notifications }, { amqpConnect: dl.connect });
  setup(h);
  await h.source.start();
  return { h, broker: dl.broker, dl };
}

const summary = (events: AccountEvent[]) => events.map((e) => [e.type, e.subject]);

describe('account events from Keystone notifications', () => {
  it('acks a message only after a slow listener resolved, and after every listener did', async () => {
    const { h, broker } = await started();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    h.source.onAccountEvent(async (e) => {
      order.push(`slow got ${e.type}`);
      await gate;
      order.push('slow resolved');
    });
    h.source.onAccountEvent(async () => {
      order.push('fast resolved');
    });
    const settled = broker.deliver(sample('cadf.identity.project.deleted.json'));
    await vi.waitFor(() => expect(order).toEqual(['slow got identity.project.deleted', 'fast resolved']));
    // Both listeners have the event and one resolved: still not acked.
    await new Promise((resolve) => setImmediate(resolve));
    expect(broker.settled).toEqual([]);
    release();
    expect(await settled).toEqual({ deliveryTag: 1, outcome: 'ack' });
    expect(order).toEqual(['slow got identity.project.deleted', 'fast resolved', 'slow resolved']);
  });

  it('requeues (after the delay, never acks) a message whose listener rejects, and logs it; the redelivery carries the same ids', async () => {
    const { h, broker } = await started();
    let failures = 1;
    const seen: AccountEvent[] = [];
    h.source.onAccountEvent(async (e) => {
      seen.push(e);
      if (failures-- > 0) throw new Error('event store down');
    });
    const timersBefore = h.clock.pendingTimers();
    const first = broker.deliver(cadfRoleAssignmentDeleted);
    await vi.waitFor(() => expect(h.clock.pendingTimers()).toBe(timersBefore + 1));
    expect(broker.settled).toEqual([]);
    h.clock.advance(4_999);
    expect(broker.settled).toEqual([]);
    h.clock.advance(1);
    expect(await first).toMatchObject({ outcome: 'requeue' });
    expect(
      h
        .logLines()
        .find((l) => l['msg'] === 'account event listener failed; the Keystone notification will be retried'),
    ).toMatchObject({
      level: 40,
      type: 'identity.role_assignment.removed',
      subject: cadfUser,
      sourceId: '7e6a59bf-d315-415b-bc60-fb7bbd345c3b',
      err: 'event store down',
    });
    // RabbitMQ delivers it again: this time the listener takes it.
    expect(await broker.deliver(cadfRoleAssignmentDeleted)).toMatchObject({ outcome: 'ack' });
    expect(seen).toHaveLength(2);
    expect(seen[1]).toEqual(seen[0]);
    // Revocations are emitted on each delivery, identical (idempotent downstream).
    expect(h.revocations).toHaveLength(2);
    expect(h.revocations[1]).toEqual(h.revocations[0]);
  });

  it('counts a listener that does not settle within 30 s as failed: requeued', async () => {
    const { h, broker } = await started();
    h.source.onAccountEvent(() => new Promise<void>(() => undefined));
    const settled = broker.deliver(sample('basic.identity.user.deleted.json'));
    await vi.waitFor(() => expect(h.accountEvents).toHaveLength(1));
    h.clock.advance(30_000);
    await vi.waitFor(() => expect(h.logText()).toContain('listener did not settle within 30000 ms'));
    h.clock.advance(5_000);
    expect(await settled).toMatchObject({ outcome: 'requeue' });
  });

  it('stops promptly while a listener is pending, leaving the message unacked for the broker to redeliver', async () => {
    const { h, broker } = await started();
    h.source.onAccountEvent(() => new Promise<void>(() => undefined));
    void broker.deliver(sample('basic.identity.user.deleted.json'));
    await vi.waitFor(() => expect(h.accountEvents).toHaveLength(1));
    await h.source.stop();
    expect(broker.settled).toEqual([]);
    expect(h.clock.pendingTimers()).toBe(0);
  });

  it('reports identity.project.deleted with the id, and what the CADF payload says about who did it', async () => {
    const { h, broker } = await started();
    await broker.deliver(sample('cadf.identity.project.deleted.json'));
    expect(h.accountEvents).toEqual([
      {
        type: 'identity.project.deleted',
        subject: projectId,
        timeMs: Date.UTC(2026, 10, 23, 6, 3, 49, 828),
        data: {
          resource_type: 'project',
          resource_id: projectId,
          keystone_event_type: 'identity.project.deleted',
          publisher_id: 'identity.a',
          request_id: 'req-283349ea-32c8-4cd4-bc10-3f29affba445',
          initiator: {
            user_id: '7b7d9d2b489b4aac95309f4f85e25f36',
            user_name: 'admin',
            project_id: 'abc256887b1e4106877ed95099df7f18',
            address: '127.0.0.1',
          },
        },
        sourceId: '68c6ff3d-2667-4d15-b0f3-d469d2b8385f',
      },
    ]);
    expect(Object.isFrozen(h.accountEvents[0]!.data)).toBe(true);
  });

  it('reads an updated project: disabled is identity.project.disabled (one Keystone read for revocation and event); enabled or gone is nothing', async () => {
    const { h, broker } = await started();
    h.fake.projects.set(projectId, { id: projectId, name: 'demo', enabled: false, is_domain: false });
    const readsBefore = h.fake.requests.filter((r) => r.path === `/v3/projects/${projectId}`).length;
    await broker.deliver(cadfProjectUpdated);
    expect(h.fake.requests.filter((r) => r.path === `/v3/projects/${projectId}`).length - readsBefore).toBe(
      1,
    );
    expect(h.accountEvents).toEqual([
      {
        type: 'identity.project.disabled',
        subject: projectId,
        timeMs: Date.UTC(2026, 10, 23, 6, 3, 49, 173),
        data: expect.objectContaining({
          resource_type: 'project',
          resource_id: projectId,
          name: 'demo',
          domain_id: 'default',
          keystone_event_type: 'identity.project.updated',
        }) as unknown,
        sourceId: 'd521a729-3f14-42bf-aaee-5377c09244c9',
      },
    ]);
    expect(h.revocations.map((r) => r.reason)).toEqual(['project disabled']);
    h.fake.projects.set(projectId, { id: projectId, name: 'demo', enabled: true, is_domain: false });
    await broker.deliver(cadfProjectUpdated);
    h.fake.projects.delete(projectId);
    await broker.deliver(cadfProjectUpdated);
    expect(h.accountEvents).toHaveLength(1);
  });

  it('reads an updated user: disabled is identity.user.disabled', async () => {
    const { h, broker } = await started();
    h.users.set(cadfUser, { id: cadfUser, name: 'alice', domain_id: cadfDomain, enabled: false });
    await broker.deliver(sample('cadf.identity.user.updated.json'));
    expect(summary(h.accountEvents)).toEqual([['identity.user.disabled', cadfUser]]);
    expect(h.accountEvents[0]!.data).toMatchObject({ name: 'alice', domain_id: cadfDomain });
    h.users.set(cadfUser, { id: cadfUser, name: 'alice', domain_id: cadfDomain, enabled: true });
    await broker.deliver(sample('cadf.identity.user.updated.json'));
    expect(h.accountEvents).toHaveLength(1);
  });

  it('reports a disabled domain once, though Keystone notifies its project twin and itself', async () => {
    const { h, broker } = await started();
    h.fake.projects.set(cadfDomain, { id: cadfDomain, name: 'dom', enabled: false, is_domain: true });
    h.fake.domains.set(cadfDomain, { id: cadfDomain, name: 'dom', enabled: false });
    const pair = capture('cadf-all.jsonl').filter(
      (m) => m.resource === cadfDomain && m.type.endsWith('.updated'),
    );
    // disable, enable, disable again: three pairs, each with its own request id
    expect(pair.map((m) => m.type)).toEqual([
      'identity.project.updated',
      'identity.domain.updated',
      'identity.project.updated',
      'identity.domain.updated',
      'identity.project.updated',
      'identity.domain.updated',
    ]);
    for (const m of pair.slice(0, 2)) expect((await broker.deliver(m.body)).outcome).toBe('ack');
    expect(summary(h.accountEvents)).toEqual([['identity.domain.disabled', cadfDomain]]);
    expect(h.accountEvents[0]!.sourceId).toBe(pair[0]!.id);
    // Revocations are not deduplicated (identical domain revocations are harmless).
    expect(h.revocations.map((r) => [r.domainId, r.reason])).toEqual([
      [cadfDomain, 'domain disabled'],
      [cadfDomain, 'domain disabled'],
    ]);
    expect(h.logText()).toContain('account event already reported for this Keystone request; skipped');
    // A later disable (another request) is reported again.
    for (const m of pair.slice(4)) await broker.deliver(m.body);
    expect(summary(h.accountEvents)).toEqual([
      ['identity.domain.disabled', cadfDomain],
      ['identity.domain.disabled', cadfDomain],
    ]);
  });

  it('replays the captured CADF scenario: deletions, the role removal, and the deleted domain once', async () => {
    // Keystone's state now: everything of the scenario deleted (updates read 404).
    const { h, broker } = await started();
    for (const m of capture('cadf-all.jsonl')) expect((await broker.deliver(m.body)).outcome).toBe('ack');
    expect(summary(h.accountEvents)).toEqual([
      ['identity.role_assignment.removed', cadfUser],
      ['identity.project.deleted', projectId],
      ['identity.user.deleted', cadfUser],
      // deleting the domain: its project, its user, then the domain (its twin and itself: once)
      ['identity.project.deleted', '6492b9dabc054432925011ee525442a6'],
      ['identity.user.deleted', 'a18a8e72dc644d1cbb239d444856180a'],
      ['identity.domain.deleted', cadfDomain],
    ]);
    // The domain event carries the first notification's id (the twin's project.deleted).
    expect(h.accountEvents[5]!.sourceId).toBe('14dca705-74f6-490a-bba2-a16fb5877edc');
  });

  it('knows the domains Keystone listed at start, so a domain deleted is not reported as a project', async () => {
    const { h, broker } = await started((x) =>
      x.fake.domains.set(cadfDomain, { id: cadfDomain, name: 'dom', enabled: false }),
    );
    const deletions = capture('cadf-all.jsonl').filter(
      (m) => m.type.endsWith('.deleted') && m.resource === cadfDomain,
    );
    for (const m of deletions) await broker.deliver(m.body);
    expect(summary(h.accountEvents)).toEqual([['identity.domain.deleted', cadfDomain]]);
  });

  it('reports a deleted domain it never knew as a project too, and retries listing the domains', async () => {
    const { h, broker } = await started((x) => (x.domainListFailure = { status: 503 }));
    expect(h.logText()).toContain("listing Keystone's domains failed");
    const deletions = capture('cadf-all.jsonl').filter(
      (m) => m.type.endsWith('.deleted') && m.resource === cadfDomain,
    );
    for (const m of deletions) await broker.deliver(m.body);
    expect(summary(h.accountEvents)).toEqual([
      ['identity.project.deleted', cadfDomain],
      ['identity.domain.deleted', cadfDomain],
    ]);
    const lists = () => h.fake.requests.filter((r) => r.path === '/v3/domains').length;
    const before = lists();
    h.domainListFailure = null;
    h.clock.advance(1_000);
    await vi.waitFor(() => expect(lists()).toBe(before + 1));
  });

  it('reports one identity.role_assignment.removed per member of a group whose role was removed', async () => {
    const { h, broker } = await started();
    h.fake.groupMembers.set('2a8420ab6ae04fbf981a0d9db4a98928', ['u1', 'u2']);
    await broker.deliver(cadfGroupRoleAssignmentDeleted);
    expect(
      h.accountEvents.map((e) => [e.subject, e.sourceId, e.data['group_id'], e.data['domain_id']]),
    ).toEqual([
      ['u1', '22636722-f803-4e87-befe-df5700620c83/u1', '2a8420ab6ae04fbf981a0d9db4a98928', 'default'],
      ['u2', '22636722-f803-4e87-befe-df5700620c83/u2', '2a8420ab6ae04fbf981a0d9db4a98928', 'default'],
    ]);
    expect(h.revocations.map((r) => [r.userId, r.domainId])).toEqual([
      ['u1', 'default'],
      ['u2', 'default'],
    ]);
    // a group since deleted: nothing to report
    h.fake.groupMembers.clear();
    expect((await broker.deliver(cadfGroupRoleAssignmentDeleted)).outcome).toBe('ack');
    expect(h.accountEvents).toHaveLength(2);
  });

  it('does not ask listeners when Keystone cannot be read: the message is requeued', async () => {
    const { h, broker } = await started();
    await h.fake.stop();
    const settled = broker.deliver(cadfProjectUpdated);
    await vi.waitFor(() =>
      expect(h.logText()).toContain('Keystone notification not handled yet; will retry'),
    );
    h.clock.advance(5_000);
    expect(await settled).toMatchObject({ outcome: 'requeue' });
    expect(h.accountEvents).toEqual([]);
  });

  it('acks and ignores identity.authenticate and other event types it has no event for', async () => {
    const { h, broker, dl } = await started();
    for (const file of [
      'cadf.identity.authenticate.json',
      'cadf.identity.authenticate.failure.json',
      'cadf.identity.project.created.json',
      'cadf.identity.role_assignment.created.json',
    ])
      expect((await broker.deliver(sample(file))).outcome).toBe('ack');
    expect([h.accountEvents, dl.published]).toEqual([[], []]);
    expect(h.logLines().filter((l) => l['msg'] === 'Keystone notification ignored')).toHaveLength(4);
  });

  it('parks 100 malformed messages, logging each, and goes on consuming', async () => {
    const { h, broker, dl } = await started();
    const bad = (i: number) =>
      [
        `not json ${i}`,
        `{"oslo.version":"2.0","oslo.message":"{${i}"}`,
        `{"event_type":"identity.project.deleted","payload":{"resource_info":"${i}"}}`,
        JSON.stringify({
          'oslo.message': JSON.stringify({ event_type: 'identity.user.deleted', payload: 'x' }),
        }),
        Buffer.from([0xc3, 0x28, i % 256]),
      ][i % 5]!;
    for (let i = 0; i < 100; i++) expect((await broker.deliver(bad(i))).outcome).toBe('ack');
    expect(dl.published).toHaveLength(100);
    expect(new Set(dl.published.map((p) => p.queue))).toEqual(new Set(['alliance-cloud-a.dead']));
    expect(
      h.logLines().filter((l) => l['msg'] === 'AMQP message parked in the dead-letter queue'),
    ).toHaveLength(100);
    expect(h.source.status().notificationsConsuming).toBe(true);
    await broker.deliver(sample('basic.identity.user.deleted.json'));
    expect(summary(h.accountEvents)).toEqual([['identity.user.deleted', '187cc074a9294832a0f68385bec09119']]);
  });

  it('acks without listeners (the events are not kept), and stops calling a listener that unsubscribed', async () => {
    const dl = deadLetterBroker();
    h = await createHarness({ notifications }, { amqpConnect: dl.connect }, { collectAccountEvents: false });
    const heard: string[] = [];
    const unsubscribe = h.source.onAccountEvent(async (e) => void heard.push(e.type));
    await h.source.start();
    await dl.broker.deliver(sample('basic.identity.user.deleted.json'));
    unsubscribe();
    expect((await dl.broker.deliver(sample('cadf.identity.user.deleted.json'))).outcome).toBe('ack');
    expect(heard).toEqual(['identity.user.deleted']);
    expect(h.logText()).toContain('no account event listener; events not reported');
  });
});
