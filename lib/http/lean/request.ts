/**
 * The request the lean engine hands the handler, made from a parsed head
 * with a body read from the socket only as the handler reads it, and the
 * rules for keeping a connection alive after the answer.
 *
 * It is not a `Request`: the handler reads a method, a URL, a few headers
 * and maybe a body, and a `Request` (its headers copied and validated
 * again, its body stream made up front) cost more than the rest of a
 * publish.
 *
 * @module
 */

import { BodyState, chunkedBody, ConnReader, lengthBody } from "./body.ts";
import { hasToken, type ParsedHead } from "./head.ts";
import type { SocketConn } from "./socket_conn.ts";
import type { HeaderLookup, HttpRequest } from "../exchange.ts";

/**
 * The most bytes of a request body the handler left unread (by its
 * `Content-Length`) that are read and dropped to keep the connection; a
 * larger rest, or one of unknown length, closes it instead.
 */
const MAX_SKIPPED_BODY = 65536;

/** Whether the client lets the connection stay open after the response. */
export function clientKeepsAlive(head: ParsedHead): boolean {
  const connection = head.headers.get("connection");
  return head.version === "1.1"
    ? !hasToken(connection, "close")
    : hasToken(connection, "keep-alive");
}

/**
 * Whether what the handler left of the request body (`unread` bytes) may be
 * dropped to go on with the next request on the connection.
 */
export function canSkipRest(
  head: ParsedHead,
  unread: number | undefined,
): boolean {
  if (unread === 0) return true;
  // A client waiting for "100 Continue" may send its next request instead
  // of the body, after a final answer: where it resumes is not known.
  return unread !== undefined && unread <= MAX_SKIPPED_BODY &&
    !hasToken(head.headers.get("expect"), "100-continue");
}

/** A request as the handler reads it; its body stream made on first use. */
class LeanRequest implements HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: HeaderLookup;
  #body: ReadableStream<Uint8Array> | null | undefined;
  #makeBody: () => ReadableStream<Uint8Array> | null;
  #takeBody: () => Uint8Array | undefined;

  constructor(
    head: ParsedHead,
    makeBody: () => ReadableStream<Uint8Array> | null,
    takeBody: () => Uint8Array | undefined,
  ) {
    this.method = head.method;
    this.url = `http://localhost${head.target}`;
    this.headers = head.headers;
    this.#makeBody = makeBody;
    this.#takeBody = takeBody;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) this.#body = this.#makeBody();
    return this.#body;
  }

  bufferedBody(): Uint8Array | undefined {
    if (this.#body !== undefined) return undefined;
    const bytes = this.#takeBody();
    // Taken whole: the stream, if asked for after all, is empty.
    if (bytes !== undefined) this.#body = null;
    return bytes;
  }
}

/**
 * The request the handler sees. Its URL is built on a fixed origin: the
 * Host header (already checked) is never spliced into it, so the target
 * alone names the path.
 */
export function buildRequest(
  head: ParsedHead,
  rest: Uint8Array,
  conn: SocketConn,
  maxTrailerBytes: number,
): { request: HttpRequest; body: BodyState } {
  const length = Number(head.headers.get("content-length") ?? 0);
  const chunked = head.headers.has("transfer-encoding");
  const mayHaveBody = head.method !== "GET" && head.method !== "HEAD";
  const reader = new ConnReader(rest, conn);
  // A client that asked to be told first (curl does for larger bodies)
  // gets "100 Continue" when the handler starts reading the body.
  reader.sendContinue = mayHaveBody && head.version === "1.1" &&
    hasToken(head.headers.get("expect"), "100-continue");
  // A GET or HEAD body is not given to the handler, but it is on the wire:
  // it is dropped by its length, or closes the connection when chunked.
  const state = new BodyState(reader, chunked ? undefined : length);
  // Read from the socket only when the handler reads the body, so a body
  // refused by its Content-Length is never read, and a chunked one only as
  // far as the handler's limit.
  const request = new LeanRequest(
    head,
    () =>
      !mayHaveBody
        ? null
        : chunked
        ? chunkedBody(reader, state, maxTrailerBytes)
        : length > 0
        ? lengthBody(reader, length, state)
        : null,
    () => {
      if (!mayHaveBody || chunked || length === 0) return undefined;
      const bytes = reader.takeIfBuffered(length);
      if (bytes !== undefined) state.ended();
      return bytes;
    },
  );
  return { request, body: state };
}
