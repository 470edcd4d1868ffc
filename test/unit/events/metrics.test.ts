/**
 * /metrics for events: what an operator watches (backlog, retries, dead letters, connected
 * subscribers, events held), read from the capability at scrape time.
 */
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEventsMetrics } from '../../../src/events/metrics.js';
import { EventsCluster, Outcome, TestStream, ack, projectDeleted } from './events-harness.js';

let fed: EventsCluster;

beforeEach(() => {
  fed = new EventsCluster();
});

afterEach(async () => {
  await fed.stop();
});

/** The sample lines of `name` in the exposition text, labels as written. */
async function samples(registry: Registry, name: string): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .sort();
}

describe('events metrics', () => {
  it('show each subscriber’s backlog, in-flight, failed and parked deliveries and whether it is connected', async () => {
    const a = await fed.start('cloud-a', { config: { attemptsMax: 2, windowMax: 3 } });
    const registry = new Registry();
    createEventsMetrics(a.events, registry);
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5'].map((subject) => projectDeleted(a.events, subject).id);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toEqual(ids.slice(0, 3));
    ack(a.events, 'nova', ids[0]!);
    ack(a.events, 'nova', ids[1]!, Outcome.OUTCOME_FAILED, 'disk full');
    ack(a.events, 'nova', ids[2]!, Outcome.OUTCOME_FAILED, 'disk full');
    await fed.idle();
    expect(await samples(registry, 'alliance_events_deliveries')).toEqual([
      'alliance_events_deliveries{subscriber="neutron",state="failed"} 0',
      'alliance_events_deliveries{subscriber="neutron",state="in_flight"} 0',
      'alliance_events_deliveries{subscriber="neutron",state="parked"} 0',
      'alliance_events_deliveries{subscriber="neutron",state="pending"} 5',
      'alliance_events_deliveries{subscriber="nova",state="failed"} 2',
      // Two new ones took the window's free places.
      'alliance_events_deliveries{subscriber="nova",state="in_flight"} 2',
      'alliance_events_deliveries{subscriber="nova",state="parked"} 0',
      'alliance_events_deliveries{subscriber="nova",state="pending"} 2',
    ]);
    expect(await samples(registry, 'alliance_events_subscriber_connected')).toEqual([
      'alliance_events_subscriber_connected{subscriber="neutron",expected="true"} 0',
      'alliance_events_subscriber_connected{subscriber="nova",expected="true"} 1',
    ]);
    expect(await samples(registry, 'alliance_events_held')).toEqual([
      'alliance_events_held{cloud="cloud-a"} 5',
    ]);
  });

  it('count a delivery that failed too often as parked', async () => {
    const a = await fed.start('cloud-a', { config: { attemptsMax: 1 } });
    const registry = new Registry();
    createEventsMetrics(a.events, registry);
    const id = projectDeleted(a.events, 'p1').id;
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toEqual([id]);
    ack(a.events, 'nova', id, Outcome.OUTCOME_FAILED, 'no such tenant');
    expect(await samples(registry, 'alliance_events_deliveries')).toContain(
      'alliance_events_deliveries{subscriber="nova",state="parked"} 1',
    );
  });
});
