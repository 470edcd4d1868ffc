/**
 * The redial backoff: doubles per failed attempt from the minimum, stops at the cap, and
 * spreads each delay over [delay/2, delay] with the injected randomness.
 */
import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../../src/mesh/backoff.js';

const options = { minMs: 100, maxMs: 5_000 };
const almostOne = 1 - 2 ** -32;

describe('backoffDelayMs', () => {
  it.each([
    // failed attempts, random 0 (half the delay), random ~1 (the whole delay), random 0.5
    [0, 50, 100, 75],
    [1, 50, 100, 75],
    [2, 100, 200, 150],
    [3, 200, 400, 300],
    [4, 400, 800, 600],
    [5, 800, 1_600, 1_200],
    [6, 1_600, 3_200, 2_400],
    [7, 2_500, 5_000, 3_750],
    [8, 2_500, 5_000, 3_750],
    [31, 2_500, 5_000, 3_750],
    [1_000, 2_500, 5_000, 3_750],
  ])('after %i failed attempts waits %i..%i ms (%i at the midpoint)', (attempts, low, high, middle) => {
    expect([
      backoffDelayMs(attempts, options, () => 0),
      backoffDelayMs(attempts, options, () => almostOne),
      backoffDelayMs(attempts, options, () => 0.5),
    ]).toEqual([low, high, middle]);
  });

  it('never exceeds the cap even when the minimum times 2^30 is huge', () => {
    const big = { minMs: 60_000, maxMs: 3_600_000 };
    expect(backoffDelayMs(10_000, big, () => almostOne)).toBe(3_600_000);
    expect(backoffDelayMs(10_000, big, () => 0)).toBe(1_800_000);
  });

  it('treats a negative attempt count like the first attempt', () => {
    expect(backoffDelayMs(-3, options, () => 0)).toBe(50);
  });

  it('rounds to whole milliseconds', () => {
    expect(backoffDelayMs(1, { minMs: 3, maxMs: 3 }, () => 0.5)).toBe(2);
    expect(Number.isInteger(backoffDelayMs(3, { minMs: 7, maxMs: 1_000 }, () => 0.123))).toBe(true);
  });
});
