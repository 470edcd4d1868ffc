import { describe, expect, it } from 'vitest';
import { Wakeup, unlessAborted } from '../../../src/lib/wakeup.js';

/** Whether `promise` has settled once pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('Wakeup', () => {
  it('resolves a wait at the next wake, and not before', async () => {
    const wakeup = new Wakeup();
    const waiting = wakeup.wait(new AbortController().signal);
    expect(await settled(waiting)).toBe(false);
    wakeup.wake();
    expect(await settled(waiting)).toBe(true);
  });

  it('keeps a wake that came before the wait, once', async () => {
    const wakeup = new Wakeup();
    const signal = new AbortController().signal;
    wakeup.wake();
    wakeup.wake();
    expect(await settled(wakeup.wait(signal))).toBe(true);
    // Both wakes were answered by that one wait.
    expect(await settled(wakeup.wait(signal))).toBe(false);
  });

  it('resolves a wait when its signal aborts', async () => {
    const wakeup = new Wakeup();
    const controller = new AbortController();
    const waiting = wakeup.wait(controller.signal);
    controller.abort();
    expect(await settled(waiting)).toBe(true);
  });
});

describe('unlessAborted', () => {
  it('passes the value through, or rejects with the abort reason first', async () => {
    await expect(unlessAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const racing = unlessAborted(never, controller.signal);
    controller.abort(new Error('gone'));
    await expect(racing).rejects.toThrow('gone');
  });
});
