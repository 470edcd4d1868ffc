/**
 * Account events of the static identity source: disabling an enabled user or project is
 * identity.user.disabled / identity.project.disabled, handed to every listener before the
 * result's `accountEvent` settles (what the IdentityAdmin call awaits); an event a listener
 * refused stays in the outbox (same transaction as the disable) and is offered again with backoff
 * and after a restart, in order, under the same sourceId.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AccountEvent } from '../../../../src/identity/index.js';
import { closeHarness, ids, openHarness, removeDir, tempDir, type Harness } from './fixture.js';

describe('static identity source: account events', () => {
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

  const pendingRows = () =>
    (h.db.prepare('SELECT COUNT(*) AS n FROM identity_static_account_events').get() as { n: number }).n;

  it('reports a disabled user as identity.user.disabled, and settles the call only after the listener resolved', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const events: AccountEvent[] = [];
    h.identity.onAccountEvent(async (e) => {
      events.push(e);
      order.push('listener got it');
      await gate;
      order.push('listener resolved');
    });
    const nowMs = h.clock.nowMs();
    const result = h.identity.setUserEnabled('alice', false);
    const settled = result.accountEvent.then((outcome) => order.push(`call settled: ${outcome}`));
    await vi.waitFor(() => expect(order).toEqual(['listener got it']));
    expect(pendingRows()).toBe(1);
    release();
    await settled;
    expect(order).toEqual(['listener got it', 'listener resolved', 'call settled: delivered']);
    expect(events).toEqual([
      {
        type: 'identity.user.disabled',
        subject: ids.alice,
        timeMs: nowMs,
        data: { resource_type: 'user', resource_id: ids.alice, name: 'alice', domain_id: 'default' },
        sourceId: expect.stringMatching(/^static-[0-9a-f-]{36}$/) as unknown,
      },
    ]);
    expect(pendingRows()).toBe(0);
  });

  it('reports a disabled project as identity.project.disabled', async () => {
    const events: AccountEvent[] = [];
    h.identity.onAccountEvent(async (e) => void events.push(e));
    expect(await h.identity.setProjectEnabled('demo', false).accountEvent).toBe('delivered');
    expect(events.map((e) => [e.type, e.subject, e.data])).toEqual([
      [
        'identity.project.disabled',
        ids.demo,
        { resource_type: 'project', resource_id: ids.demo, name: 'demo', domain_id: 'default' },
      ],
    ]);
  });

  it('reports nothing for a repeated disable, an enable, or a user disabled by the config already', async () => {
    const events: AccountEvent[] = [];
    h.identity.onAccountEvent(async (e) => void events.push(e));
    await h.identity.setUserEnabled('alice', false).accountEvent;
    expect([
      await h.identity.setUserEnabled('alice', false).accountEvent,
      await h.identity.setUserEnabled('alice', true).accountEvent,
      await h.identity.setUserEnabled(ids.carol, false).accountEvent,
      await h.identity.setProjectEnabled(ids.archive, false).accountEvent,
    ]).toEqual(['none', 'none', 'none', 'none']);
    expect(events.map((e) => e.type)).toEqual(['identity.user.disabled']);
  });

  it('keeps an event a listener refused, and offers it again after a backoff under the same sourceId', async () => {
    let refuse = 2;
    const offered: AccountEvent[] = [];
    h.identity.onAccountEvent(async (e) => {
      offered.push(e);
      if (refuse-- > 0) throw new Error('events store down');
    });
    const result = h.identity.setUserEnabled('alice', false);
    expect(result.revocation).not.toBeNull(); // the disable itself is done and durable
    expect(await result.accountEvent).toBe('pending');
    expect(pendingRows()).toBe(1);
    h.clock.advance(999);
    expect(offered).toHaveLength(1);
    h.clock.advance(1);
    await vi.waitFor(() => expect(offered).toHaveLength(2));
    // doubling: the third offer comes 2 s after the second
    h.clock.advance(1_999);
    expect(offered).toHaveLength(2);
    h.clock.advance(1);
    await vi.waitFor(() => expect(pendingRows()).toBe(0));
    expect(offered).toHaveLength(3);
    expect(new Set(offered.map((e) => e.sourceId)).size).toBe(1);
  });

  it('offers events in order: a later one waits while an earlier one is refused', async () => {
    let refuse = true;
    const delivered: string[] = [];
    h.identity.onAccountEvent(async (e) => {
      if (refuse) throw new Error('down');
      delivered.push(`${e.type} ${e.subject}`);
    });
    expect(await h.identity.setUserEnabled('alice', false).accountEvent).toBe('pending');
    expect(await h.identity.setUserEnabled('bob', false).accountEvent).toBe('pending');
    refuse = false;
    h.clock.advance(1_000);
    await vi.waitFor(() => expect(pendingRows()).toBe(0));
    expect(delivered).toEqual([`identity.user.disabled ${ids.alice}`, `identity.user.disabled ${ids.bob}`]);
  });

  it('offers an event still in the outbox again after a restart', async () => {
    h.identity.onAccountEvent(async () => {
      throw new Error('down');
    });
    await h.identity.start();
    const first = h.identity.setProjectEnabled('ops', false);
    expect(await first.accountEvent).toBe('pending');
    const clock = h.clock;
    await closeHarness(h);
    h = openHarness(dir, { clock });
    const events: AccountEvent[] = [];
    h.identity.onAccountEvent(async (e) => void events.push(e));
    await h.identity.start();
    await vi.waitFor(() => expect(pendingRows()).toBe(0));
    expect(events.map((e) => [e.type, e.subject])).toEqual([['identity.project.disabled', ids.ops]]);
  });

  it('stops without waiting for a listener that never settles; the event stays for the next start', async () => {
    h.identity.onAccountEvent(() => new Promise<void>(() => undefined));
    await h.identity.start();
    const result = h.identity.setUserEnabled('alice', false);
    await h.identity.stop();
    expect(await result.accountEvent).toBe('pending');
    expect([pendingRows(), h.clock.pendingTimers()]).toEqual([1, 0]);
  });

  it('counts a listener that does not settle within 30 s as failed', async () => {
    h.identity.onAccountEvent(() => new Promise<void>(() => undefined));
    const result = h.identity.setUserEnabled('alice', false);
    h.clock.advance(30_000);
    expect(await result.accountEvent).toBe('pending');
  });

  it('empties the outbox when nobody listens (nothing to hand over to)', async () => {
    expect(await h.identity.setUserEnabled('alice', false).accountEvent).toBe('delivered');
    expect(pendingRows()).toBe(0);
  });
});
