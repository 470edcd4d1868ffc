/**
 * Capped exponential backoff with jitter for redialing peers: the delay doubles with
 * each failed attempt up to the cap, and is spread over [delay/2, delay] so that a
 * federation restarting at once does not redial in lockstep.
 */
export function backoffDelayMs(
  failedAttempts: number,
  options: { minMs: number; maxMs: number },
  random: () => number,
): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 30);
  const delay = Math.min(options.maxMs, options.minMs * 2 ** exponent);
  return Math.round(delay / 2 + (random() * delay) / 2);
}
