import { describe, expect, test } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';

describe('ManualClock', () => {
  test('fires due timers in due order while advancing, and moves time to each', () => {
    const clock = new ManualClock(1_000);
    const fired: [string, number][] = [];
    clock.setTimer(30, () => fired.push(['c', clock.nowMs()]));
    clock.setTimer(10, () => {
      fired.push(['a', clock.nowMs()]);
      clock.setTimer(5, () => fired.push(['b', clock.nowMs()]));
    });
    clock.setTimer(100, () => fired.push(['late', clock.nowMs()]));
    clock.advance(50);
    expect(fired).toEqual([
      ['a', 1_010],
      ['b', 1_015],
      ['c', 1_030],
    ]);
    expect(clock.nowMs()).toBe(1_050);
    expect(clock.pendingTimers()).toBe(1);
  });

  test('never fires a cancelled timer', () => {
    const clock = new ManualClock();
    let fired = false;
    clock.setTimer(10, () => (fired = true)).cancel();
    clock.advance(20);
    expect(fired).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
  });
});
