/**
 * Read deadlines of the lean engine's connections, kept by one timer: a
 * request head must arrive within `--head-timeout`, and a kept-alive
 * connection is closed after it. A timer and a promise race per request
 * cost a publish more than its parsing; one sweep a fraction of the
 * timeout apart costs nothing per request, and a deadline is met within
 * that fraction late.
 *
 * @module
 */

import type { SocketConn } from "./socket_conn.ts";

/** Fires connections' deadlines by interrupting their pending reads. */
export class ReadDeadlines implements Disposable {
  readonly #due = new Map<SocketConn, number>();
  readonly #tickMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * `timeoutMs` is the usual deadline: sweeps come a quarter of it apart,
   * but at least 20 ms and at most a second apart.
   */
  constructor(timeoutMs: number) {
    this.#tickMs = Math.min(1000, Math.max(20, Math.floor(timeoutMs / 4)));
  }

  /** Interrupts `conn`'s reads from time `at` (ms since epoch) on. */
  set(conn: SocketConn, at: number): void {
    this.#due.set(conn, at);
    this.#timer ??= setInterval(() => this.#sweep(), this.#tickMs);
  }

  /** `conn` has no deadline any more. */
  clear(conn: SocketConn): void {
    this.#due.delete(conn);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [conn, at] of this.#due) {
      if (at > now) continue;
      this.#due.delete(conn);
      conn.interrupt();
    }
    // No deadline left: no timer either, until the next one is set.
    if (this.#due.size === 0) this[Symbol.dispose]();
  }

  /** Stops the timer; deadlines set afterwards start it again. */
  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
