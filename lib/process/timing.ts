/**
 * Small helpers of the server's shutdown and logs: waiting for a promise
 * at most so long, and shortening published data for a log line.
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

/** `data` as JSON, cut after 200 characters: for log lines. */
export function shorten(data: string): string {
  return JSON.stringify(data.length > 200 ? data.slice(0, 200) + "…" : data);
}
