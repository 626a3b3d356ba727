/**
 * The time limit of each Redis command (`--redis-timeout`): every command
 * the brokers send is raced against it, so a frozen Redis costs a client an
 * unavailable answer, never a request that hangs.
 *
 * @module
 */

/**
 * `promise`, or a rejection with `onTimeout()`'s error once `ms` pass; the
 * timer is cleared either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await timeLimited(Promise.resolve(1), 1000, () => new Error()), 1);
 * await assert.rejects(
 *   timeLimited(new Promise(() => {}), 1, () => new Error("too slow")),
 *   /too slow/,
 * );
 * ```
 */
export async function timeLimited<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
