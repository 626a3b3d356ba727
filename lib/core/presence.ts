/**
 * Presence (`--presence`): how many subscribers each channel has, told to
 * those subscribers as `event: sse-presence` with
 * `data: {"channel":"C","subscribers":N}`.
 *
 * - A new subscriber gets the count of each of its channels at once
 *   (itself included), after its replay if it has one.
 * - Changes are told at most once per interval (a second) per channel,
 *   with the latest count: 10,000 clients joining within a second cost
 *   each subscriber one event per second, not 10,000. One timer does it
 *   for every channel.
 * - Presence events have no id, are not kept and never replayed; they are
 *   notices (like keep-alives) and do not count as events in the stream's
 *   totals, so a replay's duplicate filter never sees them.
 * - Subscribers of every channel (an empty channel list) are neither told
 *   nor counted: a count per channel means nothing to them.
 * - With several instances, `exchange` (the broker's) shares this
 *   instance's counts and brings the others'; it runs on the same timer,
 *   so a change elsewhere is told here within about two intervals.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import { encodeEvent } from "./sse_format.ts";
import type { Subscriber } from "./subscriber.ts";

const logger = getLogger(["sse-server", "presence"]);

/** The event type of presence events. */
export const PRESENCE_EVENT = "sse-presence";

/** Settings of a {@linkcode Presence}. */
export interface PresenceOptions {
  /**
   * Whether subscribers are told (`--presence`); when false only the
   * counts are kept and exchanged (for the admin's channel list).
   */
  readonly events: boolean;
  /** Shares this instance's counts and resolves with the others'. */
  readonly exchange?: (
    local: ReadonlyMap<string, number>,
  ) => Promise<ReadonlyMap<string, number>>;
  /** Time between two updates of a channel (default 1000 ms). */
  readonly intervalMs?: number;
  /**
   * How long the others' counts are trusted without a new exchange
   * (default 3000 ms): past it, while Redis cannot be reached, only this
   * instance's subscribers are counted rather than stale ones.
   */
  readonly staleMs?: number;
}

/** The `sse-presence` event telling that `channel` has `count` subscribers. */
export function presenceEvent(channel: string, count: number): Uint8Array {
  return encodeEvent({
    type: PRESENCE_EVENT,
    data: JSON.stringify({ channel, subscribers: count }),
  });
}

/**
 * Counts the subscribers of each channel (fed by the hub's membership
 * hook, {@linkcode Presence.onMembership}) and tells them. Owns one timer;
 * {@linkcode Presence.close} stops it.
 */
export class Presence implements Disposable {
  readonly #options: PresenceOptions;
  readonly #members = new Map<string, Set<Subscriber>>();
  /** The other instances' counts, as last exchanged. */
  #others: ReadonlyMap<string, number> = new Map();
  #othersAt = 0;
  /** The count last told to a channel's subscribers. */
  readonly #told = new Map<string, number>();
  /** Subscribers that joined since the last update, with what they were told. */
  #greeted = new Map<string, Map<Subscriber, number>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #failing = false;

  constructor(options: PresenceOptions) {
    this.#options = options;
    this.#schedule();
  }

  /** For the hub's `onMembership`: a subscriber joined or left. */
  readonly onMembership = (subscriber: Subscriber, joined: boolean): void => {
    if (this.#closed) return;
    for (const channel of subscriber.channels) {
      let set = this.#members.get(channel);
      if (joined) {
        if (!set) this.#members.set(channel, set = new Set());
        set.add(subscriber);
        if (this.#options.events) this.#greet(subscriber, channel);
      } else if (set) {
        set.delete(subscriber);
        this.#greeted.get(channel)?.delete(subscriber);
        if (set.size === 0) {
          this.#members.delete(channel);
          this.#told.delete(channel);
          this.#greeted.delete(channel);
        }
      }
    }
  };

  /** Subscribers of `channel` on every instance, as known now. */
  count(channel: string): number {
    return (this.#members.get(channel)?.size ?? 0) + this.others(channel);
  }

  /** Subscribers of `channel` on the other instances, as last exchanged. */
  others(channel: string): number {
    return this.#othersNow().get(channel) ?? 0;
  }

  /** Channels the other instances have subscribers of, with their counts. */
  otherCounts(): ReadonlyMap<string, number> {
    return this.#othersNow();
  }

  /** Stops the timer; nothing is told any more. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #othersNow(): ReadonlyMap<string, number> {
    const staleMs = this.#options.staleMs ?? 3000;
    if (this.#others.size > 0 && Date.now() - this.#othersAt > staleMs) {
      this.#others = new Map();
    }
    return this.#others;
  }

  /** Tells a new subscriber how many `channel` has, itself included. */
  #greet(subscriber: Subscriber, channel: string): void {
    const count = this.count(channel);
    subscriber.enqueue(presenceEvent(channel, count), 0, Date.now());
    let greeted = this.#greeted.get(channel);
    if (!greeted) this.#greeted.set(channel, greeted = new Map());
    greeted.set(subscriber, count);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(
      () =>
        this.#update().catch((error) => {
          logger.error("presence: update failed: {error}", {
            error: errorMessage(error),
          });
          this.#schedule();
        }),
      this.#options.intervalMs ?? 1000,
    );
  }

  /** Exchanges counts (with several instances), then tells what changed. */
  async #update(): Promise<void> {
    if (this.#options.exchange) {
      const local = new Map<string, number>();
      for (const [channel, set] of this.#members) local.set(channel, set.size);
      try {
        const others = await this.#options.exchange(local);
        this.#others = others;
        this.#othersAt = Date.now();
        if (this.#failing) logger.info("presence: counts exchanged again");
        this.#failing = false;
      } catch (error) {
        if (!this.#failing) {
          logger.warn("presence: counts not exchanged: {error}", {
            error: errorMessage(error),
          });
        }
        this.#failing = true;
      }
    }
    if (this.#closed) return;
    if (this.#options.events) this.#tell();
    this.#schedule();
  }

  /** Sends each channel's count to those of its subscribers not told it. */
  #tell(): void {
    const now = Date.now();
    const greetedAll = this.#greeted;
    this.#greeted = new Map();
    for (const [channel, set] of this.#members) {
      const count = this.count(channel);
      const greeted = greetedAll.get(channel);
      const told = this.#told.get(channel);
      this.#told.set(channel, count);
      if (count === told) {
        // Only those greeted with another count since need it.
        for (const [subscriber, was] of greeted ?? []) {
          if (was !== count && subscriber.open) {
            subscriber.enqueue(presenceEvent(channel, count), 0, now);
          }
        }
        continue;
      }
      const bytes = presenceEvent(channel, count);
      for (const subscriber of set) {
        if (greeted?.get(subscriber) === count) continue;
        subscriber.enqueue(bytes, 0, now);
      }
    }
  }
}
