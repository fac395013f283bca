import { CancelledSignal } from "./values.ts";

/**
 * The execution clock. The real clock sleeps; the virtual clock only moves its own time forward, synchronously,
 * so `sys.sleep`, retry backoff and connector polling cost nothing (the requested delays are still recorded).
 */
export interface Clock {
  readonly virtual: boolean;
  nowMs(): number;
  /** Undefined when the sleep is already over (virtual clock); a promise otherwise. Rejects with CancelledSignal on abort. */
  sleep(seconds: number, signal?: AbortSignal): undefined | Promise<void>;
}

export function realClock(): Clock {
  return {
    virtual: false,
    nowMs: () => Date.now(),
    sleep(seconds, signal) {
      if (seconds <= 0) return undefined;
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(new CancelledSignal());
          return;
        }
        const onAbort = () => {
          clearTimeout(timer);
          reject(new CancelledSignal());
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        }, seconds * 1000);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
}

export function virtualClock(startMs = Date.now()): Clock & { advance(seconds: number): void } {
  let now = startMs;
  return {
    virtual: true,
    nowMs: () => now,
    advance(seconds: number) {
      now += seconds * 1000;
    },
    sleep(seconds, signal) {
      if (signal?.aborted) throw new CancelledSignal();
      if (seconds > 0) now += seconds * 1000;
      return undefined;
    },
  };
}
