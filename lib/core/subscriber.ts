/**
 * A subscriber: one open event stream and its bounded outgoing queue.
 *
 * The hub appends already-encoded bytes with {@linkcode Subscriber.enqueue};
 * the transport drains them with {@linkcode Subscriber.take} (and
 * `whenReadable` to be woken; `next` is the same as a promise), which hands
 * over everything queued since the last call as one chunk, so a burst of
 * events costs one write.
 *
 * @module
 */

import {
  Backlog,
  BACKLOG_SHARE_MAX,
  CATCH_UP_MS,
  STALL_MS,
} from "./backlog.ts";
import { SharedChunk, takeWrite } from "./shared_chunk.ts";

import type { CloseReason } from "./close_reason.ts";
export type { CloseReason };

/** Totals shared by every subscriber of a hub, for metrics. */
export interface TrafficTotals {
  /** Bytes handed to connections by all subscribers. */
  bytesSent: number;
}

/** Called once when a subscriber ends, whatever the reason. */
export type CloseListener = (
  subscriber: Subscriber,
  reason: CloseReason,
) => void;

/** What a subscriber shares with its hub. */
export interface SubscriberContext {
  /**
   * The limit of its queue: past it a subscriber that stops reading (for
   * `STALL_MS`) or stays past it for `CATCH_UP_MS` is dropped as a slow
   * consumer; one that reads goes on, and the bytes past it push back on
   * publishers.
   */
  readonly maxQueuedBytes: number;
  /**
   * Most bytes queued whatever the client does (default `maxQueuedBytes`):
   * past it the subscriber is dropped at once.
   */
  readonly hardMaxQueuedBytes?: number;
  /** Told once when the subscriber ends. */
  readonly onClose: CloseListener;
  /** Totals of every subscriber, for metrics. */
  readonly totals?: TrafficTotals;
  /** The hub's total backlog, which pushes back on publishers. */
  readonly backlog?: Backlog;
  /** Wakes the subscriber's reader later (by default at once). */
  readonly schedule?: (subscriber: Subscriber) => void;
}

/**
 * One client's stream. Owned by the hub; the transport only reads from it and
 * reports a disconnect with {@linkcode Subscriber.close}.
 */
export class Subscriber {
  readonly id: number;
  readonly remoteAddr: string;
  readonly channels: readonly string[];
  /** When it joined (ms since epoch): a number, as a `Date` per stream cost 96 bytes. */
  readonly connectedAt: number = Date.now();
  /** Hub-private mark used to deliver an event once to a multi-channel subscriber. */
  mark = 0;
  /** Time (ms since epoch) of the last enqueue, for keep-alives. */
  lastActivity: number = Date.now();
  /** Time (ms since epoch) the transport last came for bytes. */
  lastPull: number = Date.now();
  eventsQueued = 0;
  bytesQueued = 0;
  bytesSent = 0;
  lastEventId: string | undefined;
  /** When the subscriber's credential runs out (ms since epoch), if ever. */
  expiresAt: number | undefined;
  /** Who the client is (set once by the hub), if known. */
  user: string | undefined;

  /** Own arrays, and shared chunks it gets every part of (enqueueShared). */
  #queue: (Uint8Array | SharedChunk)[] = [];
  /** Live events held back while a replay is fetched; see hold(). */
  #held: { bytes: Uint8Array; events: number; id?: string }[] | null = null;
  #heldBytes = 0;
  /** After a release: drops live events the replay already held; see release(). */
  #seen: ((id: string | undefined) => boolean) | null = null;
  #queuedBytes = 0;
  /** Bytes handed to the transport by the last next(), until the next one. */
  #inFlight = 0;
  /** Whether queued and in-flight bytes count in the hub's backlog. */
  #counted = true;
  /** What this subscriber adds to the hub's backlog now; see #recount(). */
  #owed = 0;
  #maxQueuedBytes: number;
  #hardMaxQueuedBytes: number;
  /** Since when the queue is over `#maxQueuedBytes` (ms), null if not. */
  #overSince: number | null = null;
  /** Why it was dropped as a slow consumer, for the log. */
  slowReason: string | undefined;
  #wake: (() => void) | null = null;
  /** The transport's hook to cut its connection when the stream is dropped. */
  #cut: (() => void) | null = null;
  #state: "open" | "ending" | "closed" = "open";
  #closeReason: CloseReason | null = null;
  #onClose: CloseListener;
  #totals: TrafficTotals;
  #backlog: Backlog;
  #schedule: (subscriber: Subscriber) => void;
  #wakeScheduled = false;

  constructor(
    id: number,
    remoteAddr: string,
    channels: readonly string[],
    context: SubscriberContext,
  ) {
    this.id = id;
    this.remoteAddr = remoteAddr;
    this.channels = channels;
    this.#maxQueuedBytes = context.maxQueuedBytes;
    this.#hardMaxQueuedBytes = Math.max(
      context.hardMaxQueuedBytes ?? 0,
      context.maxQueuedBytes,
    );
    this.#onClose = context.onClose;
    this.#totals = context.totals ?? { bytesSent: 0 };
    this.#backlog = context.backlog ?? new Backlog();
    this.#schedule = context.schedule ?? ((subscriber) => subscriber.wake());
  }

  /** True until the stream ends or starts ending. */
  get open(): boolean {
    return this.#state === "open";
  }

  /** Bytes waiting to be written to the client. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Why the stream ended, once it has. */
  get closeReason(): CloseReason | null {
    return this.#closeReason;
  }

  /**
   * True when bytes wait and the transport has not come for any for
   * `STALL_MS`: the client is not reading.
   */
  isStalled(now: number): boolean {
    return this.#wake === null && this.#queuedBytes + this.#inFlight > 0 &&
      now - this.lastPull >= STALL_MS;
  }

  /**
   * Drops the subscriber when it is over its limit and either has stopped
   * reading (nothing taken for `STALL_MS`) or has stayed over it for
   * `CATCH_UP_MS`: judged by its progress, not by a momentary queue, so a
   * burst larger than the limit does not cut a client that reads. True when
   * dropped.
   */
  dropIfBehind(now: number): boolean {
    if (this.#overSince === null || this.#state !== "open") return false;
    const limit = this.#maxQueuedBytes;
    if (this.isStalled(now)) {
      this.slowReason = `took nothing for ${
        STALL_MS / 1000
      } s with more than ${limit} bytes queued`;
    } else if (now - this.#overSince >= CATCH_UP_MS) {
      this.slowReason = `more than ${limit} bytes queued for ${
        CATCH_UP_MS / 1000
      } s`;
    } else {
      return false;
    }
    this.close("slow consumer");
    return true;
  }

  /**
   * Stops counting this subscriber in the hub's backlog until its transport
   * comes for bytes again (see `Backlog`).
   */
  stall(): void {
    this.#counted = false;
    this.#recount();
  }

  /**
   * Queues encoded bytes holding `events` events (0 for a keep-alive), the
   * last with id `lastEventId`, for the client. Returns false when the subscriber is
   * gone or has just been dropped for having more than its limit queued.
   */
  enqueue(
    bytes: Uint8Array,
    events: number,
    now: number,
    lastEventId?: string,
  ): boolean {
    return this.#add(bytes, null, 0, events, now, lastEventId);
  }

  /**
   * Queues part `part` of a chunk shared with other subscribers. The chunk
   * itself is queued when this is its first part, so later parts cost no
   * queue entry and one join serves every subscriber; the hub guarantees
   * that a subscriber given part 0 is given every later part too (it starts
   * a new chunk for new subscribers, and `enqueue` seals a chunk at the tail).
   */
  enqueueShared(
    chunk: SharedChunk,
    part: number,
    events: number,
    now: number,
    lastEventId?: string,
  ): boolean {
    return this.#add(chunk.part(part), chunk, part, events, now, lastEventId);
  }

  /**
   * Queues `bytes`, which are part `part` of `chunk` when a chunk is given:
   * then the chunk itself when this is its first part, nothing more when it
   * is already at the tail of the queue.
   */
  #add(
    bytes: Uint8Array,
    chunk: SharedChunk | null,
    part: number,
    events: number,
    now: number,
    lastEventId?: string,
  ): boolean {
    if (!this.#admit(bytes.length, events, now, lastEventId)) {
      return this.#state === "open";
    }
    if (this.#held) {
      this.#hold(bytes, events, lastEventId);
      return true;
    }
    const last = this.#queue[this.#queue.length - 1];
    if (chunk === null || last !== chunk) {
      // A shared chunk at the tail must not grow past what this subscriber got.
      if (last instanceof SharedChunk) last.seal();
      this.#queue.push(chunk !== null && part === 0 ? chunk : bytes);
    }
    this.#queued(bytes.length, events, now, lastEventId);
    return true;
  }

  /**
   * Checks the limits (dropping the subscriber past them) and the replay
   * filter; true when the bytes are to be queued or held.
   */
  #admit(
    length: number,
    events: number,
    now: number,
    lastEventId?: string,
  ): boolean {
    if (this.#state !== "open") return false;
    const total = this.#queuedBytes + this.#heldBytes + length;
    if (total > this.#hardMaxQueuedBytes) {
      this.slowReason = `more than ${this.#hardMaxQueuedBytes} bytes queued`;
      this.close("slow consumer");
      return false;
    }
    if (total > this.#maxQueuedBytes) {
      this.#overSince ??= now;
      if (this.dropIfBehind(now)) return false;
    }
    if (this.#seen && events > 0) {
      // Live events arrive in order: once one is new, all later ones are.
      if (!this.#seen(lastEventId)) return false;
      this.#seen = null;
    }
    return true;
  }

  #hold(bytes: Uint8Array, events: number, id?: string): void {
    this.#held!.push({ bytes, events, id });
    this.#heldBytes += bytes.length;
  }

  #queued(
    length: number,
    events: number,
    now: number,
    lastEventId?: string,
  ): void {
    this.#queuedBytes += length;
    this.#recount();
    this.bytesQueued += length;
    this.eventsQueued += events;
    if (lastEventId !== undefined) this.lastEventId = lastEventId;
    this.lastActivity = now;
    // The reader is woken later, once per burst, by whoever schedules it
    // (the hub: one timer for all), so a burst of events leaves as one write.
    if (this.#wake && !this.#wakeScheduled) {
      this.#wakeScheduled = true;
      this.#schedule(this);
    }
  }

  /** Lets a waiting reader take what is queued; called by the scheduler. */
  wake(): void {
    this.#wakeScheduled = false;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * Holds live events back (still counted against the buffer limit) until
   * {@linkcode Subscriber.release}: for a replay fetched asynchronously after
   * the subscriber joined the fan-out, so that nothing published in between
   * is missed and the replay still comes first.
   */
  hold(): void {
    this.#held ??= [];
  }

  /**
   * Queues `replay` (allowed on top of the buffer limit, being bounded by
   * the history), then the held live events that `keep` accepts (those not
   * already in the replay), and stops holding. Live events keep being
   * checked with `keep` until one passes.
   */
  release(
    replay: readonly { bytes: Uint8Array; id?: string }[],
    keep: (id: string | undefined) => boolean,
    now: number,
  ): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#heldBytes = 0;
    for (const item of replay) {
      this.#maxQueuedBytes += item.bytes.length;
      this.#hardMaxQueuedBytes += item.bytes.length;
    }
    for (const item of replay) this.enqueue(item.bytes, 1, now, item.id);
    // Held and later live events the replay already contains are dropped,
    // until the first new one: the local fan-out may lag behind Redis.
    this.#seen = (id) => keep(id);
    for (const item of held) {
      this.enqueue(item.bytes, item.events, now, item.id);
    }
  }

  /**
   * Waits for queued bytes and returns them as one chunk (a lagging
   * subscriber's queue in pieces of about 64 KiB), or `null` when the stream
   * is over (after a graceful end, once the queue is drained). Calling it
   * again means the previous chunk was written.
   */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const chunk = this.take();
      if (chunk !== undefined) return chunk;
      await new Promise<void>((resolve) => this.whenReadable(resolve));
    }
  }

  /**
   * What {@linkcode Subscriber.next} returns, without waiting: `undefined`
   * when nothing is queued yet (then see `whenReadable`). For a transport
   * that writes from a callback, with no promise per write cycle.
   */
  take(): Uint8Array | null | undefined {
    this.lastPull = Date.now();
    // Coming back means the last chunk was written; a stalled client that
    // reads again counts again.
    this.#inFlight = 0;
    this.#counted = this.#state !== "closed";
    if (this.#state === "closed") return null;
    if (this.#queue.length === 0) {
      this.#recount();
      return this.#state === "open" ? undefined : null;
    }
    const chunk = takeWrite(this.#queue);
    this.#queuedBytes -= chunk.length;
    if (this.#queuedBytes + this.#heldBytes <= this.#maxQueuedBytes) {
      this.#overSince = null;
    }
    this.#inFlight = chunk.length;
    this.#recount();
    this.bytesSent += chunk.length;
    this.#totals.bytesSent += chunk.length;
    return chunk;
  }

  /**
   * Calls `callback` once when the stream is dropped rather than ended
   * (a slow consumer, a client gone, an abort): a transport cuts its
   * connection then instead of waiting for a pending write that a client
   * which does not read would never let finish.
   */
  onDrop(callback: () => void): void {
    if (this.#state === "closed") return callback();
    this.#cut = callback;
  }

  /**
   * Calls `callback` once, when bytes are queued (after the current burst)
   * or the stream ends; replaces an earlier callback not yet called.
   */
  whenReadable(callback: () => void): void {
    this.#wake = callback;
  }

  /**
   * Ends the stream. `server halting` lets the queue drain first; any other
   * reason drops it. Safe to call more than once: only the first call counts.
   */
  close(reason: CloseReason): void {
    if (this.#closeReason !== null) {
      // A graceful end whose client went away meanwhile: nothing to drain.
      if (this.#state === "ending" && reason === "client disconnected") {
        this.#drop();
      }
      return;
    }
    this.#closeReason = reason;
    // Ends that the server chooses let the queue (and its last words) drain.
    if (reason === "server halting" || reason === "token expired") {
      this.#state = "ending";
      const last = this.#queue[this.#queue.length - 1];
      if (last instanceof SharedChunk) last.seal();
    } else {
      this.#drop();
    }
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
    this.#onClose(this, reason);
  }

  /**
   * Ends the stream at once, dropping what is queued: for a graceful close
   * that did not finish in time.
   */
  abort(): void {
    this.close("server halting");
    this.#drop();
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Forgets the queue and what it owed to the backlog, for good. */
  #drop(): void {
    const cut = this.#cut;
    this.#cut = null;
    cut?.();
    this.#state = "closed";
    this.#counted = false;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#inFlight = 0;
    this.#recount();
  }

  /**
   * Brings what this subscriber adds to the hub's backlog up to date: what
   * it owes (queued and being written) up to `BACKLOG_SHARE_MAX`, plus all
   * it owes past its limit; nothing while stalled. The cap keeps a few
   * slow clients within their limit from holding every publisher back;
   * past the limit, a client that reads makes publishers wait for it (for
   * at most `CATCH_UP_MS`) rather than being dropped for a burst.
   */
  #recount(): void {
    const owes = this.#queuedBytes + this.#inFlight;
    const limit = this.#maxQueuedBytes;
    const owed = !this.#counted
      ? 0
      : owes <= limit
      ? Math.min(owes, BACKLOG_SHARE_MAX)
      : Math.min(limit, BACKLOG_SHARE_MAX) + owes - limit;
    if (owed !== this.#owed) {
      this.#backlog.change(owed - this.#owed);
      this.#owed = owed;
    }
  }

  /**
   * True once a graceful end (halt, token expiry) has drained the queue:
   * `take` returning null then means a clean end of the stream, not a drop.
   */
  get endedGracefully(): boolean {
    return this.#state === "ending";
  }
}
