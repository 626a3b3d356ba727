/**
 * The hub: channels, subscribers and the fan-out of events.
 *
 * How one event flows:
 * 1. An input (HTTP query, control-port line, FIFO line) has been parsed and
 *    validated into events and the channels they go to; it calls
 *    {@linkcode Hub.publish}.
 * 2. `publish` encodes the events once into one byte chunk
 *    (`sse_format.ts`); nothing is encoded per subscriber.
 * 3. The targets are the subscribers of every listed channel plus those
 *    subscribed to all channels. Cost is proportional to those subscribers,
 *    not to every client. A per-publish mark on each subscriber makes a
 *    client on several listed channels receive the chunk once.
 * 4. Each target's {@linkcode Subscriber.enqueue} appends the same chunk (no
 *    copy) to its queue.
 * 5. The transport pulls with `Subscriber.next()` when its socket can take
 *    more, and writes everything queued as one chunk.
 *
 * Bounds: each subscriber queues at most `maxQueuedBytes`; one more event and
 * it is dropped as a slow consumer (logged), so a client that stops reading
 * neither stalls the others nor grows memory. Input lines are bounded by the
 * inputs themselves. One timer serves the keep-alives of every subscriber.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { concatBytes } from "./bytes.ts";
import { History, type HistoryOptions, NO_CHANNEL } from "./history.ts";
import {
  encodeEvent,
  encodeRetry,
  KEEP_ALIVE,
  type SseEvent,
} from "./sse_format.ts";
import { type CloseReason, Subscriber } from "./subscriber.ts";

/** Settings of a {@linkcode Hub}. */
export interface HubOptions {
  /** Most bytes queued for one subscriber before it is dropped. */
  readonly maxQueuedBytes: number;
  /** Silence after which a subscriber gets a keep-alive comment. */
  readonly keepAliveMs: number;
  /** What to keep for replay; by default nothing (and no ids are made). */
  readonly history?: HistoryOptions;
}

/** What a publish achieved. */
export interface PublishResult {
  /** Events published. */
  readonly events: number;
  /** Subscribers that received them. */
  readonly clients: number;
  /** The id of each event, where it has one. */
  readonly ids: readonly (string | undefined)[];
}

/** How a new stream starts. */
export interface SubscribeOptions {
  /** The last event the client saw: it is first sent what it missed since. */
  readonly lastEventId?: string;
  /** Reconnection delay to announce with a `retry:` field. */
  readonly retryMs?: number;
}

/**
 * The event type that tells a reconnecting client that events it missed are
 * no longer kept (or its last id is unknown); its data is JSON:
 * `{"lastEventId": "...", "reason": "expired" | "unknown id"}`.
 */
export const GAP_EVENT = "sse-gap";

const logger = getLogger(["sse-server", "hub"]);

/**
 * Owns every channel and subscriber. Create one per server; `close()` ends
 * every stream and stops the keep-alive timer.
 *
 * @example
 * ```ts
 * using hub = new Hub({ maxQueuedBytes: 1 << 20, keepAliveMs: 15_000 });
 * const sub = hub.subscribe(["news"], "127.0.0.1:5000");
 * hub.publish(["news"], [{ type: "message", data: "hello" }]);
 * await sub.next(); // bytes of "data: hello\n\n"
 * ```
 */
export class Hub implements Disposable {
  #options: HubOptions;
  #byChannel = new Map<string, Set<Subscriber>>();
  #allChannels = new Set<Subscriber>();
  #subscribers = new Set<Subscriber>();
  #nextSubscriberId = 1;
  #mark = 0;
  #keepAliveTimer: ReturnType<typeof setInterval>;
  #nextSweep = 0;
  #closed = false;
  readonly history: History;

  constructor(options: HubOptions) {
    this.#options = options;
    this.history = new History(
      options.history ?? { maxPerChannel: 0, maxAgeMs: 0 },
    );
    // One timer for all keep-alives; its period bounds how late one can be.
    const tick = Math.max(10, Math.min(1000, options.keepAliveMs / 4));
    this.#keepAliveTimer = setInterval(() => this.#tick(), tick);
  }

  /** Number of open streams. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** The open streams, in connection order. */
  subscribers(): IterableIterator<Subscriber> {
    return this.#subscribers.values();
  }

  /**
   * Opens a stream for a client on `channels` (empty: every channel). The
   * subscriber leaves the hub by itself when it closes.
   */
  subscribe(
    channels: readonly string[],
    remoteAddr: string,
    options: SubscribeOptions = {},
  ): Subscriber {
    if (this.#closed) throw new Error("the hub is closed");
    const unique = [...new Set(channels)];
    // What the stream starts with. Collected and queued in the same
    // synchronous step as the registration below, so no event can fall
    // between the replay and the live events, or come twice.
    const start: Uint8Array[] = [];
    if (options.retryMs !== undefined) start.push(encodeRetry(options.retryMs));
    const firstEvent = start.length;
    if (options.lastEventId !== undefined && this.history.enabled) {
      const replay = this.history.replay(unique, options.lastEventId);
      if (replay.gap) {
        start.push(encodeEvent({
          type: GAP_EVENT,
          data: JSON.stringify({
            lastEventId: options.lastEventId,
            reason: replay.gap,
          }),
        }));
      }
      for (const entry of replay.entries) start.push(entry.bytes);
    }
    let startBytes = 0;
    for (const bytes of start) startBytes += bytes.length;
    const subscriber = new Subscriber(
      this.#nextSubscriberId++,
      remoteAddr,
      unique,
      // The replay comes on top of the limit: it is bounded by the history.
      this.#options.maxQueuedBytes + startBytes,
      (sub, reason) => this.#remove(sub, reason),
    );
    const now = Date.now();
    start.forEach((bytes, i) =>
      subscriber.enqueue(bytes, i < firstEvent ? 0 : 1, now)
    );
    this.#subscribers.add(subscriber);
    if (unique.length === 0) {
      this.#allChannels.add(subscriber);
    } else {
      for (const channel of unique) {
        let set = this.#byChannel.get(channel);
        if (!set) this.#byChannel.set(channel, set = new Set());
        set.add(subscriber);
      }
    }
    logger.info(
      "client {id} connected from {addr}, channels: {channels}",
      { id: subscriber.id, addr: remoteAddr, channels: describe(unique) },
    );
    return subscriber;
  }

  /**
   * Sends `events` to every subscriber of any of `channels` and to those of
   * all channels, once each. With no channels, only subscribers of all
   * channels receive them.
   */
  publish(
    channels: readonly string[],
    events: readonly SseEvent[],
  ): PublishResult {
    if (events.length === 0 || this.#closed) {
      return { events: 0, clients: 0, ids: [] };
    }
    const now = Date.now();
    const history = this.history;
    const ids: (string | undefined)[] = [];
    const encoded: Uint8Array[] = [];
    // Each channel keeps the event once, however often the request named it.
    const kept = channels.length === 0
      ? [NO_CHANNEL]
      : channels.length === 1
      ? channels
      : [...new Set(channels)];
    for (const event of events) {
      const seq = history.nextSeq();
      const id = event.id ?? (history.enabled ? history.idFor(seq) : undefined);
      const bytes = encodeEvent(id === event.id ? event : { ...event, id });
      if (id !== undefined) history.record(kept, { seq, id, bytes, time: now });
      ids.push(id);
      encoded.push(bytes);
    }
    const bytes = encoded.length === 1 ? encoded[0] : concatBytes(encoded);
    const mark = ++this.#mark;
    const count = events.length;
    let clients = 0;
    for (const sub of this.#allChannels) {
      sub.mark = mark;
      if (sub.enqueue(bytes, count, now)) clients++;
    }
    for (const channel of channels) {
      const set = this.#byChannel.get(channel);
      if (!set) continue;
      for (const sub of set) {
        if (sub.mark === mark) continue;
        sub.mark = mark;
        if (sub.enqueue(bytes, count, now)) clients++;
      }
    }
    return { events: count, clients, ids };
  }

  /** Ends every stream (queued events are still written) and stops the timer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAliveTimer);
    for (const sub of [...this.#subscribers]) sub.close("server halting");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #tick(): void {
    const now = Date.now();
    const due = now - this.#options.keepAliveMs;
    for (const sub of this.#subscribers) {
      if (sub.lastActivity <= due) sub.enqueue(KEEP_ALIVE, 0, now);
    }
    // Quiet channels' history ages out here, every ten seconds at most.
    if (now >= this.#nextSweep) {
      this.#nextSweep = now + 10_000;
      this.history.expire(now);
    }
  }

  #remove(sub: Subscriber, reason: CloseReason): void {
    if (!this.#subscribers.delete(sub)) return;
    if (sub.channels.length === 0) {
      this.#allChannels.delete(sub);
    } else {
      for (const channel of sub.channels) {
        const set = this.#byChannel.get(channel);
        if (!set) continue;
        set.delete(sub);
        if (set.size === 0) this.#byChannel.delete(channel);
      }
    }
    const fields = {
      id: sub.id,
      addr: sub.remoteAddr,
      reason,
      events: sub.eventsQueued,
      bytes: sub.bytesQueued,
    };
    if (reason === "slow consumer") {
      logger.warn(
        "client {id} at {addr} dropped: slow consumer, more than {limit} bytes queued",
        { ...fields, limit: this.#options.maxQueuedBytes },
      );
    } else {
      logger.info(
        "client {id} at {addr} closed ({reason}) after {events} events",
        fields,
      );
    }
  }
}

/** Channel list for logs: names joined by commas, or `(all)`. */
export function describe(channels: readonly string[]): string {
  return channels.length === 0 ? "(all)" : channels.join(",");
}
