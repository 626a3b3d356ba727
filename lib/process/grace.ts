/**
 * Grace periods of a halt: waiting for a part to stop, at most so long,
 * before cutting it off.
 *
 * @module
 */

/** Whether `promise` settled within `ms`; the timer is cleared either way. */
export async function within(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
