/**
 * The events the server itself sends on a stream, beside what publishers
 * publish: the gap event of a replay and the end of an expired token. Built
 * here only, so every replay path (memory or broker) says the same.
 *
 * @module
 */

import { encodeEvent } from "./sse_format.ts";

/**
 * The event type that tells a reconnecting client that events it missed are
 * no longer kept (or its last id is unknown); its data is JSON:
 * `{"lastEventId": "...", "reason": "expired" | "unknown id" | "unavailable"}`.
 */
export const GAP_EVENT = "sse-gap";

/**
 * The gap event a replay starts with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = gapEvent("7", "expired");
 * assert.equal(
 *   new TextDecoder().decode(bytes),
 *   'event: sse-gap\ndata: {"lastEventId":"7","reason":"expired"}\n\n',
 * );
 * ```
 */
export function gapEvent(lastEventId: string, reason: string): Uint8Array {
  return encodeEvent({
    type: GAP_EVENT,
    data: JSON.stringify({ lastEventId, reason }),
  });
}

/**
 * The event that ends a stream whose token expired; its data is
 * `{"reason":"token expired"}`. The client should get a new token before it
 * reconnects.
 */
export const AUTH_EXPIRED_EVENT = "sse-auth-expired";

/** The bytes of {@linkcode AUTH_EXPIRED_EVENT}, encoded once. */
export const AUTH_EXPIRED: Uint8Array = encodeEvent({
  type: AUTH_EXPIRED_EVENT,
  data: JSON.stringify({ reason: "token expired" }),
});
