/**
 * Small promise helpers for stream handlers that wait on events, never on time (the local API's
 * watch streams and the events capability's subscriber streams).
 */

/**
 * A one-slot doorbell: wait() resolves at the next wake(), at once if a wake() came since the last
 * wait() resolved (a wake is never lost between a check and the wait), or when `signal` aborts.
 */
export class Wakeup {
  private rung = false;
  private ring: (() => void) | undefined;

  wake(): void {
    this.rung = true;
    const ring = this.ring;
    this.ring = undefined;
    ring?.();
  }

  wait(signal: AbortSignal): Promise<void> {
    if (this.rung || signal.aborted) {
      this.rung = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.ring = undefined;
        this.rung = false;
        resolve();
      };
      this.ring = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** `promise`, or a rejection with `signal.reason` as soon as `signal` aborts. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as unknown);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as unknown);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
