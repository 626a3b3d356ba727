/**
 * POST publishing bodies: reading them within a size limit and turning each
 * content type into events.
 *
 * - `application/x-www-form-urlencoded`: like the GET query, each
 *   `type=data` is an event and a bare word is a command.
 * - `text/plain`: the whole body is the data of one event; its type comes
 *   from `?event=` (default `message`) and its id from `?id=`.
 * - `application/json`: one event `{"event","data","id"}` or a list of them.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import { errorMessage, RequestError } from "../errors.ts";
import {
  InstructionError,
  parseJsonEvent,
  validateId,
  validateName,
} from "./instruction.ts";
import { parseQuery } from "./query.ts";
import type { SseEvent } from "../core/sse_format.ts";

/** Query parameters with a meaning of their own; never event types in a GET. */
export const RESERVED_PARAMETERS: ReadonlySet<string> = new Set([
  "lastEventId",
  "access_token",
  "id",
]);

/** The body is larger than allowed (HTTP 413). */
export class BodyTooLargeError extends RequestError {
  override name = "BodyTooLargeError";
  constructor(message: string) {
    super(413, message);
  }
}

/** The body did not arrive in time (HTTP 408, connection closed). */
export class BodyTimeoutError extends RequestError {
  override name = "BodyTimeoutError";
  constructor(message: string) {
    // The rest of the body may still come: the connection cannot be used
    // for another request.
    super(408, message, { headers: { Connection: "close" } });
  }
}

/** The content type is not one we publish from (HTTP 415). */
export class UnsupportedMediaTypeError extends RequestError {
  override name = "UnsupportedMediaTypeError";
  constructor(message: string) {
    super(415, message);
  }
}

/** Events and commands a request asks for. */
export interface PublishRequest {
  readonly events: SseEvent[];
  readonly commands: string[];
}

/** What {@linkcode readBody} reads: a `Request`, or the lean engine's. */
export interface BodySource {
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body if it has arrived already (see `http/exchange.ts`). */
  bufferedBody?(): Uint8Array | undefined;
}

/**
 * Reads a request body within `timeoutMs` (else {@linkcode BodyTimeoutError}),
 * refusing it with {@linkcode BodyTooLargeError} as soon
 * as it is known to exceed `maxBytes` (from `Content-Length`, or while
 * reading): an oversize body is never held whole.
 */
export async function readBody(
  request: BodySource,
  maxBytes: number,
  timeoutMs: number = 30_000,
): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    await request.body?.cancel();
    throw new BodyTooLargeError(
      `body of ${declared} bytes is over the limit of ${maxBytes}`,
    );
  }
  const arrived = request.bufferedBody?.();
  if (arrived !== undefined) return arrived;
  if (!request.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0; // counted as it comes, so an endless body stops at the limit
  const reader = request.body.getReader();
  // The whole body, not each read, has the time limit: a client dripping a
  // byte at a time is cut off as surely as one that stops.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new BodyTimeoutError(
            `body not received within ${timeoutMs / 1000} s`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        throw new BodyTooLargeError(
          `body is over the limit of ${maxBytes} bytes`,
        );
      }
      parts.push(value);
    }
  } catch (error) {
    // Not awaited: the engine may hold the read until the client sends more.
    reader.cancel().catch(() => {});
    if (error instanceof BodyTooLargeError) throw error;
    if (error instanceof BodyTimeoutError) throw error;
    // Cut short or badly framed: the request is bad, not the server.
    throw new InstructionError(
      `the body could not be read: ${errorMessage(error)}`,
    );
  } finally {
    clearTimeout(timer);
  }
  return concatBytes(parts);
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** How each supported content type's text becomes a request. */
const PARSERS: Readonly<
  Record<string, (text: string, query: URLSearchParams) => PublishRequest>
> = {
  "application/x-www-form-urlencoded": (text) => fromQuery(text),
  "text/plain": (text, query) => {
    const type = query.get("event") ?? "message";
    validateName("event type", type);
    const id = query.get("id") ?? undefined;
    if (id !== undefined) validateId(id);
    return {
      events: [
        id === undefined ? { type, data: text } : { type, data: text, id },
      ],
      commands: [],
    };
  },
  "application/json": (text) => ({ events: fromJson(text), commands: [] }),
};

/**
 * Turns a body into events and commands. Throws {@linkcode InstructionError}
 * for a body that does not parse (HTTP 400) and
 * {@linkcode UnsupportedMediaTypeError} for other content types.
 */
export function parsePostBody(
  contentType: string,
  body: Uint8Array,
  query: URLSearchParams,
): PublishRequest {
  const mediaType = contentType.split(";")[0].trim().toLowerCase();
  const parse = Object.hasOwn(PARSERS, mediaType)
    ? PARSERS[mediaType]
    : undefined;
  if (!parse) {
    throw new UnsupportedMediaTypeError(
      `cannot publish from ${
        mediaType === "" ? "a body without Content-Type" : mediaType
      }; use application/json, text/plain or application/x-www-form-urlencoded`,
    );
  }
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw new InstructionError("the body is not valid UTF-8");
  }
  return parse(text, query);
}

/**
 * Events and commands of a GET query or form body. Reserved parameters are
 * left out of the events; `id=` sets the id of the request's only event.
 */
export function fromQuery(query: string): PublishRequest {
  const events: SseEvent[] = [];
  const commands: string[] = [];
  let id: string | undefined;
  for (const item of parseQuery(query)) {
    if (item.kind === "command") {
      if (!RESERVED_PARAMETERS.has(item.command)) commands.push(item.command);
    } else if (item.type === "id") {
      validateId(item.data);
      id = item.data;
    } else if (!RESERVED_PARAMETERS.has(item.type)) {
      events.push({ type: item.type, data: item.data });
    }
  }
  // Without events the request is a subscription (or commands): no id to set.
  if (id !== undefined && events.length > 0) {
    if (events.length > 1) {
      throw new InstructionError(
        `id= needs exactly one event, got ${events.length}`,
      );
    }
    events[0] = { ...events[0], id };
  }
  return { events, commands };
}

function fromJson(text: string): SseEvent[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InstructionError(
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    throw new InstructionError("the JSON list holds no event");
  }
  return list.map((item, i) => {
    try {
      const { type, data, id } = parseJsonEvent(item, false);
      return id === undefined ? { type, data } : { type, data, id };
    } catch (error) {
      if (!(error instanceof InstructionError) || list.length === 1) {
        throw error;
      }
      throw new InstructionError(`event ${i}: ${error.message}`);
    }
  });
}
