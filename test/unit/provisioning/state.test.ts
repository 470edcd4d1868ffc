import { describe, expect, it } from 'vitest';
import { Outcome } from '../../../src/gen/alliance/v1/events.js';
import type { SubscriberEventStatus } from '../../../src/gen/alliance/v1/events.js';
import { ProvisionState } from '../../../src/gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../../../src/gen/alliance/v1/provisioning.js';
import {
  actionOfState,
  checkProvisionInput,
  nextStep,
  verdictOf,
  viewOf,
  wantedAction,
} from '../../../src/provisioning/index.js';

const S = ProvisionState;

function record(state: ProvisionState, result?: Record<string, unknown>): ProvisionRecord {
  return {
    requestId: 'r1',
    requesterCloud: 'cloud-a',
    targetCloud: 'cloud-b',
    kind: 'project',
    spec: { name: 'p', userId: 'u', role: 'member' },
    state,
    detail: '',
    result,
    createdAt: new Date(1000),
    updatedAt: new Date(1000),
  };
}

function subscriber(name: string, outcome: Outcome, detail = '', parked = false): SubscriberEventStatus {
  return { name, outcome, detail, ackedAt: undefined, attempts: 1, parked };
}

describe('provisioning state machine', () => {
  it('reads the wanted action from the request and the action of a state record', () => {
    expect(wantedAction(record(S.PROVISION_STATE_PENDING))).toBe('provision');
    expect(wantedAction(record(S.PROVISION_STATE_DEPROVISIONING))).toBe('deprovision');
    expect(actionOfState(record(S.PROVISION_STATE_RUNNING))).toBe('provision');
    expect(actionOfState(record(S.PROVISION_STATE_DONE))).toBe('provision');
    expect(actionOfState(record(S.PROVISION_STATE_DEPROVISIONED))).toBe('deprovision');
    expect(actionOfState(record(S.PROVISION_STATE_FAILED, { action: 'provision' }))).toBe('provision');
    expect(actionOfState(record(S.PROVISION_STATE_FAILED, { action: 'deprovision' }))).toBe('deprovision');
  });

  it('executes a new request once, resumes an interrupted one, and reverses on deprovision', () => {
    const pending = record(S.PROVISION_STATE_PENDING);
    const deprovision = record(S.PROVISION_STATE_DEPROVISIONING);
    expect(nextStep(pending, undefined, false)).toBe('provision');
    expect(nextStep(pending, undefined, true)).toBeNull();
    expect(nextStep(pending, record(S.PROVISION_STATE_RUNNING), false)).toBe('provision');
    expect(nextStep(pending, record(S.PROVISION_STATE_DONE), false)).toBeNull();
    expect(nextStep(pending, record(S.PROVISION_STATE_FAILED, { action: 'provision' }), false)).toBeNull();
    expect(nextStep(deprovision, record(S.PROVISION_STATE_DONE), false)).toBe('deprovision');
    expect(nextStep(deprovision, record(S.PROVISION_STATE_FAILED, { action: 'provision' }), false)).toBe(
      'deprovision',
    );
    expect(nextStep(deprovision, undefined, false)).toBe('deprovision');
    expect(nextStep(deprovision, record(S.PROVISION_STATE_DEPROVISIONING), false)).toBe('deprovision');
    expect(nextStep(deprovision, record(S.PROVISION_STATE_DEPROVISIONED), false)).toBeNull();
    expect(
      nextStep(deprovision, record(S.PROVISION_STATE_FAILED, { action: 'deprovision' }), false),
    ).toBeNull();
  });

  it('shows the target state only when it is about what the request now wants', () => {
    const pending = record(S.PROVISION_STATE_PENDING);
    expect(viewOf(pending, undefined).state).toBe(S.PROVISION_STATE_PENDING);
    const done = { ...record(S.PROVISION_STATE_DONE, { action: 'provision', projectId: 'x' }), detail: 'ok' };
    expect(viewOf(pending, done)).toMatchObject({
      state: S.PROVISION_STATE_DONE,
      detail: 'ok',
      result: done.result,
    });
    // Deprovision asked, the target has not started it: DEPROVISIONING, not the old DONE.
    expect(viewOf(record(S.PROVISION_STATE_DEPROVISIONING), done).state).toBe(
      S.PROVISION_STATE_DEPROVISIONING,
    );
    expect(
      viewOf(record(S.PROVISION_STATE_DEPROVISIONING), record(S.PROVISION_STATE_DEPROVISIONED)).state,
    ).toBe(S.PROVISION_STATE_DEPROVISIONED);
  });

  it('turns subscriber answers into an outcome', () => {
    const waiting = subscriber('neutron', Outcome.OUTCOME_UNSPECIFIED);
    expect(verdictOf([waiting], 'quota')).toEqual({ state: 'waiting' });
    expect(verdictOf([subscriber('nova', Outcome.OUTCOME_DONE, 'set'), waiting], 'quota')).toEqual({
      state: 'done',
      detail: 'set',
    });
    expect(verdictOf([subscriber('nova', Outcome.OUTCOME_FAILED, 'too big'), waiting], 'quota')).toEqual({
      state: 'failed',
      detail: 'nova: too big',
    });
    expect(
      verdictOf(
        [subscriber('nova', Outcome.OUTCOME_SKIPPED), subscriber('neutron', Outcome.OUTCOME_SKIPPED)],
        'quota',
      ),
    ).toMatchObject({ state: 'failed' });
    expect(verdictOf([], 'quota')).toEqual({ state: 'waiting' });
  });

  it('checks Provision input', () => {
    const base = { targetCloud: 'cloud-b', requestId: 'r1', kind: 'quota', spec: { a: 1 } };
    expect(checkProvisionInput(base)).toEqual({ a: 1 });
    expect(checkProvisionInput({ ...base, spec: undefined })).toEqual({});
    for (const bad of [
      { ...base, requestId: '' },
      { ...base, requestId: '-x' },
      { ...base, targetCloud: 'a/b' },
      { ...base, kind: 'Q' },
      { ...base, kind: 'project', spec: { name: 'p', userId: 'u' } },
      { ...base, kind: 'project', spec: { name: 'p', userId: 'u', role: 'r', domainId: 3 } },
    ]) {
      expect(() => checkProvisionInput(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
