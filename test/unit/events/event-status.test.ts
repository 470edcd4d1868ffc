/**
 * GetEventStatus from receipts and subscribers records, as tables: one subscriber's outcome from
 * a receipt, the best of several nodes' answers, and when a cloud and an event are complete.
 */
import { describe, expect, it } from 'vitest';
import { assembleStatus, bestOutcome, outcomeFromReceipt } from '../../../src/events/index.js';
import type { SubscriberEventStatus } from '../../../src/gen/alliance/v1/events.js';
import { Outcome } from '../../../src/gen/alliance/v1/events.js';

const receipt = {
  handledThroughVersion: 20,
  outcomes: new Map([
    [
      'failed',
      {
        eventId: 'failed',
        version: 15n,
        outcome: Outcome.OUTCOME_FAILED,
        detail: 'disk full',
        attempts: 2,
        parked: false,
      },
    ],
    [
      'early',
      {
        eventId: 'early',
        version: 30n,
        outcome: Outcome.OUTCOME_DONE,
        detail: '',
        attempts: 1,
        parked: false,
      },
    ],
  ]),
};

function status(outcome: Outcome, parked = false): SubscriberEventStatus {
  return { name: 'nova', outcome, detail: '', ackedAt: undefined, attempts: 0, parked };
}

describe('outcomeFromReceipt', () => {
  it.each([
    ['a listed event has its listed outcome', 'failed', 15, Outcome.OUTCOME_FAILED, 'disk full', 2],
    [
      'an event at or below handled-through is done, in at least one attempt',
      'other',
      20,
      Outcome.OUTCOME_DONE,
      '',
      1,
    ],
    ['an event above it is not acked yet', 'other', 21, Outcome.OUTCOME_UNSPECIFIED, '', 0],
    ['an event above it acked out of order is listed', 'early', 30, Outcome.OUTCOME_DONE, '', 1],
  ])('%s', (_name, id, version, outcome, detail, attempts) => {
    expect(outcomeFromReceipt('nova', receipt, id, version)).toEqual({
      name: 'nova',
      outcome,
      detail,
      ackedAt: undefined,
      attempts,
      parked: false,
    });
  });
});

describe('bestOutcome', () => {
  it.each([
    ['nothing known: not acked', [], Outcome.OUTCOME_UNSPECIFIED, false],
    [
      'done beats failed',
      [status(Outcome.OUTCOME_FAILED), status(Outcome.OUTCOME_DONE)],
      Outcome.OUTCOME_DONE,
      false,
    ],
    [
      'parked beats failed',
      [status(Outcome.OUTCOME_FAILED), status(Outcome.OUTCOME_FAILED, true)],
      Outcome.OUTCOME_FAILED,
      true,
    ],
    [
      'skipped beats not acked',
      [status(Outcome.OUTCOME_UNSPECIFIED), status(Outcome.OUTCOME_SKIPPED)],
      Outcome.OUTCOME_SKIPPED,
      false,
    ],
  ])('%s', (_name, statuses, outcome, parked) => {
    expect(bestOutcome('nova', statuses)).toMatchObject({ name: 'nova', outcome, parked });
  });
});

describe('assembleStatus', () => {
  const outcomes: Record<string, Outcome> = {
    nova: Outcome.OUTCOME_DONE,
    neutron: Outcome.OUTCOME_SKIPPED,
    glance: Outcome.OUTCOME_FAILED,
  };
  const of = (name: string): SubscriberEventStatus => ({ ...status(outcomes[name] ?? 0), name });

  it.each([
    ['every expected subscriber done or skipped: complete', [['cloud-b', ['nova', 'neutron']]], true, [true]],
    ['one failed: not complete', [['cloud-b', ['nova', 'glance']]], false, [false]],
    ['a cloud that expects nobody is complete', [['cloud-b', []]], true, [true]],
    ['a cloud whose expectations are unknown is not', [['cloud-x', undefined]], false, [false]],
    [
      'every target cloud must be complete',
      [
        ['cloud-b', ['nova']],
        ['cloud-c', ['glance']],
      ],
      false,
      [true, false],
    ],
  ] as [string, [string, string[] | undefined][], boolean, boolean[]][])(
    '%s',
    (_name, clouds, complete, perCloud) => {
      const result = assembleStatus(clouds.map(([cloud, expected]) => ({ cloud, expected, outcomeOf: of })));
      expect(result.complete).toBe(complete);
      expect(result.clouds.map((c) => c.complete)).toEqual(perCloud);
    },
  );

  it('lists the expected subscribers of each cloud by name', () => {
    const result = assembleStatus([{ cloud: 'cloud-b', expected: ['nova', 'neutron'], outcomeOf: of }]);
    expect(result.clouds).toEqual([
      {
        cloud: 'cloud-b',
        complete: true,
        subscribers: [
          { ...status(Outcome.OUTCOME_SKIPPED), name: 'neutron' },
          { ...status(Outcome.OUTCOME_DONE), name: 'nova' },
        ],
      },
    ]);
  });
});
