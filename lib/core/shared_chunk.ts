/**
 * A chunk of consecutive publishes to the same channels, shared by every
 * subscriber that receives them.
 *
 * Why: with a burst of small events (a read of many control-port lines, a
 * run of POSTs), queuing each event in each subscriber costs one queue entry
 * per event per subscriber, and joining them for one write costs one copy
 * per subscriber. The hub instead appends the burst's events to one
 * `SharedChunk`; a subscriber queues the chunk once, and the first
 * subscriber to take it joins its parts once for all.
 *
 * A subscriber may queue the chunk itself only if it receives every part
 * from the first on (see `Subscriber.enqueueShared`); the hub starts a new
 * chunk whenever that could break: another channel list, a new subscriber,
 * or a chunk already taken by a reader (sealed).
 *
 * @module
 */

import { concatBytes, WRITE_MAX } from "./bytes.ts";

/**
 * Growing bytes of one run of publishes. Append-only until sealed; reading
 * it with {@linkcode SharedChunk.bytes} seals it.
 */
export class SharedChunk {
  /** The channel list its publishes went to, as the hub keys it. */
  readonly key: string;
  #parts: Uint8Array[] = [];
  #length = 0;
  #sealed = false;
  /**
   * The chunks last joined after this one for a reader, and the joined
   * bytes: readers whose queues hold the same run share one join.
   */
  #run: { chunks: SharedChunk[]; bytes: Uint8Array } | null = null;

  constructor(key: string) {
    this.key = key;
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.#length;
  }

  /** True once read: nothing more may be appended. */
  get sealed(): boolean {
    return this.#sealed;
  }

  /** Parts appended so far (each a publish's encoded events). */
  get partCount(): number {
    return this.#parts.length;
  }

  /** The bytes of part `index`, for a subscriber that cannot take the whole. */
  part(index: number): Uint8Array {
    return this.#parts[index];
  }

  /** Appends one publish's bytes; returns the part's index. */
  append(bytes: Uint8Array): number {
    if (this.#sealed) throw new Error("append to a sealed chunk");
    this.#parts.push(bytes);
    this.#length += bytes.length;
    return this.#parts.length - 1;
  }

  /** Stops appends, so the joined bytes stay valid for every reader. */
  seal(): void {
    this.#sealed = true;
  }

  /** All parts as one array, joined once; seals the chunk. */
  bytes(): Uint8Array {
    this.#sealed = true;
    if (this.#parts.length !== 1) this.#parts = [concatBytes(this.#parts)];
    return this.#parts[0];
  }

  /**
   * This chunk's bytes followed by those of `queue[from]` to `queue[to - 1]`
   * (shared chunks queued after it), joined once for every reader that
   * holds the same run: readers woken after further publishes (see the
   * hub's wake slices) then write one array, not a copy each. Seals them.
   */
  joinedWith(
    queue: readonly SharedChunk[],
    from: number,
    to: number,
  ): Uint8Array {
    const run = this.#run;
    if (run && run.chunks.length === to - from) {
      let same = true;
      for (let i = from; i < to && same; i++) {
        same = run.chunks[i - from] === queue[i];
      }
      if (same) return run.bytes;
    }
    const chunks = queue.slice(from, to);
    const bytes = concatBytes([this.bytes(), ...chunks.map((c) => c.bytes())]);
    this.#run = { chunks, bytes };
    return bytes;
  }
}

/**
 * Removes the next write's worth from a subscriber's queue and returns it as
 * one array: whole items up to `WRITE_MAX` (a larger first item alone), the
 * parts of shared chunks joined once for every subscriber that takes the
 * same run.
 */
export function takeWrite(queue: (Uint8Array | SharedChunk)[]): Uint8Array {
  const first = queue[0];
  const firstBytes = first instanceof SharedChunk ? first.bytes() : first;
  if (queue.length === 1 || firstBytes.length >= WRITE_MAX) {
    queue.shift();
    return firstBytes;
  }
  let total = firstBytes.length;
  let taken = 1;
  let allShared = first instanceof SharedChunk;
  while (taken < queue.length) {
    const item = queue[taken];
    if (total + item.length > WRITE_MAX) break;
    total += item.length;
    allShared &&= item instanceof SharedChunk;
    taken++;
  }
  let bytes: Uint8Array;
  if (taken === 1) bytes = firstBytes;
  else if (allShared) {
    bytes = (first as SharedChunk).joinedWith(queue as SharedChunk[], 1, taken);
  } else {
    bytes = concatBytes(
      queue.slice(0, taken).map((item) =>
        item instanceof SharedChunk ? item.bytes() : item
      ),
    );
  }
  queue.splice(0, taken);
  return bytes;
}
