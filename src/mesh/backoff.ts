/**
 * Capped exponential backoff with jitter for redialing peers: the delay doubles with each
 * failed attempt up to the cap, and is spread over [delay/2, delay] so that a federation
 * restarting at once does not redial in lockstep.
 */
import { cappedDoublingMs } from '../lib/backoff.js';

export function backoffDelayMs(
  failedAttempts: number,
  options: { minMs: number; maxMs: number },
  random: () => number,
): number {
  const delay = cappedDoublingMs(failedAttempts, options);
  return Math.round(delay / 2 + (random() * delay) / 2);
}
