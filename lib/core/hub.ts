/**
 * The hub: channels, subscribers and the fan-out of events.
 *
 * How one event flows:
 * 1. An input (HTTP query or POST, control-port line, FIFO line) has been
 *    parsed and validated into events and the channels they go to. It waits
 *    while the backlog is over its limit (see below), then calls
 *    {@linkcode Hub.publish}.
 * 2. `publish` encodes the events once into one byte array
 *    (`sse_format.ts`); nothing is encoded per subscriber.
 * 3. The bytes are appended to the hub's current {@linkcode SharedChunk}:
 *    consecutive publishes to the same channels share one chunk until a
 *    reader takes it, a subscriber joins, or it reaches 64 KiB.
 * 4. The targets are the subscribers of every listed channel plus those
 *    subscribed to all channels. Cost is proportional to those subscribers,
 *    not to every client. A per-publish mark on each subscriber makes a
 *    client on several listed channels receive the event once.
 * 5. Each target's {@linkcode Subscriber.enqueueShared} counts the bytes and
 *    queues the chunk (one queue entry for the whole burst; no copy).
 * 6. A subscriber whose reader waits is not woken at once: one zero-delay
 *    timer wakes all of them after the current burst of publishes, so a
 *    burst (many lines in one read of the control port) reaches each socket
 *    as one write instead of one wake-up per event per subscriber. After a
 *    burst of several publishes (publishers are waiting on this thread) the
 *    timer wakes `WAKE_SLICE` readers per turn, so that input is read
 *    between slices and its events join the later readers' writes.
 * 7. The transport pulls with `Subscriber.take()` (or `next()`) when its
 *    socket took the previous write. The first reader of a chunk joins its
 *    parts once; every subscriber writes the same joined bytes (readers
 *    holding the same run of chunks share one join of the run).
 *
 * Bounds: a subscriber past `maxQueuedBytes` must keep reading (see
 * `Subscriber.dropIfBehind`); all of them together owe at most about
 * `maxBacklogBytes` before publishers wait (`backlog.ts`). Input lines
 * are bounded by the inputs themselves. One timer serves the keep-alives,
 * token expiries and stall checks of every subscriber.
 *
 * @module
 */

import { AUTH_EXPIRED } from "./notices.ts";
import { getLogger } from "@logtape/logtape";
import { Backlog } from "./backlog.ts";
import { concatBytes, WRITE_MAX } from "./bytes.ts";
import { History, type HistoryOptions, NO_CHANNEL } from "./history.ts";
import { encodeEvent, KEEP_ALIVE, type SseEvent } from "./sse_format.ts";
import { SharedChunk } from "./shared_chunk.ts";
import { streamStart } from "./stream_start.ts";
import {
  type CloseReason,
  Subscriber,
  type TrafficTotals,
} from "./subscriber.ts";

/** Settings of a {@linkcode Hub}. */
export interface HubOptions {
  /** Most bytes queued for one subscriber before it is dropped. */
  readonly maxQueuedBytes: number;
  /**
   * Bytes owed to all subscribers together past which publishers wait
   * (see `backlog.ts`); 0 or absent: no limit.
   */
  readonly maxBacklogBytes?: number;
  /** Silence after which a subscriber gets a keep-alive comment. */
  readonly keepAliveMs: number;
  /** What to keep for replay; by default nothing (and no ids are made). */
  readonly history?: HistoryOptions;
  /** What logs call a subscriber (default "client"). */
  readonly label?: string;
  /** Told of every subscriber that joins (true) or leaves (false): presence. */
  readonly onMembership?: (subscriber: Subscriber, joined: boolean) => void;
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
  /** The client's address without port, for per-address counts. */
  readonly address?: string;
  /** End the stream at this time (ms since epoch), when its token expires. */
  readonly expiresAt?: number;
  /** Who the client is (the JWT `sub` or the auth URL's `user`), if known. */
  readonly user?: string;
  /**
   * Hold live events back until `Subscriber.release()`: the caller fetches a
   * replay from elsewhere (Redis) after the subscriber joined the fan-out.
   */
  readonly hold?: boolean;
}

/** Totals since the hub started. */
export interface HubStats extends TrafficTotals {
  /** Events handed to subscribers (one event to one subscriber is one). */
  deliveries: number;
  /** Subscribers dropped for not reading. */
  slowConsumers: number;
}

const logger = getLogger(["sse-server", "hub"]);

/**
 * Readers woken per turn while publishers wait (see `Hub#wakeReaders`):
 * about 2.5 ms of small socket writes here. Smaller slices let more input
 * join each write (fan-out by POST to 1,000 subscribers: 0.7M deliveries/s
 * unsliced, 1.9M at 250, 3.1M at 100), but each slice ends with a
 * zero-delay timer (about 2 ms), which a round of 10,000 readers pays once
 * per slice.
 */
export const WAKE_SLICE = 250;

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
  /** Open streams per client address. */
  #byAddress = new Map<string, number>();
  /** Subscribers whose token expires, checked by the timer. */
  #expiring = new Set<Subscriber>();
  /** Address of each subscriber counted in #byAddress. */
  #addressOf = new WeakMap<Subscriber, string>();
  #nextSubscriberId = 1;
  #mark = 0;
  #keepAliveTimer: ReturnType<typeof setInterval>;
  /** Subscribers with new bytes whose readers wait, woken by one timer. */
  #toWake: Subscriber[] = [];
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Publishes since the wake timer last fired. */
  #publishesSinceWake = 0;
  readonly #scheduleWake = (subscriber: Subscriber): void => {
    this.#toWake.push(subscriber);
    this.#wakeTimer ??= setTimeout(this.#onWakeTimer, 0);
  };
  readonly #onWakeTimer = (): void => this.#wakeReaders(false);
  /** Where publishes go until a reader takes it or the channels change. */
  #chunk: SharedChunk | null = null;
  readonly #backlog: Backlog;
  #nextSweep = 0;
  #closed = false;
  readonly history: History;
  /** Running totals, for metrics. */
  readonly stats: HubStats = {
    bytesSent: 0,
    deliveries: 0,
    slowConsumers: 0,
  };

  constructor(options: HubOptions) {
    this.#options = options;
    this.#backlog = new Backlog(options.maxBacklogBytes);
    this.history = new History(
      options.history ?? { maxPerChannel: 0, maxAgeMs: 0 },
    );
    // One timer for all keep-alives; its period bounds how late one can be.
    const tick = Math.max(10, Math.min(1000, options.keepAliveMs / 4));
    this.#keepAliveTimer = setInterval(() => this.#tick(), tick);
  }

  /**
   * `undefined` when a publisher may publish now; otherwise a promise that
   * settles when the subscribers have caught up enough (see `backlog.ts`).
   */
  ready(): Promise<void> | undefined {
    return this.#backlog.ready();
  }

  /** Bytes owed to subscribers that read, and times publishers waited. */
  get backlog(): { bytes: number; pushbacks: number } {
    return { bytes: this.#backlog.bytes, pushbacks: this.#backlog.pushbacks };
  }

  /** Number of open streams. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** Channels with their number of subscribers (all-channel ones not counted). */
  *channelSizes(): IterableIterator<[string, number]> {
    for (const [channel, set] of this.#byChannel) yield [channel, set.size];
  }

  /** How many subscribers an event on `channels` would reach now. */
  countSubscribers(channels: readonly string[]): number {
    const mark = ++this.#mark;
    let count = 0;
    for (const sub of this.#allChannels) {
      sub.mark = mark;
      count++;
    }
    for (const channel of channels) {
      for (const sub of this.#byChannel.get(channel) ?? []) {
        if (sub.mark === mark) continue;
        sub.mark = mark;
        count++;
      }
    }
    return count;
  }

  /** Open streams from the client address `address` (without port). */
  clientsFrom(address: string): number {
    return this.#byAddress.get(address) ?? 0;
  }

  /** Number of channels with at least one subscriber. */
  get channelCount(): number {
    return this.#byChannel.size;
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
    const start = streamStart(this.history, unique, options);
    let startBytes = 0;
    for (const item of start) startBytes += item.bytes.length;
    // A shared chunk must not reach the new subscriber from its middle.
    this.#chunk?.seal();
    const subscriber = new Subscriber(
      this.#nextSubscriberId++,
      remoteAddr,
      unique,
      {
        // The replay comes on top of the limit: it is bounded by the history.
        maxQueuedBytes: this.#options.maxQueuedBytes + startBytes,
        // Past the limit a reading client pushes back on publishers, who
        // wait once the backlog is full: so far it may go, and no further.
        hardMaxQueuedBytes: this.#options.maxQueuedBytes + startBytes +
          (this.#options.maxBacklogBytes ?? 0) + WRITE_MAX,
        onClose: (sub, reason) => this.#remove(sub, reason),
        totals: this.stats,
        backlog: this.#backlog,
        schedule: this.#scheduleWake,
      },
    );
    const now = Date.now();
    for (const { bytes, events, id } of start) {
      subscriber.enqueue(bytes, events, now, id);
    }
    if (options.hold) subscriber.hold();
    subscriber.user = options.user;
    if (options.address !== undefined) {
      this.#addressOf.set(subscriber, options.address);
      this.#byAddress.set(
        options.address,
        this.clientsFrom(options.address) + 1,
      );
    }
    if (options.expiresAt !== undefined) {
      subscriber.expiresAt = options.expiresAt;
      this.#expiring.add(subscriber);
    }
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
    this.#options.onMembership?.(subscriber, true);
    logger.info(
      "{label} {id} connected from {addr}, channels: {channels}",
      {
        label: this.#options.label ?? "client",
        id: subscriber.id,
        addr: remoteAddr,
        channels: describe(unique),
      },
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
    this.#publishesSinceWake++;
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
    const key = kept.length === 1 ? kept[0] : kept.join("\n");
    let chunk = this.#chunk;
    if (
      chunk === null || chunk.sealed || chunk.key !== key ||
      chunk.length + bytes.length > WRITE_MAX
    ) {
      chunk?.seal();
      chunk = this.#chunk = new SharedChunk(key);
    }
    const part = chunk.append(bytes);
    const mark = ++this.#mark;
    const count = events.length;
    const lastId = ids[ids.length - 1];
    let clients = 0;
    for (const sub of this.#allChannels) {
      sub.mark = mark;
      if (sub.enqueueShared(chunk, part, count, now, lastId)) clients++;
    }
    for (const channel of channels) {
      const set = this.#byChannel.get(channel);
      if (!set) continue;
      for (const sub of set) {
        if (sub.mark === mark) continue;
        sub.mark = mark;
        if (sub.enqueueShared(chunk, part, count, now, lastId)) clients++;
      }
    }
    this.stats.deliveries += clients * count;
    return { events: count, clients, ids };
  }

  /** Ends every stream (queued events are still written) and stops the timer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAliveTimer);
    clearTimeout(this.#wakeTimer);
    this.#wakeReaders(true);
    this.#backlog.release();
    for (const sub of [...this.#subscribers]) sub.close("server halting");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Wakes the waiting readers that have new bytes: all of them when `all`
   * or when one publish came since the last time (a low rate: one turn
   * reaches every socket soonest). When several came, publishers are
   * waiting on this thread: then `WAKE_SLICE` readers per turn, and the
   * rest after a zero-delay timer, so that input is read between slices and
   * its events join the writes of the readers not woken yet.
   */
  #wakeReaders(all: boolean): void {
    this.#wakeTimer = undefined;
    const list = this.#toWake;
    const sliced = !all && this.#publishesSinceWake > 1 &&
      list.length > WAKE_SLICE;
    this.#publishesSinceWake = 0;
    if (sliced) {
      this.#toWake = list.slice(WAKE_SLICE);
      this.#wakeTimer = setTimeout(this.#onWakeTimer, 0);
      list.length = WAKE_SLICE;
    } else {
      this.#toWake = [];
    }
    for (const subscriber of list) subscriber.wake();
  }

  #tick(): void {
    const now = Date.now();
    const due = now - this.#options.keepAliveMs;
    for (const sub of this.#subscribers) {
      if (sub.lastActivity <= due) sub.enqueue(KEEP_ALIVE, 0, now);
      if (sub.dropIfBehind(now)) continue;
      if (sub.isStalled(now)) sub.stall();
    }
    for (const sub of this.#expiring) {
      if (sub.expiresAt! > now) continue;
      sub.enqueue(AUTH_EXPIRED, 1, now);
      sub.close("token expired");
    }
    // Quiet channels' history ages out here, every ten seconds at most.
    if (now >= this.#nextSweep) {
      this.#nextSweep = now + 10_000;
      this.history.expire(now);
    }
  }

  #remove(sub: Subscriber, reason: CloseReason): void {
    if (!this.#subscribers.delete(sub)) return;
    this.#expiring.delete(sub);
    const address = this.#addressOf.get(sub);
    if (address !== undefined) {
      const left = this.clientsFrom(address) - 1;
      if (left > 0) this.#byAddress.set(address, left);
      else this.#byAddress.delete(address);
    }
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
    this.#options.onMembership?.(sub, false);
    const fields = {
      label: this.#options.label ?? "client",
      id: sub.id,
      addr: sub.remoteAddr,
      reason,
      events: sub.eventsQueued,
      bytes: sub.bytesQueued,
    };
    if (reason === "slow consumer") {
      this.stats.slowConsumers++;
      logger.warn(
        "{label} {id} at {addr} dropped: slow consumer, {why}",
        { ...fields, why: sub.slowReason ?? "too far behind" },
      );
    } else {
      logger.info(
        "{label} {id} at {addr} closed ({reason}) after {events} events",
        fields,
      );
    }
  }
}

/** Channel list for logs: names joined by commas, or `(all)`. */
export function describe(channels: readonly string[]): string {
  return channels.length === 0 ? "(all)" : channels.join(",");
}
