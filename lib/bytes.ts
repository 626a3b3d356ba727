/**
 * Joining byte chunks, for batching events into one write.
 *
 * @module
 */

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
