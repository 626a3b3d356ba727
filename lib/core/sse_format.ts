/**
 * The `text/event-stream` wire format: turning an event into the exact bytes
 * a subscriber receives.
 *
 * Events are encoded once, when they are published, and the same bytes are
 * handed to every subscriber; nothing here runs per subscriber.
 *
 * @module
 */

/** One event as the hub carries it: fields already validated by the input. */
export interface SseEvent {
  /** The event type; `message` is sent without an `event:` line. */
  readonly type: string;
  /** The event data; line breaks in it become several `data:` lines. */
  readonly data: string;
  /** The event id, sent as an `id:` line when present. */
  readonly id?: string;
}

/** Thrown when a field would break the stream's framing (a CR, LF or NUL). */
export class FieldError extends Error {
  override name = "FieldError";
}

const encoder = new TextEncoder();
const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

/** The keep-alive comment sent to a client that has had nothing for a while. */
export const KEEP_ALIVE: Uint8Array = encoder.encode(":\n\n");

/**
 * Encodes one event into the bytes of the stream, blank line included.
 *
 * The type and id are checked even though inputs validate them: a CR or LF
 * there would let a publisher forge fields, so the encoder refuses on its own.
 * Data is split at every line break (CRLF, CR or LF), so nothing in the data
 * can end the event early or start a new field.
 *
 * @example
 * ```ts
 * const bytes = encodeEvent({ type: "news", data: "one\ntwo" });
 * // "event: news\ndata: one\ndata: two\n\n"
 * ```
 */
export function encodeEvent(event: SseEvent): Uint8Array {
  return encoder.encode(formatEvent(event));
}

/** Like {@linkcode encodeEvent} but returns the text, for callers that batch. */
export function formatEvent(event: SseEvent): string {
  let text = "";
  if (event.type !== "message") {
    if (FORBIDDEN_IN_FIELD.test(event.type)) {
      throw new FieldError("event type contains a line break or NUL");
    }
    text += `event: ${event.type}\n`;
  }
  if (event.id !== undefined) {
    if (FORBIDDEN_IN_FIELD.test(event.id)) {
      throw new FieldError("event id contains a line break or NUL");
    }
    text += `id: ${event.id}\n`;
  }
  for (const line of event.data.split(LINE_BREAK)) {
    text += `data: ${line}\n`;
  }
  return text + "\n";
}

/**
 * The event that {@linkcode formatEvent} encoded into `text`, as an
 * EventSource would deliver it: data lines joined with `\n`, the type
 * `message` when there is no `event:` line. For answering from what history
 * keeps (encoded bytes) without keeping each event twice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatEvent({ type: "news", data: "one\ntwo", id: "7" });
 * assert.deepEqual(parseEvent(text), { type: "news", data: "one\ntwo", id: "7" });
 * ```
 */
export function parseEvent(text: string): SseEvent {
  let type = "message";
  let id: string | undefined;
  const data: string[] = [];
  // Only what formatEvent writes: "name: value" lines, each field once but
  // data, and the blank line that ends the event.
  for (const line of text.split("\n")) {
    if (line.startsWith("data: ")) data.push(line.slice(6));
    else if (line.startsWith("event: ")) type = line.slice(7);
    else if (line.startsWith("id: ")) id = line.slice(4);
  }
  const event = { type, data: data.join("\n") };
  return id === undefined ? event : { ...event, id };
}

/** Encodes the `retry:` field that sets the client's reconnection delay. */
export function encodeRetry(milliseconds: number): Uint8Array {
  return encoder.encode(`retry: ${Math.trunc(milliseconds)}\n\n`);
}
