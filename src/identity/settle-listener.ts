/**
 * Awaiting an account-event listener with a deadline, for both identity sources: a listener
 * that throws, rejects, or does not settle within `timeoutMs` counts as failed, and stopping
 * the source fails every pending wait (through `waits`), so nothing is acknowledged on a
 * listener's behalf.
 */
import type { Clock } from '../lib/clock.js';
import type { AccountEvent } from './types.js';

export function settleListener(
  listener: (event: AccountEvent) => Promise<void>,
  event: AccountEvent,
  options: { clock: Clock; timeoutMs: number; waits: Set<(err: Error) => void> },
): Promise<void> {
  const { clock, timeoutMs, waits } = options;
  return new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => {
      waits.delete(fail);
      timer.cancel();
      reject(err);
    };
    const timer = clock.setTimer(timeoutMs, () =>
      fail(new Error(`listener did not settle within ${timeoutMs} ms`)),
    );
    waits.add(fail);
    Promise.resolve()
      .then(() => listener(event))
      .then(
        () => {
          waits.delete(fail);
          timer.cancel();
          resolve();
        },
        (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
      );
  });
}
