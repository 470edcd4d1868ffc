/**
 * Keystone's notifications through the identity source, with an in-memory broker: the facts
 * Keystone writes no revocation event for (project or domain disabled, role assignment removed)
 * become revocations; every message is acked only after it was handled; a malformed one is
 * parked in the dead-letter queue, logged and acked; a message that cannot be handled now
 * (Keystone down) goes back to the queue. (Account events: keystone-account-events.test.ts.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeBroker } from '../../../fakes/fake-amqp.js';
import { deadLetterBroker } from './dead-letter-broker.js';
import { createHarness } from './harness.js';
import type { Harness } from './harness.js';
import { cadfDomainUpdated, cadfProjectUpdated, cadfRoleAssignmentDeleted } from './notification-samples.js';

const projectId = '1d4e39c7e28345a78e1ea2717d548bd9'; // of cadfProjectUpdated and cadfRoleAssignmentDeleted
const domainId = 'b402368be86f436cbb70fa150832e627'; // of cadfDomainUpdated
const notifications = {
  url: 'amqp://guest:guest@127.0.0.1:5672/a',
  exchange: 'keystone',
  queue: 'alliance-cloud-a',
};

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function started(broker = new FakeBroker()) {
  const dl = deadLetterBroker(broker);
  h = await createHarness({ notifications }, { amqpConnect: dl.connect });
  await h.source.start();
  return { h, broker, dl };
}

describe('Keystone notifications', () => {
  it("declares the exchange as oslo.messaging does, its own durable queue bound with '#', and its dead-letter queue", async () => {
    const { h, broker } = await started();
    expect(broker.declarations).toEqual([
      'exchange keystone topic durable=false autoDelete=false',
      'queue alliance-cloud-a durable=true',
      'queue alliance-cloud-a.dead durable=true',
      'bind alliance-cloud-a keystone #',
      'prefetch 16',
      'consume alliance-cloud-a noAck=false',
    ]);
    expect(h.source.status().notificationsConsuming).toBe(true);
  });

  it('revokes the project when identity.project.updated left it disabled', async () => {
    const { h, broker } = await started();
    h.fake.projects.set(projectId, { id: projectId, name: 'demo', enabled: false, is_domain: false });
    expect(await broker.deliver(cadfProjectUpdated)).toMatchObject({ outcome: 'ack' });
    expect(h.revocations).toEqual([
      {
        projectId,
        issuedBeforeMs: Date.UTC(2026, 10, 23, 6, 3, 49),
        reason: 'project disabled',
        source: 'keystone-notification',
        secondGranularity: true,
      },
    ]);
  });

  it('emits the identical revocation when the same message is delivered again', async () => {
    const { h, broker } = await started();
    h.fake.projects.set(projectId, { id: projectId, name: 'demo', enabled: false, is_domain: false });
    await broker.deliver(cadfProjectUpdated);
    await broker.deliver(cadfProjectUpdated);
    expect(h.revocations[1]).toEqual(h.revocations[0]);
  });

  it('revokes nothing for an update that left the project enabled, or a project since deleted', async () => {
    const { h, broker } = await started();
    h.fake.projects.set(projectId, { id: projectId, name: 'demo', enabled: true, is_domain: false });
    expect((await broker.deliver(cadfProjectUpdated)).outcome).toBe('ack');
    h.fake.projects.delete(projectId);
    expect((await broker.deliver(cadfProjectUpdated)).outcome).toBe('ack');
    expect(h.revocations).toEqual([]);
  });

  it('revokes the domain when a disabled domain comes as a project (is_domain) or as a domain', async () => {
    const { h, broker } = await started();
    h.fake.projects.set(projectId, { id: projectId, name: 'dom', enabled: false, is_domain: true });
    h.fake.domains.set(domainId, { id: domainId, name: 'dom', enabled: false });
    await broker.deliver(cadfProjectUpdated);
    await broker.deliver(cadfDomainUpdated);
    expect(h.revocations.map((r) => [r.domainId, r.projectId, r.reason])).toEqual([
      [projectId, undefined, 'domain disabled'],
      [domainId, undefined, 'domain disabled'],
    ]);
  });

  it('revokes the user in the project when a role assignment is removed', async () => {
    const { h, broker } = await started();
    await broker.deliver(cadfRoleAssignmentDeleted);
    expect(h.revocations).toEqual([
      {
        userId: '28a29bda1118448d8d0fae107bb4444b',
        projectId,
        issuedBeforeMs: Date.UTC(2026, 10, 23, 6, 3, 44),
        reason: 'role assignment removed',
        source: 'keystone-notification',
        secondGranularity: true,
      },
    ]);
  });

  it('revokes each member of a group whose role assignment is removed', async () => {
    const { h, broker } = await started();
    h.fake.groupMembers.set('g1', ['u1', 'u2']);
    const envelope = JSON.parse(cadfRoleAssignmentDeleted) as Record<string, string>;
    const message = JSON.parse(envelope['oslo.message']!) as { payload: Record<string, unknown> };
    delete message.payload['user'];
    message.payload['group'] = 'g1';
    await broker.deliver(JSON.stringify({ ...envelope, 'oslo.message': JSON.stringify(message) }));
    expect(h.revocations.map((r) => [r.userId, r.projectId])).toEqual([
      ['u1', projectId],
      ['u2', projectId],
    ]);
  });

  it.each([
    ['a body that is not JSON', 'not json {', 'body is not JSON'],
    [
      'an envelope whose oslo.message is broken',
      '{"oslo.version":"2.0","oslo.message":"{oops"}',
      '"oslo.message" is not JSON',
    ],
    [
      'a message without the oslo envelope',
      '{"event_type":"identity.project.deleted","payload":{}}',
      'no "oslo.message"',
    ],
    [
      'a role removal naming no user',
      JSON.stringify({
        'oslo.version': '2.0',
        'oslo.message': JSON.stringify({
          message_id: 'm',
          event_type: 'identity.role_assignment.deleted',
          payload: { project: 'p', role: 'r' },
        }),
      }),
      'neither user nor group',
    ],
  ])(
    'parks %s in the dead-letter queue, logs why, acks it and goes on consuming',
    async (_name, body, why) => {
      const { h, broker, dl } = await started();
      expect((await broker.deliver(body)).outcome).toBe('ack');
      expect(dl.published.map((p) => [p.queue, p.content.toString()])).toEqual([
        ['alliance-cloud-a.dead', body],
      ]);
      expect(dl.published[0]!.options.headers?.['x-alliance-dead-reason']).toContain(why);
      const warning = h.logLines().find((l) => l['msg'] === 'AMQP message parked in the dead-letter queue');
      expect(warning).toMatchObject({
        level: 40,
        routingKey: 'notifications.info',
        bytes: Buffer.byteLength(body),
        deadLetterQueue: 'alliance-cloud-a.dead',
      });
      expect(String(warning!['reason'])).toContain(why);
      await broker.deliver(cadfRoleAssignmentDeleted);
      expect(h.revocations).toHaveLength(1);
    },
  );

  it('ignores (acks) well-formed event types it has nothing to do with, and logs them at debug', async () => {
    const { h, broker, dl } = await started();
    const body = JSON.stringify({
      'oslo.version': '2.0',
      'oslo.message': JSON.stringify({
        message_id: 'm1',
        event_type: 'identity.user.created',
        payload: { resource_info: 'u' },
      }),
    });
    expect((await broker.deliver(body)).outcome).toBe('ack');
    expect([h.revocations, h.accountEvents, dl.published]).toEqual([[], [], []]);
    expect(h.logLines().find((l) => l['msg'] === 'Keystone notification ignored')).toMatchObject({
      level: 20,
      eventType: 'identity.user.created',
      messageId: 'm1',
    });
  });

  it('puts a message back on the queue when Keystone cannot be asked, after a delay', async () => {
    const { h, broker } = await started();
    await h.fake.stop();
    const timersBefore = h.clock.pendingTimers();
    const settled = broker.deliver(cadfProjectUpdated);
    await vi.waitFor(() => expect(h.clock.pendingTimers()).toBe(timersBefore + 1));
    expect(broker.settled).toEqual([]);
    h.clock.advance(5_000);
    expect((await settled).outcome).toBe('requeue');
    expect(h.logText()).toContain('Keystone notification not handled yet; will retry');
  });

  it('parks (logs an error) a notification the service account may not look into, not holding up the queue', async () => {
    const { h, broker, dl } = await started();
    // Projects can then only be asked with the project token: 403. (The system token the source
    // got at start, listing the domains, must go too.)
    h.fake.systemRole = false;
    h.fake.expireServiceTokens();
    h.fake.projects.set(projectId, { id: projectId, name: 'demo', enabled: false, is_domain: false });
    expect((await broker.deliver(cadfProjectUpdated)).outcome).toBe('ack');
    const error = h.logLines().find((l) => l['level'] === 50);
    expect(error).toMatchObject({
      msg: 'service account may not read what a Keystone notification is about; notification parked',
      eventType: 'identity.project.updated',
    });
    expect(dl.published.map((p) => p.options.headers?.['x-alliance-dead-reason'])).toEqual([
      expect.stringContaining('HTTP 403'),
    ]);
  });

  it('starts even when RabbitMQ is down, and consumes once it is back', async () => {
    const broker = new FakeBroker();
    broker.down = true;
    const { h } = await started(broker);
    expect([h.source.status().notificationsConsuming, broker.connects]).toEqual([false, 1]);
    h.clock.advance(500);
    await vi.waitFor(() => expect(broker.connects).toBe(2));
    await vi.waitFor(() =>
      expect(h.logLines().filter((l) => l['msg'] === 'AMQP broker unavailable')).toHaveLength(2),
    );
    broker.down = false;
    h.clock.advance(1_000);
    await vi.waitFor(() => expect(broker.isConsuming()).toBe(true));
    expect(h.logText()).toContain('AMQP broker unavailable');
  });
});
