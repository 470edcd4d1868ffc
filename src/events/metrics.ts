/**
 * Prometheus metrics for events, read from the capability when scraped (no bookkeeping on the hot
 * path): how many events each origin cloud has here, and per subscriber what is still unanswered:
 * the backlog, the retries, the dead letters an operator must look at, and whether it is connected.
 */
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Events, EventsMetricsSnapshot } from './index.js';

export function createEventsMetrics(events: Pick<Events, 'metricsSnapshot'>, registry: Registry): void {
  // One snapshot per scrape, shared by the gauges below (each reads it in its collect()).
  let snapshot: { atMs: number; value: EventsMetricsSnapshot } | null = null;
  const current = (): EventsMetricsSnapshot => {
    const nowMs = Date.now();
    if (!snapshot || nowMs - snapshot.atMs > 1_000)
      snapshot = { atMs: nowMs, value: events.metricsSnapshot() };
    return snapshot.value;
  };

  new Gauge({
    name: 'alliance_events_held',
    help: 'Events held at this node (until they expire), by origin cloud.',
    labelNames: ['cloud'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [cloud, count] of current().heldByCloud) this.set({ cloud }, count);
    },
  });
  new Gauge({
    name: 'alliance_events_deliveries',
    help:
      'Unanswered deliveries per subscriber: pending (not sent or not acked), in_flight (sent on the ' +
      'open stream), failed (waiting for a retry), parked (dead letters, never sent again).',
    labelNames: ['subscriber', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of current().subscribers) {
        this.set({ subscriber: s.name, state: 'pending' }, s.pending);
        this.set({ subscriber: s.name, state: 'in_flight' }, s.inFlight);
        this.set({ subscriber: s.name, state: 'failed' }, s.failed);
        this.set({ subscriber: s.name, state: 'parked' }, s.parked);
      }
    },
  });
  new Gauge({
    name: 'alliance_events_subscriber_connected',
    help: '1 when a Subscribe stream is open for the subscriber at this node; expected says whether the config names it.',
    labelNames: ['subscriber', 'expected'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of current().subscribers) {
        this.set({ subscriber: s.name, expected: String(s.expected) }, s.connected ? 1 : 0);
      }
    },
  });
}
