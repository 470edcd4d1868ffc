/**
 * The provisioning state machine, pure (no I/O): what the requester shows for a request given
 * the target's latest state record, what the target should do next for a request record, and
 * how a subscriber's answer to a `provision.request` event becomes a state.
 *
 * The request record's own state says what the requester wants: PENDING (provision it) or
 * DEPROVISIONING (reverse it). The target's state record says how far it got; its result's
 * `action` ("provision" or "deprovision") tells which of the two a FAILED belongs to.
 */
import { Outcome } from '../gen/alliance/v1/events.js';
import type { SubscriberEventStatus } from '../gen/alliance/v1/events.js';
import { ProvisionState } from '../gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../gen/alliance/v1/provisioning.js';

export type ProvisionAction = 'provision' | 'deprovision';

/** What the requester wants, from its request record. */
export function wantedAction(request: ProvisionRecord): ProvisionAction {
  return request.state === ProvisionState.PROVISION_STATE_DEPROVISIONING ? 'deprovision' : 'provision';
}

/** Which action a target state record is about. */
export function actionOfState(state: ProvisionRecord): ProvisionAction {
  switch (state.state) {
    case ProvisionState.PROVISION_STATE_DEPROVISIONING:
    case ProvisionState.PROVISION_STATE_DEPROVISIONED:
      return 'deprovision';
    case ProvisionState.PROVISION_STATE_FAILED:
      return state.result?.['action'] === 'deprovision' ? 'deprovision' : 'provision';
    default:
      return 'provision';
  }
}

/** Whether the state is the end of its action (nothing more will happen unless asked). */
export function isSettled(state: ProvisionState): boolean {
  return (
    state === ProvisionState.PROVISION_STATE_DONE ||
    state === ProvisionState.PROVISION_STATE_FAILED ||
    state === ProvisionState.PROVISION_STATE_DEPROVISIONED
  );
}

/**
 * The record the requester shows: the request, with the state, detail and result of the target's
 * state record when that record is about what the request now wants.
 */
export function viewOf(request: ProvisionRecord, state: ProvisionRecord | undefined): ProvisionRecord {
  if (!state || actionOfState(state) !== wantedAction(request)) return request;
  return {
    ...request,
    state: state.state,
    detail: state.detail,
    result: state.result,
    updatedAt: state.updatedAt ?? request.updatedAt,
  };
}

/**
 * What the target does for a request record, given its own state record and whether it is
 * working on the request right now. A state still RUNNING or DEPROVISIONING while nothing runs
 * was interrupted (a restart) and is resumed: both executions are idempotent per request id.
 */
export function nextStep(
  request: ProvisionRecord,
  state: ProvisionRecord | undefined,
  inProgress: boolean,
): ProvisionAction | null {
  if (inProgress) return null;
  const wanted = wantedAction(request);
  if (!state) return wanted;
  if (actionOfState(state) !== wanted) return wanted;
  return isSettled(state.state) ? null : wanted;
}

export type SubscriberVerdict =
  { state: 'waiting' } | { state: 'done'; detail: string } | { state: 'failed'; detail: string };

/**
 * A `provision.request` event's outcome from its subscribers' answers: the first subscriber to
 * ack done decides DONE; a failure (even one still being retried) decides FAILED; skipped
 * answers do not count, and when every subscriber skipped, no one handles the kind: FAILED.
 */
export function verdictOf(subscribers: readonly SubscriberEventStatus[], kind: string): SubscriberVerdict {
  const done = subscribers.find((s) => s.outcome === Outcome.OUTCOME_DONE);
  if (done) return { state: 'done', detail: done.detail || `done by ${done.name}` };
  const failed = subscribers.find((s) => s.outcome === Outcome.OUTCOME_FAILED || s.parked);
  if (failed) return { state: 'failed', detail: `${failed.name}: ${failed.detail || 'failed'}` };
  if (subscribers.length > 0 && subscribers.every((s) => s.outcome === Outcome.OUTCOME_SKIPPED)) {
    return { state: 'failed', detail: `no subscriber handles kind "${kind}": every one skipped it` };
  }
  return { state: 'waiting' };
}
