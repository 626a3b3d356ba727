/**
 * Log lines written in batches when they come fast: a line is written at
 * once when nothing was written in the last {@linkcode FLUSH_MS}; within
 * that time it waits, and is written with the others of its batch, in one
 * write, at most {@linkcode FLUSH_MS} later (or at once when the batch
 * reaches {@linkcode BATCH_CHARS}, or for an error). A quiet server's log
 * is as prompt as a line per write; a busy one's costs a write per batch.
 * One write per line (a system call, and a sync of the file after it in
 * LogTape's file sink) cost more than the publish it logged.
 *
 * Nothing is synced to disk: the lines are the kernel's once written, as
 * with the original's buffered log; a batch still waiting is lost only if
 * the process is killed within {@linkcode FLUSH_MS} of it.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Longest a line waits to be written, in milliseconds. */
export const FLUSH_MS = 50;
/** A batch this long (in UTF-16 units) is written at once. */
export const BATCH_CHARS = 32768;

/** Where a batch goes: a file, or standard output. */
export interface LineTarget {
  writeSync(bytes: Uint8Array): number;
  close?(): void;
}

/** Collects lines and writes them in batches; disposing writes the rest. */
export class LineBatch implements Disposable {
  readonly #target: LineTarget;
  readonly #onError: (error: unknown) => void;
  #lines: string[] = [];
  #chars = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the last batch was written (ms, monotonic). */
  #lastWrite = -Infinity;

  /** `onError` hears of a failed write (its lines are dropped). */
  constructor(target: LineTarget, onError: (error: unknown) => void) {
    this.#target = target;
    this.#onError = onError;
  }

  /** Adds a line (its newline included); `urgent` writes it at once. */
  add(line: string, urgent = false): void {
    this.#lines.push(line);
    this.#chars += line.length;
    if (
      urgent || this.#chars >= BATCH_CHARS ||
      (this.#timer === undefined &&
        performance.now() - this.#lastWrite >= FLUSH_MS)
    ) {
      this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, FLUSH_MS);
    }
  }

  /** Writes every waiting line now. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#lines.length === 0) return;
    this.#lastWrite = performance.now();
    const bytes = encoder.encode(this.#lines.join(""));
    this.#lines = [];
    this.#chars = 0;
    try {
      let written = 0;
      while (written < bytes.length) {
        written += this.#target.writeSync(bytes.subarray(written));
      }
    } catch (error) {
      this.#onError(error);
    }
  }

  /** Writes what waits and closes the target. */
  [Symbol.dispose](): void {
    this.flush();
    try {
      this.#target.close?.();
    } catch {
      // Closed already.
    }
  }
}
