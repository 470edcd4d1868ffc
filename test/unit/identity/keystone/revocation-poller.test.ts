/**
 * OS-REVOKE polling against a fake Keystone that, like the real one, returns the events with
 * revoked_at strictly after `since` and keeps whole seconds: the poller must re-ask from the newest
 * revoked_at minus one second, report each event once, and look back a day at its first poll.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createKeystoneClient } from '../../../../src/identity/keystone/keystone-client.js';
import { createRevocationPoller } from '../../../../src/identity/keystone/revocation-poller.js';
import type { RevocationInput } from '../../../../src/identity/types.js';
import { createHarness } from './harness.js';
import type { Harness } from './harness.js';

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', '.000000Z');
const t0 = Date.UTC(2026, 10, 23, 5, 32, 24);
const event = (fields: Record<string, string>, atMs: number) => ({
  ...fields,
  issued_before: iso(atMs),
  revoked_at: iso(atMs),
});
const revocation = (fields: Partial<RevocationInput>, atMs: number): RevocationInput => ({
  ...fields,
  issuedBeforeMs: atMs,
  reason: `Keystone revocation event (${Object.keys(fields)
    .map((k) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()))
    .join(', ')})`,
  source: 'keystone-os-revoke',
  secondGranularity: true,
});

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function pollerHarness() {
  h = await createHarness();
  const emitted: RevocationInput[] = [];
  const client = createKeystoneClient({ clock: h.clock, log: h.log, fetch }, h.config);
  const poller = createRevocationPoller(
    { clock: h.clock, log: h.log, client, emit: (r) => emitted.push(r) },
    { pollMs: 2_000, lookbackMs: 24 * 3_600_000 },
  );
  const sinces = () => h!.fake.requests.filter((r) => r.path === '/v3/OS-REVOKE/events').map((r) => r.since);
  return { h, emitted, poller, sinces };
}

describe('the OS-REVOKE poller', () => {
  it('looks back a day at first, then re-asks from the newest revoked_at minus 1 s and reports each event once', async () => {
    const { h, emitted, poller, sinces } = await pollerHarness();
    h.fake.revokeEvents.push(event({ audit_id: 'a1' }, t0), event({ user_id: 'u1' }, t0 + 1_000));
    expect(await poller.pollOnce()).toBe(true);
    expect(emitted).toEqual([revocation({ auditId: 'a1' }, t0), revocation({ userId: 'u1' }, t0 + 1_000)]);

    // Revoked later within the same second as the newest one seen: asking from that second would miss it.
    h.fake.revokeEvents.push(event({ project_id: 'p1' }, t0 + 1_000));
    expect(await poller.pollOnce()).toBe(true);
    expect(await poller.pollOnce()).toBe(true);
    expect(emitted).toEqual([
      revocation({ auditId: 'a1' }, t0),
      revocation({ userId: 'u1' }, t0 + 1_000),
      revocation({ projectId: 'p1' }, t0 + 1_000),
    ]);
    expect(sinces()).toEqual([
      new Date(h.clock.nowMs() - 24 * 3_600_000).toISOString(),
      new Date(t0).toISOString(),
      new Date(t0).toISOString(),
    ]);
  });

  it('skips and logs an event it cannot represent, and moves on past it', async () => {
    const { h, emitted, poller, sinces } = await pollerHarness();
    h.fake.revokeEvents.push(event({ role_id: 'r1' }, t0 + 5_000));
    await poller.pollOnce();
    await poller.pollOnce();
    expect(emitted).toEqual([]);
    expect(sinces()[1]).toBe(new Date(t0 + 4_000).toISOString());
    const warnings = h
      .logLines()
      .filter((l) => l['msg'] === 'Keystone revocation event not representable, skipped');
    expect(warnings.map((w) => w['detail'])).toEqual(['event names role_id']);
  });

  it('keeps its place when a poll fails and catches up at the next', async () => {
    const { h, emitted, poller, sinces } = await pollerHarness();
    h.fake.revokeEvents.push(event({ audit_id: 'a1' }, t0));
    await poller.pollOnce();
    h.fake.revokeFailures.push(503);
    h.fake.revokeEvents.push(event({ audit_id: 'a2' }, t0 + 3_000));
    expect(await poller.pollOnce()).toBe(false);
    expect(await poller.pollOnce()).toBe(true);
    expect(emitted.map((r) => r.auditId)).toEqual(['a1', 'a2']);
    expect(sinces().slice(1)).toEqual([
      new Date(t0 - 1_000).toISOString(),
      new Date(t0 - 1_000).toISOString(),
    ]);
    expect(h.logText()).toContain('polling Keystone revocation events failed');
  });
});

describe('revocations from the identity source', () => {
  it('reports the events of the last day before start() resolves, then new ones every revocationPollMs', async () => {
    h = await createHarness({ revocationPollMs: 2_000 });
    h.fake.revokeEvents.push(event({ user_id: 'u-old' }, t0));
    await h.source.start();
    expect(h.revocations).toEqual([revocation({ userId: 'u-old' }, t0)]);

    h.fake.revokeEvents.push(event({ audit_id: 'a-new' }, t0 + 60_000));
    const next = h.nextRevocation((r) => r.auditId === 'a-new');
    h.clock.advance(2_000);
    expect(await next).toEqual(revocation({ auditId: 'a-new' }, t0 + 60_000));
  });

  it('stops polling and reporting once stopped', async () => {
    h = await createHarness({ revocationPollMs: 2_000 });
    await h.source.start();
    await h.source.stop();
    h.fake.revokeEvents.push(event({ audit_id: 'late' }, t0));
    h.clock.advance(10_000);
    expect([h.clock.pendingTimers(), h.revocations]).toEqual([0, []]);
  });
});
