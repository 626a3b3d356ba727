/**
 * A subscriber: one open event stream and its bounded outgoing queue.
 *
 * The hub appends already-encoded bytes with {@linkcode Subscriber.enqueue};
 * the transport (an HTTP response body) drains them with
 * {@linkcode Subscriber.next}, which hands over everything queued since the
 * last call as one chunk, so a burst of events costs one write.
 *
 * @module
 */

import { concatBytes } from "./bytes.ts";

/** The subscriber behind each stream made by `Subscriber.readable()`. */
const owners = new WeakMap<ReadableStream<Uint8Array>, Subscriber>();

/**
 * The subscriber whose bytes `body` carries, if it is a subscriber's stream:
 * lets a transport write the subscriber's chunks itself.
 */
export function subscriberOf(
  body: ReadableStream<Uint8Array> | null,
): Subscriber | undefined {
  return body === null ? undefined : owners.get(body);
}

/** Why a subscriber's stream ended. */
export type CloseReason =
  | "client disconnected"
  | "slow consumer"
  | "server halting"
  | "token expired";

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

/**
 * One client's stream. Owned by the hub; the transport only reads from it and
 * reports a disconnect with {@linkcode Subscriber.close}.
 */
export class Subscriber {
  readonly id: number;
  readonly remoteAddr: string;
  readonly channels: readonly string[];
  readonly connectedAt: Date = new Date();
  /** Hub-private mark used to deliver an event once to a multi-channel subscriber. */
  mark = 0;
  /** Time (ms since epoch) of the last enqueue, for keep-alives. */
  lastActivity: number = Date.now();
  eventsQueued = 0;
  bytesQueued = 0;
  bytesSent = 0;
  lastEventId: string | undefined;
  /** When the subscriber's credential runs out (ms since epoch), if ever. */
  expiresAt: number | undefined;

  #queue: Uint8Array[] = [];
  /** Live events held back while a replay is fetched; see hold(). */
  #held: { bytes: Uint8Array; events: number; id?: string }[] | null = null;
  #heldBytes = 0;
  /** After a release: drops live events the replay already held; see release(). */
  #seen: ((id: string | undefined) => boolean) | null = null;
  #queuedBytes = 0;
  #maxQueuedBytes: number;
  #wake: (() => void) | null = null;
  #state: "open" | "ending" | "closed" = "open";
  #closeReason: CloseReason | null = null;
  #onClose: CloseListener;
  #totals: TrafficTotals;
  #schedule: (subscriber: Subscriber) => void;
  #wakeScheduled = false;

  constructor(
    id: number,
    remoteAddr: string,
    channels: readonly string[],
    maxQueuedBytes: number,
    onClose: CloseListener,
    totals: TrafficTotals = { bytesSent: 0 },
    schedule: (subscriber: Subscriber) => void = (subscriber) =>
      subscriber.wake(),
  ) {
    this.id = id;
    this.remoteAddr = remoteAddr;
    this.channels = channels;
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#onClose = onClose;
    this.#totals = totals;
    this.#schedule = schedule;
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
    if (this.#state !== "open") return false;
    if (
      this.#queuedBytes + this.#heldBytes + bytes.length > this.#maxQueuedBytes
    ) {
      this.close("slow consumer");
      return false;
    }
    if (this.#seen && events > 0) {
      // Live events arrive in order: once one is new, all later ones are.
      if (!this.#seen(lastEventId)) return true;
      this.#seen = null;
    }
    if (this.#held) {
      this.#held.push({ bytes, events, id: lastEventId });
      this.#heldBytes += bytes.length;
      return true;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    this.bytesQueued += bytes.length;
    this.eventsQueued += events;
    if (lastEventId !== undefined) this.lastEventId = lastEventId;
    this.lastActivity = now;
    // The reader is woken later, once per burst, by whoever schedules it
    // (the hub: one timer for all), so a burst of events leaves as one write.
    if (this.#wake && !this.#wakeScheduled) {
      this.#wakeScheduled = true;
      this.#schedule(this);
    }
    return true;
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
    for (const item of replay) this.#maxQueuedBytes += item.bytes.length;
    for (const item of replay) this.enqueue(item.bytes, 1, now, item.id);
    // Held and later live events the replay already contains are dropped,
    // until the first new one: the local fan-out may lag behind Redis.
    this.#seen = (id) => keep(id);
    for (const item of held) {
      this.enqueue(item.bytes, item.events, now, item.id);
    }
  }

  /**
   * Waits for queued bytes and returns all of them as one chunk, or `null`
   * when the stream is over (after a graceful end, once the queue is drained).
   */
  async next(): Promise<Uint8Array | null> {
    while (this.#queue.length === 0) {
      if (this.#state !== "open") return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#state === "closed") return null;
    const queue = this.#queue;
    this.#queue = [];
    const sent = this.#queuedBytes;
    this.#queuedBytes = 0;
    this.bytesSent += sent;
    this.#totals.bytesSent += sent;
    return queue.length === 1 ? queue[0] : concatBytes(queue);
  }

  /**
   * Ends the stream. `server halting` lets the queue drain first; any other
   * reason drops it. Safe to call more than once: only the first call counts.
   */
  close(reason: CloseReason): void {
    if (this.#closeReason !== null) return;
    this.#closeReason = reason;
    // Ends that the server chooses let the queue (and its last words) drain.
    if (reason === "server halting" || reason === "token expired") {
      this.#state = "ending";
    } else {
      this.#state = "closed";
      this.#queue = [];
      this.#queuedBytes = 0;
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
    this.#state = "closed";
    this.#queue = [];
    this.#queuedBytes = 0;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * The stream of bytes for an HTTP response body. It pulls from the queue
   * only when the connection can take more, so a client that stops reading
   * makes the queue grow until the limit, never the server's buffers. An
   * subscriber that is dropped or aborted errors its body, which makes the server drop the
   * connection instead of waiting on a client that does not read.
   */
  readable(): ReadableStream<Uint8Array> {
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.next();
        if (chunk !== null) {
          controller.enqueue(chunk);
        } else if (this.#state === "ending") {
          controller.close();
        } else {
          controller.error(new Error(this.#closeReason ?? "closed"));
        }
      },
      cancel: () => this.close("client disconnected"),
    }, { highWaterMark: 0 });
    owners.set(stream, this);
    return stream;
  }
}
