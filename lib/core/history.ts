/**
 * Event history: the last events of each channel, kept so a client that
 * reconnects with `Last-Event-ID` can be sent what it missed.
 *
 * Each event has a sequence number, strictly increasing over the life of the
 * process, and an id: by default `<instance>-<sequence>` (the instance part
 * is the start time in base 36, so ids of an earlier run are recognised as
 * unknown instead of being confused with this run's), or the id a publisher
 * gave. The history lives in memory only: it does not survive a restart.
 *
 * Bounds: at most `maxPerChannel` events and `maxAgeMs` per channel, and at
 * most `maxBytes` in all: past it the oldest events go first, whatever their
 * channel, and a client that missed them is told so (a gap). An event
 * published to several channels is kept once, shared by them, and counts
 * once.
 *
 * @module
 */

/** One remembered event, encoded as it is sent. */
export interface HistoryEntry {
  readonly seq: number;
  readonly id: string;
  readonly bytes: Uint8Array;
  /** When it was published (ms since epoch). */
  readonly time: number;
}

/** What a reconnecting client is sent before live events. */
export interface Replay {
  /** Events after the client's last one, in publishing order, no duplicates. */
  readonly entries: HistoryEntry[];
  /** Set when events the client missed are no longer kept (or the id is unknown). */
  readonly gap?: "unknown id" | "expired";
}

/** Settings of a {@linkcode History}. */
export interface HistoryOptions {
  /** Events kept per channel; 0 keeps nothing. */
  readonly maxPerChannel: number;
  /** Oldest event kept, in milliseconds. */
  readonly maxAgeMs: number;
  /** Bytes of all events kept together; 0 or absent: no bound. */
  readonly maxBytes?: number;
}

/**
 * The last event id that asks for everything kept (Mercure's convention):
 * the whole history, oldest first, and no gap event for what is not kept.
 */
export const EARLIEST = "earliest";

/** The key under which events published to no channel are kept. */
export const NO_CHANNEL = "";

/** A bounded first-in first-out list of one channel's entries. */
class ChannelLog {
  entries: HistoryEntry[] = [];
  head = 0;
  /** Highest sequence number dropped from this channel, 0 if none. */
  droppedSeq = 0;
  /** When the last entry was dropped (ms since epoch). */
  droppedAt = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  push(entry: HistoryEntry): void {
    this.entries.push(entry);
  }

  /** Removes and returns the oldest entry, dropped at time `now`. */
  shift(now: number): HistoryEntry {
    const entry = this.entries[this.head++];
    this.droppedSeq = entry.seq;
    this.droppedAt = now;
    // Compact once the dead prefix is as long as the live part.
    if (this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  oldest(): HistoryEntry | undefined {
    return this.entries[this.head];
  }

  /** Entries with a sequence number above `seq`, oldest first. */
  *after(seq: number): Iterable<HistoryEntry> {
    // Binary search: entries are in sequence order.
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid].seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.entries.length; i++) yield this.entries[i];
  }
}

/**
 * The history of every channel, with an index from id to entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const history = new History({ maxPerChannel: 1000, maxAgeMs: 3_600_000 });
 * const bytes = new TextEncoder().encode("data: hello\n\n");
 * const first = history.nextSeq();
 * history.record(["news"], { seq: first, id: history.idFor(first), bytes, time: Date.now() });
 * const second = history.nextSeq();
 * history.record(["news"], { seq: second, id: history.idFor(second), bytes, time: Date.now() });
 * // A client that saw the first event is replayed the second.
 * const replay = history.replay(["news"], history.idFor(first));
 * assert.deepEqual(replay.entries.map((entry) => entry.seq), [second]);
 * ```
 */
export class History {
  readonly #options: HistoryOptions;
  readonly #channels = new Map<string, ChannelLog>();
  /** Id → entry, its channels and how many of them still hold it. */
  readonly #byId = new Map<
    string,
    { entry: HistoryEntry; channels: readonly string[]; refs: number }
  >();
  /**
   * Every entry in publishing order, for dropping the oldest first when
   * `maxBytes` is reached; entries gone for other reasons are skipped, and
   * compacted away once they are half the list.
   */
  #order: HistoryEntry[] = [];
  #orderHead = 0;
  #orderDead = 0;
  /** Bytes of the entries kept (each once). */
  #bytes = 0;
  readonly #instance = Date.now().toString(36);
  #seq = 0;
  /** Highest sequence number dropped from a channel log since deleted. */
  #forgottenSeq = 0;

  constructor(options: HistoryOptions) {
    this.#options = options;
  }

  /** False when `--history 0`: nothing is kept and no ids are generated. */
  get enabled(): boolean {
    return this.#options.maxPerChannel > 0;
  }

  /** Events kept, over all channels (an event on two channels counts once). */
  get size(): number {
    return this.#byId.size;
  }

  /** Bytes of the events kept (an event on two channels counts once). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The next sequence number. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** The id this server gives the event with sequence number `seq`. */
  idFor(seq: number): string {
    return `${this.#instance}-${seq}`;
  }

  /** Remembers an entry on each of `channels` ({@linkcode NO_CHANNEL} for none). */
  record(channels: readonly string[], entry: HistoryEntry): void {
    if (!this.enabled) return;
    const oldest = entry.time - this.#options.maxAgeMs;
    for (const channel of channels) {
      let log = this.#channels.get(channel);
      if (!log) {
        this.#channels.set(channel, log = new ChannelLog());
        // This channel may have been forgotten with events a client missed.
        log.droppedSeq = this.#forgottenSeq;
      }
      log.push(entry);
      if (log.size > this.#options.maxPerChannel) this.#drop(log, entry.time);
      this.#dropOlder(log, oldest, entry.time);
    }
    const replaced = this.#byId.get(entry.id);
    if (replaced) this.#forget(replaced.entry);
    this.#byId.set(entry.id, { entry, channels, refs: channels.length });
    this.#bytes += entry.bytes.length;
    this.#order.push(entry);
    const maxBytes = this.#options.maxBytes ?? 0;
    while (maxBytes > 0 && this.#bytes > maxBytes) {
      if (!this.#dropOldest(entry.time)) break;
    }
  }

  /**
   * Drops entries older than the age limit as of `now`, in every channel,
   * and forgets channels that have kept nothing for as long. Publishing
   * prunes the channels it touches; this sweep is for the quiet ones.
   */
  expire(now: number): void {
    const oldest = now - this.#options.maxAgeMs;
    for (const [channel, log] of this.#channels) {
      this.#dropOlder(log, oldest, now);
      if (log.size === 0 && log.droppedAt < oldest) {
        this.#forgottenSeq = Math.max(this.#forgottenSeq, log.droppedSeq);
        this.#channels.delete(channel);
      }
    }
  }

  /**
   * Each channel that keeps events (not {@linkcode NO_CHANNEL}): how many
   * and the newest id, for the admin's channel list.
   */
  *channels(): IterableIterator<
    { name: string; events: number; lastEventId: string | null }
  > {
    for (const [name, log] of this.#channels) {
      if (name === NO_CHANNEL || log.size === 0) continue;
      const last = log.entries[log.entries.length - 1];
      yield { name, events: log.size, lastEventId: last?.id ?? null };
    }
  }

  /**
   * Forgets everything `channel` keeps (the admin's `DELETE /channels`).
   * A client that reconnects after an event dropped here is told of a gap
   * ("expired"), as when events age out. Returns how many it kept.
   */
  clear(channel: string, now = Date.now()): number {
    const log = this.#channels.get(channel);
    if (!log) return 0;
    const kept = log.size;
    while (log.size > 0) this.#drop(log, now);
    this.#forgottenSeq = Math.max(this.#forgottenSeq, log.droppedSeq);
    this.#channels.delete(channel);
    return kept;
  }

  /**
   * What a client on `channels` (empty: every channel) that last saw
   * `lastEventId` has missed, in order and without duplicates.
   */
  replay(channels: readonly string[], lastEventId: string): Replay {
    if (lastEventId === EARLIEST) {
      return { entries: this.#entriesAfter(channels, 0) };
    }
    const after = this.#position(lastEventId);
    if (after === undefined) {
      return { entries: this.#entriesAfter(channels, 0), gap: "unknown id" };
    }
    // A channel without a log may have been forgotten with events the
    // client missed: say so rather than stay silent.
    const expired = (after < this.#forgottenSeq &&
      (channels.length === 0 ||
        channels.some((channel) => !this.#channels.has(channel)))) ||
      this.#logsOf(channels).some((log) => log.droppedSeq > after);
    const entries = this.#entriesAfter(channels, after);
    return expired ? { entries, gap: "expired" } : { entries };
  }

  /** The logs of `channels` (empty: every channel), each once. */
  #logsOf(channels: readonly string[]): ChannelLog[] {
    return channels.length === 0
      ? [...this.#channels.values()]
      : [...new Set(channels)].flatMap((channel) =>
        this.#channels.get(channel) ?? []
      );
  }

  /** Every entry after `seq` on `channels` (empty: all), once, in order. */
  #entriesAfter(channels: readonly string[], seq: number): HistoryEntry[] {
    const logs = this.#logsOf(channels);
    const seen = new Set<number>();
    const entries: HistoryEntry[] = [];
    for (const log of logs) {
      for (const entry of log.after(seq)) {
        if (seen.has(entry.seq)) continue;
        seen.add(entry.seq);
        entries.push(entry);
      }
    }
    if (logs.length > 1) entries.sort((a, b) => a.seq - b.seq);
    return entries;
  }

  /** The sequence number an id stands for, if this run knows it. */
  #position(id: string): number | undefined {
    const known = this.#byId.get(id);
    if (known) return known.entry.seq;
    // One of ours whose event is no longer kept: its position is still known.
    const dash = id.lastIndexOf("-");
    if (dash < 0 || id.slice(0, dash) !== this.#instance) return undefined;
    const digits = id.slice(dash + 1);
    if (!/^\d{1,15}$/.test(digits)) return undefined;
    const seq = Number(digits);
    return seq <= this.#seq ? seq : undefined;
  }

  #dropOlder(log: ChannelLog, oldest: number, now: number): void {
    while (log.size > 0 && log.oldest()!.time < oldest) this.#drop(log, now);
  }

  #drop(log: ChannelLog, now: number): void {
    const entry = log.shift(now);
    const indexed = this.#byId.get(entry.id);
    if (indexed?.entry === entry && --indexed.refs === 0) {
      this.#byId.delete(entry.id);
      this.#forget(entry);
    }
  }

  /** An entry no channel holds any more: its bytes are free. */
  #forget(entry: HistoryEntry): void {
    this.#bytes -= entry.bytes.length;
    if (++this.#orderDead * 2 > this.#order.length - this.#orderHead) {
      this.#order = this.#order.slice(this.#orderHead).filter((kept) =>
        this.#byId.get(kept.id)?.entry === kept
      );
      this.#orderHead = 0;
      this.#orderDead = 0;
    }
  }

  /**
   * Drops the oldest entry kept from every channel that holds it, with any
   * older one still in front of it (an entry whose id a publisher reused,
   * no longer counted). False when nothing was left to drop.
   */
  #dropOldest(now: number): boolean {
    while (this.#orderHead < this.#order.length) {
      const entry = this.#order[this.#orderHead++];
      const indexed = this.#byId.get(entry.id);
      if (indexed?.entry !== entry) {
        this.#orderDead = Math.max(0, this.#orderDead - 1);
        continue;
      }
      // Being the oldest kept, it is first in every log that holds it, but
      // for entries replaced under the same id. Once dropped it counts as
      // dead, but it has already left the list.
      for (const channel of indexed.channels) {
        const log = this.#channels.get(channel);
        while (log && log.size > 0 && log.oldest()!.seq <= entry.seq) {
          this.#drop(log, now);
        }
      }
      if (!this.#byId.has(entry.id)) {
        this.#orderDead = Math.max(0, this.#orderDead - 1);
      }
      return true;
    }
    return false;
  }
}
