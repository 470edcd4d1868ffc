/**
 * The cumulative receipt, as a table: where one subscriber stands with one origin's events,
 * given its deliveries, the origin's gap-free version here and the outcome cap.
 */
import { describe, expect, it } from 'vitest';
import { computeReceipt } from '../../../src/events/index.js';
import type { DeliveryFacts, DeliveryState } from '../../../src/events/index.js';
import { Outcome } from '../../../src/gen/alliance/v1/events.js';

/** `10:done`, `12:failed/2`, `14:parked/3`: version, state, failures. */
function d(spec: string): DeliveryFacts {
  const [version = '0', rest = ''] = spec.split(':');
  const [state = 'pending', failures = '0'] = rest.split('/');
  return {
    eventId: `e${version}`,
    version: Number(version),
    state: state as DeliveryState,
    failures: Number(failures),
    detail: state === 'done' || state === 'pending' ? '' : `${state} detail`,
  };
}

interface Row {
  name: string;
  deliveries: string[];
  gapFree: number;
  floor?: number;
  outcomesMax?: number;
  through: number;
  /** `version:OUTCOME` for each listed outcome, `!` when parked. */
  listed: string[];
}

const outcomeNames: Record<number, string> = {
  [Outcome.OUTCOME_DONE]: 'done',
  [Outcome.OUTCOME_FAILED]: 'failed',
  [Outcome.OUTCOME_SKIPPED]: 'skipped',
};

const table: Row[] = [
  { name: 'no deliveries: nothing handled', deliveries: [], gapFree: 50, through: 0, listed: [] },
  {
    name: 'all done: through the last event, not the gap-free version',
    deliveries: ['10:done', '12:done', '15:done'],
    gapFree: 40,
    through: 15,
    listed: [],
  },
  {
    name: 'stops before the first event never acked',
    deliveries: ['10:done', '12:pending', '15:done'],
    gapFree: 40,
    through: 10,
    listed: ['15:done'],
  },
  {
    name: 'never past the gap-free version: later events may not have arrived',
    deliveries: ['10:done', '12:done', '15:done'],
    gapFree: 13,
    through: 12,
    listed: ['15:done'],
  },
  {
    name: 'failed, parked and skipped events below are listed; done ones are implied',
    deliveries: ['10:done', '11:failed/1', '12:skipped', '13:parked/4', '14:done'],
    gapFree: 20,
    through: 14,
    listed: ['11:failed', '12:skipped', '13:failed!'],
  },
  {
    name: 'a floor stands for the done deliveries not passed in',
    deliveries: ['21:done', '22:pending'],
    gapFree: 30,
    floor: 20,
    through: 21,
    listed: [],
  },
  {
    name: 'a pending delivery below the floor wins over it',
    deliveries: ['15:pending', '21:done'],
    gapFree: 30,
    floor: 20,
    through: 14,
    listed: ['21:done'],
  },
  {
    name: 'too many failures to list: handled-through stops below the first that does not fit',
    deliveries: ['10:failed/1', '11:parked/5', '12:failed/2', '13:done'],
    gapFree: 20,
    outcomesMax: 2,
    through: 11,
    listed: ['10:failed', '11:failed!'],
  },
  {
    name: 'capped: answered events above come first, skipped ones below are left out (they read as done)',
    deliveries: ['10:skipped', '11:skipped', '12:pending', '13:done', '14:done'],
    gapFree: 20,
    outcomesMax: 2,
    through: 11,
    listed: ['13:done', '14:done'],
  },
  {
    name: 'capped: the most recent skipped events are kept',
    deliveries: ['10:skipped', '11:skipped', '12:skipped'],
    gapFree: 20,
    outcomesMax: 2,
    through: 12,
    listed: ['11:skipped', '12:skipped'],
  },
];

describe('computeReceipt', () => {
  it.each(table)('$name', (row) => {
    const receipt = computeReceipt({
      cloud: 'cloud-b',
      subscriber: 'nova',
      origin: 'cloud-a/n1',
      gapFreeVersion: row.gapFree,
      deliveries: [...row.deliveries].reverse().map(d),
      floorVersion: row.floor ?? 0,
      outcomesMax: row.outcomesMax ?? 100,
    });
    expect(receipt.handledThroughVersion).toBe(BigInt(row.through));
    expect(
      receipt.outcomes.map(
        (o) => `${o.version}:${outcomeNames[o.outcome] ?? o.outcome}${o.parked ? '!' : ''}`,
      ),
    ).toEqual(row.listed);
  });

  it('names the cloud, subscriber and origin, and carries detail and attempts of each listed event', () => {
    expect(
      computeReceipt({
        cloud: 'cloud-b',
        subscriber: 'nova',
        origin: 'cloud-a/n1',
        gapFreeVersion: 9,
        deliveries: [d('5:parked/3'), d('7:done/1'), d('8:skipped')],
        floorVersion: 0,
        outcomesMax: 10,
      }),
    ).toEqual({
      cloud: 'cloud-b',
      subscriber: 'nova',
      origin: 'cloud-a/n1',
      handledThroughVersion: 8n,
      outcomes: [
        {
          eventId: 'e5',
          version: 5n,
          outcome: Outcome.OUTCOME_FAILED,
          detail: 'parked detail',
          attempts: 3,
          parked: true,
        },
        {
          eventId: 'e8',
          version: 8n,
          outcome: Outcome.OUTCOME_SKIPPED,
          detail: 'skipped detail',
          attempts: 1,
          parked: false,
        },
      ],
    });
  });
});
