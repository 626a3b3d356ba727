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

/** Encodes the `retry:` field that sets the client's reconnection delay. */
export function encodeRetry(milliseconds: number): Uint8Array {
  return encoder.encode(`retry: ${Math.trunc(milliseconds)}\n\n`);
}
