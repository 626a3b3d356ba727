/**
 * Joining byte chunks, for batching events into one write.
 *
 * @module
 */

/**
 * The most bytes handed to one socket write: a burst shares a chunk up to
 * this size, a subscriber that is behind is written this much at a time, and
 * this is what one subscriber counts for in the backlog at most.
 */
export const WRITE_MAX = 64 * 1024;

/** Concatenates `parts` into one new array (one allocation, one copy each). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
