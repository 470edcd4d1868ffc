/**
 * Account events from a real Keystone (Debian's Keystone 22 "Zed", keystone "a" of the lab, CADF
 * notifications on its own RabbitMQ vhost) through the keystone identity source: deletions,
 * disables (read back from Keystone after its `*.updated` notification), role removals, a whole
 * domain's deletion; a rejecting listener gets the message redelivered, a malformed message lands
 * in the dead-letter queue. Every wait is on a listener call with a deadline, never a fixed sleep.
 * Prints the notification-to-listener latencies it saw.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoneIdentity } from '../../src/identity/keystone/index.js';
import type { KeystoneIdentitySource } from '../../src/identity/keystone/index.js';
import type { AccountEvent } from '../../src/identity/types.js';
import { systemClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import {
  KeystoneAdmin,
  bringUpKeystoneLab,
  identityConfigFor,
  tearDownKeystoneLab,
  within,
} from './keystone-lab.js';
import type { KeystoneLab } from './keystone-lab.js';

const eventDeadlineMs = 20_000;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const queue = `alliance-e2e-events-a-${runId}`;

interface Received {
  event: AccountEvent;
  /** When the listener was called (this machine's clock, as Keystone's). */
  atMs: number;
}

let lab: KeystoneLab | null = null;
let source: KeystoneIdentitySource;
let admin: KeystoneAdmin;
const received: Received[] = [];
const waiters: { match: (e: AccountEvent) => boolean; resolve: (r: Received) => void }[] = [];
/** Listener behaviour a test may change: resolve at once unless told otherwise. */
let listenerHook: (e: AccountEvent) => Promise<void> = async () => undefined;
/** Keystone API call returned → listener called, per event a test timed. */
const sinceApiCallMs: { type: string; ms: number }[] = [];
const logLines: string[] = [];
const log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });

/** The first event (already received, or to come) that `match` accepts, within the deadline. */
function accountEvent(what: string, match: (e: AccountEvent) => boolean): Promise<Received> {
  const seen = received.find((r) => match(r.event));
  if (seen) return Promise.resolve(seen);
  return within(
    eventDeadlineMs,
    `account event: ${what}`,
    new Promise<Received>((resolve) => waiters.push({ match, resolve })),
  );
}

/** Runs a Keystone admin call and waits for the event it should cause; records the latency. */
async function causes(
  what: string,
  match: (e: AccountEvent) => boolean,
  call: () => Promise<unknown>,
): Promise<AccountEvent> {
  const pending = accountEvent(what, match);
  await call();
  const returnedAtMs = Date.now();
  const r = await pending;
  sinceApiCallMs.push({ type: r.event.type, ms: r.atMs - returnedAtMs });
  return r.event;
}

beforeAll(async () => {
  lab = await bringUpKeystoneLab();
  admin = new KeystoneAdmin(lab.a);
  source = createKeystoneIdentity(
    { clock: systemClock, log },
    { cloud: 'cloud-a', config: identityConfigFor(lab.a, queue) },
  );
  source.onAccountEvent(async (event) => {
    await listenerHook(event);
    const r = { event, atMs: Date.now() };
    received.push(r);
    for (const w of [...waiters])
      if (w.match(event)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
  });
  await source.start();
}, 900_000);

afterAll(async () => {
  await source?.stop();
  if (lab) {
    const conn = await amqp.connect(lab.a.amqpUrl).catch(() => null);
    if (conn) {
      const ch = await conn.createChannel();
      for (const q of [queue, `${queue}.dead`]) await ch.deleteQueue(q).catch(() => undefined);
      await conn.close();
    }
  }
  // Keystone stamps a notification when it sends it, so timestamp -> listener is the hand-over
  // itself (RabbitMQ, parsing, for *.disabled a GET of the resource, the listener); API call
  // returned -> listener may be negative (Keystone publishes before it answers).
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
  const line = (label: string, xs: number[]) =>
    `${label}: n ${xs.length}, p50 ${pct(xs, 50)} ms, p90 ${pct(xs, 90)} ms, max ${xs.at(-1)} ms`;
  const byType = new Map<string, number[]>();
  for (const r of received)
    byType.set(r.event.type, [...(byType.get(r.event.type) ?? []), r.atMs - r.event.timeMs]);
  const lines = [
    line('notification timestamp -> listener, all', sorted(received.map((r) => r.atMs - r.event.timeMs))),
    ...[...byType].map(([type, xs]) => line(`  ${type}`, sorted(xs))),
    line('API call returned -> listener', sorted(sinceApiCallMs.map((x) => x.ms))),
  ];
  process.stderr.write(`[e2e account events]\n${lines.join('\n')}\n`);
  if (lab) await tearDownKeystoneLab(lab);
}, 300_000);

describe('account events from a real Keystone', () => {
  it('deleting a project yields identity.project.deleted with its id, and who deleted it', async () => {
    const m = await admin.projectWithMember('evdel');
    const event = await causes(
      `project ${m.projectId} deleted`,
      (e) => e.type === 'identity.project.deleted' && e.subject === m.projectId,
      () => admin.must('DELETE', `/v3/projects/${m.projectId}`),
    );
    expect(event.data).toMatchObject({
      resource_type: 'project',
      resource_id: m.projectId,
      keystone_event_type: 'identity.project.deleted',
      publisher_id: 'identity.a',
      initiator: { user_name: 'admin' },
    });
    expect(event.sourceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(event.timeMs - Date.now())).toBeLessThan(eventDeadlineMs);
  });

  it('disabling a project yields identity.project.disabled (read back from Keystone); re-enabling yields nothing', async () => {
    const m = await admin.projectWithMember('evpdis');
    const event = await causes(
      `project ${m.projectId} disabled`,
      (e) => e.type === 'identity.project.disabled' && e.subject === m.projectId,
      () => admin.must('PATCH', `/v3/projects/${m.projectId}`, { project: { enabled: false } }),
    );
    expect(event.data).toMatchObject({
      resource_type: 'project',
      domain_id: 'default',
      name: expect.stringMatching(/^evpdis-p-/) as unknown,
    });
    // Re-enable, then delete: the deletion arriving proves the enable was handled (queue order) and gave nothing.
    await admin.must('PATCH', `/v3/projects/${m.projectId}`, { project: { enabled: true } });
    await causes(
      `project ${m.projectId} deleted`,
      (e) => e.type === 'identity.project.deleted' && e.subject === m.projectId,
      () => admin.must('DELETE', `/v3/projects/${m.projectId}`),
    );
    expect(received.filter((r) => r.event.subject === m.projectId).map((r) => r.event.type)).toEqual([
      'identity.project.disabled',
      'identity.project.deleted',
    ]);
  });

  it('disabling a user yields identity.user.disabled', async () => {
    const m = await admin.projectWithMember('evudis');
    const event = await causes(
      `user ${m.userId} disabled`,
      (e) => e.type === 'identity.user.disabled' && e.subject === m.userId,
      () => admin.must('PATCH', `/v3/users/${m.userId}`, { user: { enabled: false } }),
    );
    expect(event.data).toMatchObject({ resource_type: 'user', name: m.userName, domain_id: 'default' });
  });

  it('removing a role assignment yields identity.role_assignment.removed naming user, project and role', async () => {
    const m = await admin.projectWithMember('evrole');
    const event = await causes(
      `role removal ${m.userId} in ${m.projectId}`,
      (e) => e.type === 'identity.role_assignment.removed' && e.subject === m.userId,
      () => admin.must('DELETE', `/v3/projects/${m.projectId}/users/${m.userId}/roles/${m.roleId}`),
    );
    expect(event.data).toMatchObject({
      user_id: m.userId,
      project_id: m.projectId,
      role_id: m.roleId,
      inherited: false,
    });
  });

  it("removing a group's role yields identity.role_assignment.removed for each member", async () => {
    const m = await admin.projectWithMember('evgrp');
    const other = await admin.projectWithMember('evgrp2');
    const group = (await admin.must('POST', '/v3/groups', {
      group: { name: `evgrp-${runId}`, domain_id: 'default' },
    })) as { group: { id: string } };
    const g = group.group.id;
    for (const u of [m.userId, other.userId]) await admin.must('PUT', `/v3/groups/${g}/users/${u}`);
    await admin.must('PUT', `/v3/projects/${m.projectId}/groups/${g}/roles/${m.roleId}`);
    const second = accountEvent(
      'group member 2',
      (e) => e.type === 'identity.role_assignment.removed' && e.subject === other.userId,
    );
    const first = await causes(
      'group member 1',
      (e) => e.type === 'identity.role_assignment.removed' && e.subject === m.userId,
      () => admin.must('DELETE', `/v3/projects/${m.projectId}/groups/${g}/roles/${m.roleId}`),
    );
    const secondEvent = (await second).event;
    for (const e of [first, secondEvent])
      expect(e.data).toMatchObject({ group_id: g, project_id: m.projectId, role_id: m.roleId });
    expect(first.sourceId.split('/')[0]).toBe(secondEvent.sourceId.split('/')[0]);
    await admin.must('DELETE', `/v3/groups/${g}`);
  });

  it('deleting a domain yields identity.project.deleted for its projects, identity.user.deleted for its users, then identity.domain.deleted once', async () => {
    const created = (await admin.must('POST', '/v3/domains', { domain: { name: `evdom-${runId}` } })) as {
      domain: { id: string };
    };
    const d = created.domain.id;
    const m = await admin.projectWithMember('evdom', 'member', d);
    const p2 = (await admin.must('POST', '/v3/projects', {
      project: { name: `evdom-p2-${runId}`, domain_id: d },
    })) as { project: { id: string } };
    const projects = [m.projectId, p2.project.id];
    const disabled = await causes(
      `domain ${d} disabled`,
      (e) => e.type === 'identity.domain.disabled' && e.subject === d,
      () => admin.must('PATCH', `/v3/domains/${d}`, { domain: { enabled: false } }),
    );
    expect(disabled.data).toMatchObject({ resource_type: 'domain', name: `evdom-${runId}` });
    const projectEvents = projects.map((p) =>
      accountEvent(`project ${p} deleted`, (e) => e.type === 'identity.project.deleted' && e.subject === p),
    );
    const userEvent = accountEvent(
      `user ${m.userId} deleted`,
      (e) => e.type === 'identity.user.deleted' && e.subject === m.userId,
    );
    await causes(
      `domain ${d} deleted`,
      (e) => e.type === 'identity.domain.deleted' && e.subject === d,
      () => admin.must('DELETE', `/v3/domains/${d}`),
    );
    await Promise.all([...projectEvents, userEvent]);
    // Keystone also notifies identity.project.deleted and a second disable for the domain's
    // project twin: reported as the domain, once.
    const aboutDomain = received.filter((r) => r.event.subject === d).map((r) => r.event.type);
    expect(aboutDomain).toEqual(['identity.domain.disabled', 'identity.domain.deleted']);
    const at = (type: string, subject: string) =>
      received.findIndex((r) => r.event.type === type && r.event.subject === subject);
    const domainDeletedAt = at('identity.domain.deleted', d);
    for (const p of projects) expect(at('identity.project.deleted', p)).toBeLessThan(domainDeletedAt);
    expect(at('identity.user.deleted', m.userId)).toBeLessThan(domainDeletedAt);
  });

  it('redelivers, with the same ids, a notification whose listener rejected, and acks it once a listener takes it', async () => {
    const m = await admin.projectWithMember('evretry');
    const offered: AccountEvent[] = [];
    listenerHook = async (e) => {
      if (e.subject !== m.projectId) return;
      offered.push(e);
      if (offered.length === 1) throw new Error('events store down (test)');
    };
    try {
      await causes(
        `project ${m.projectId} deleted, second offer`,
        (e) => e.type === 'identity.project.deleted' && e.subject === m.projectId,
        () => admin.must('DELETE', `/v3/projects/${m.projectId}`),
      );
    } finally {
      listenerHook = async () => undefined;
    }
    expect(offered).toHaveLength(2);
    expect(offered[1]).toEqual(offered[0]);
    expect(logLines.join('')).toContain(
      'account event listener failed; the Keystone notification will be retried',
    );
  }, 60_000);

  it('parks a malformed message in <queue>.dead with the reason, and goes on consuming', async () => {
    const conn = await amqp.connect(lab!.a.amqpUrl);
    try {
      const ch = await conn.createChannel();
      const garbage = Buffer.from(`not an oslo message ${runId}`);
      ch.publish('keystone', 'notifications.info', garbage, { contentType: 'application/json' });
      // The next real notification is handled after it (queue order).
      const m = await admin.projectWithMember('evpark');
      await causes(
        `project ${m.projectId} deleted after the garbage`,
        (e) => e.type === 'identity.project.deleted' && e.subject === m.projectId,
        () => admin.must('DELETE', `/v3/projects/${m.projectId}`),
      );
      const parked = await ch.get(`${queue}.dead`, { noAck: true });
      expect(parked).not.toBe(false);
      if (parked === false) return;
      expect(parked.content).toEqual(garbage);
      expect(parked.properties.headers).toMatchObject({
        'x-alliance-dead-reason': expect.stringContaining(
          'malformed Keystone notification: body is not JSON',
        ) as unknown,
        'x-alliance-original-queue': queue,
        'x-alliance-original-routing-key': 'notifications.info',
      });
      expect(parked.properties.deliveryMode).toBe(2);
      expect(source.status().notificationsConsuming).toBe(true);
      await ch.close();
    } finally {
      await conn.close();
    }
  });
});
