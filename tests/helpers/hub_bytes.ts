/**
 * What tests of the hub and its subscribers share: reading their byte
 * chunks as text and computing the text events are sent as.
 *
 * @module
 */

import { STALL_MS } from "../../lib/core/backlog.ts";
import type { Subscriber } from "../../lib/core/subscriber.ts";
import type { PublishResult } from "../../lib/core/hub.ts";
import assert from "node:assert/strict";
import { formatEvent, type SseEvent } from "../../lib/core/sse_format.ts";

const decoder = new TextDecoder();

/** A queue limit no test reaches unless it means to. */
export const BIG = 1 << 20;

/** Long enough that no keep-alive interferes with a test not about them. */
export const NO_KEEPALIVE = 60_000;

/**
 * A chunk as text; fails on the end of the stream (`null`) and on nothing
 * queued (`undefined`, from `Subscriber.take`).
 */
export function text(chunk: Uint8Array | null | undefined): string {
  assert.ok(chunk !== null, "expected bytes, got the end of the stream");
  assert.ok(chunk !== undefined, "expected bytes, got nothing queued");
  return decoder.decode(chunk);
}

/** The text a list of events is sent as, computed by the encoder under test. */
export function wire(...events: SseEvent[]): string {
  return events.map(formatEvent).join("");
}

/**
 * Makes `sub` look like a client that stopped reading: its transport last
 * came for bytes longer than the stall time ago. What the limit judges is
 * progress, so tests of dropping say when the client last read.
 */
export function stopReading(sub: Subscriber): void {
  sub.lastPull = Date.now() - STALL_MS - 1;
}

/** The counts of a publish result, without its ids. */
export function counts(
  result: PublishResult,
): { events: number; clients: number } {
  return { events: result.events, clients: result.clients };
}

/** Three events of different types and shapes, for fan-out tests. */
export const e1: SseEvent = { type: "message", data: "one" };
export const e2: SseEvent = { type: "news", data: "two\nlines" };
export const e3: SseEvent = { type: "q1", data: "three" };
