/**
 * Capped exponential backoff: the delay doubles with each failed attempt (the first waits
 * `minMs`) up to `maxMs`. Redials add jitter on top (mesh/backoff.ts); retries of one
 * delivery do not need it.
 */
export function cappedDoublingMs(failedAttempts: number, options: { minMs: number; maxMs: number }): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 30);
  return Math.min(options.maxMs, options.minMs * 2 ** exponent);
}
