/**
 * Waiting for a condition that changes when data arrives, without polling
 * and without blind sleeps: producers call `notify()`, waiters re-check.
 *
 * @module
 */

import { timeLimited } from "../../lib/broker/time_limit.ts";

/** Wakes waiters whenever something they may be waiting for has changed. */
export class Condition {
  #waiters = new Set<() => void>();

  /** Something changed: every waiter checks its condition again. */
  notify(): void {
    for (const wake of this.#waiters) wake();
  }

  /**
   * Resolves with `check()`'s first non-undefined result. Throws the error
   * `fail()` returns (when it returns one), or `timeout()`'s error after
   * `timeoutMs`.
   */
  async wait<T>(
    check: () => T | undefined,
    options: {
      timeoutMs: number;
      fail?: () => Error | undefined;
      timeout: () => Error;
    },
  ): Promise<T> {
    const deadline = Date.now() + options.timeoutMs;
    while (true) {
      const value = check();
      if (value !== undefined) return value;
      const failure = options.fail?.();
      if (failure) throw failure;
      const left = deadline - Date.now();
      if (left <= 0) throw options.timeout();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, left);
        const waiters = this.#waiters;
        function wake() {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
      });
    }
  }
}

/** Fails after `ms` unless `promise` settles first. */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  return timeLimited(
    promise,
    ms,
    () => new Error(`timed out after ${ms} ms: ${what}`),
  );
}

/**
 * Waits until `check()` is true, re-checking every `intervalMs`: for state
 * that nothing notifies of, such as a process's files in /proc. Throws
 * `timeout()`'s error after `timeoutMs`.
 */
export async function pollUntil(
  check: () => boolean,
  options: { timeoutMs: number; intervalMs?: number; timeout: () => Error },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) throw options.timeout();
    await new Promise((resolve) =>
      setTimeout(resolve, options.intervalMs ?? 50)
    );
  }
}
