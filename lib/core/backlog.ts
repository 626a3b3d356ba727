/**
 * The hub's total backlog: bytes queued for subscribers (and handed to
 * their sockets but not yet written), and the push-back on publishers when
 * it is too large.
 *
 * Why: each subscriber's queue is bounded (`--max-client-buffer`), but
 * 10,000 subscribers each a little behind add up to gigabytes and seconds
 * of latency. Past `limit` bytes in total, publishers wait (the control
 * port and the FIFO stop reading, HTTP publishes are answered later) until
 * the subscribers have taken the backlog down to half of it.
 *
 * Within its own limit, one subscriber counts for at most
 * {@linkcode BACKLOG_SHARE_MAX}, so a few slow clients cannot hold every
 * publisher back; past its limit it counts for all it owes, so a burst waits
 * for the clients that read rather than cutting them (a client that stays
 * past its limit is dropped after `CATCH_UP_MS`). A subscriber that takes
 * nothing for {@linkcode STALL_MS} while bytes wait is "stalled" and stops
 * counting, so clients that never read cannot hold publishers back; past
 * its limit it is dropped as a slow consumer. Since they share the bytes of
 * each event with the other subscribers, they cost little memory meanwhile.
 *
 * @module
 */

import { WRITE_MAX } from "./bytes.ts";

/** How long a subscriber may sit on waiting bytes before it is stalled. */
export const STALL_MS = 1000;

/**
 * How long a subscriber may stay past its limit while it reads before it is
 * dropped: a client that reads but cannot keep up.
 */
export const CATCH_UP_MS = 10_000;

/**
 * Most bytes one subscriber counts for in the backlog (a write's worth): a
 * slow client further behind is its own limit's business, not publishers'.
 */
export const BACKLOG_SHARE_MAX = WRITE_MAX;

/** Counts bytes owed to subscribers and makes publishers wait past a limit. */
export class Backlog {
  /** Bytes owed by subscribers that are not stalled. */
  bytes = 0;
  /** The limit; 0 or Infinity: publishers never wait. */
  readonly limit: number;
  readonly #resume: number;
  #waiting: PromiseWithResolvers<void> | null = null;
  /** Times publishers were made to wait, for metrics. */
  pushbacks = 0;

  constructor(limit = 0) {
    this.limit = limit > 0 ? limit : Infinity;
    this.#resume = this.limit / 2;
  }

  /**
   * `undefined` when a publisher may go on now; otherwise a promise that
   * settles once the backlog is low again.
   */
  ready(): Promise<void> | undefined {
    if (this.bytes <= this.limit && this.#waiting === null) return undefined;
    if (this.#waiting === null) {
      this.#waiting = Promise.withResolvers<void>();
      this.pushbacks++;
    }
    return this.#waiting.promise;
  }

  /**
   * Counts bytes newly owed (positive) or taken (negative); releases waiting
   * publishers once the backlog is low.
   */
  change(delta: number): void {
    this.bytes += delta;
    if (delta < 0 && this.#waiting !== null && this.bytes <= this.#resume) {
      this.release();
    }
  }

  /** Lets waiting publishers go on (also used when the hub closes). */
  release(): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.resolve();
  }
}
