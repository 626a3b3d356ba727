/**
 * A lean HTTP/1.1 engine for the HTTP port (`--http-engine lean`), beside
 * `Deno.serve` (the default, which also does TLS and HTTP/2).
 *
 * Why: an open event stream through `Deno.serve` costs tens of KiB (its
 * connection state, a `ReadableStream` and the body machinery), while a raw
 * `Deno.listen` connection that has written its response head costs a few.
 * Here a subscription is a socket, its subscriber's queue and one pending
 * write or wait: the handler's `ReadableStream` body is bypassed, and the
 * subscriber's chunks are written to the socket directly.
 *
 * Every request goes through the same handler as with `Deno.serve`, so the
 * behaviour is the same; only the transport differs. One request per
 * connection (`Connection: close`), which suits event streams (one long
 * response) and short publishes alike.
 *
 * Bounds: the request head must arrive within `headTimeoutMs` (a client
 * sending it a byte at a time is cut off with 408) and be at most
 * `maxHeadBytes` (else 431); a malformed head gets 400, and so does one
 * with both `Content-Length` and `Transfer-Encoding` (smuggling). Request
 * bodies are read, by length or chunked, only as the handler reads them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { acceptLoop, closeQuietly } from "./connections.ts";
import { errorMessage, ExitCode, StartupError } from "./errors.ts";
import { type Subscriber, subscriberOf } from "./subscriber.ts";

const logger = getLogger(["sse-server", "http"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Settings of a {@linkcode LeanHttpServer}. */
export interface LeanHttpOptions {
  readonly hostname: string;
  /** TCP port; 0 lets the system choose. */
  readonly port: number;
  /** Largest request head (request line and headers), in bytes. */
  readonly maxHeadBytes: number;
  /** Time allowed for the whole request head to arrive. */
  readonly headTimeoutMs: number;
}

/** The request handler both engines share. */
export type HttpHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** A bad request head: the status to answer with and why. */
class HeadError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, space, tab and obs-text; no CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Listens and serves until {@linkcode LeanHttpServer.shutdown}, which stops
 * accepting and resolves once every connection has ended.
 */
export class LeanHttpServer {
  readonly #listener: Deno.TcpListener;
  readonly #options: LeanHttpOptions;
  readonly #handler: HttpHandler;
  readonly #connections = new Set<Deno.Conn>();
  /** Connections whose request head has not arrived yet. */
  readonly #readingHead = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  private constructor(
    listener: Deno.TcpListener,
    options: LeanHttpOptions,
    handler: HttpHandler,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#handler = handler;
    this.#accepting = this.#accept();
  }

  /** Starts listening; throws {@linkcode StartupError} (exit 73) on failure. */
  static listen(
    options: LeanHttpOptions,
    handler: HttpHandler,
  ): LeanHttpServer {
    try {
      return new LeanHttpServer(
        Deno.listen({ hostname: options.hostname, port: options.port }),
        options,
        handler,
      );
    } catch (error) {
      throw new StartupError(
        `cannot listen on HTTP port ${options.hostname}:${options.port}: ${
          errorMessage(error)
        }`,
        ExitCode.cantCreate,
        { cause: error },
      );
    }
  }

  /** The address actually bound. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Stops accepting; resolves when every connection has ended. */
  async shutdown(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.close();
      // Connections still reading a request head are not worth waiting for.
      for (const conn of this.#readingHead) closeQuietly(conn);
    }
    await this.#accepting;
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
  }

  /** Cuts every connection at once (after a shutdown that took too long). */
  abortAll(): void {
    for (const conn of this.#connections) closeQuietly(conn);
  }

  #accept(): Promise<void> {
    return acceptLoop(this.#listener, {
      closed: () => this.#closed,
      tasks: this.#tasks,
      name: "HTTP",
      serve: (conn) => {
        this.#connections.add(conn);
        return this.#serve(conn).finally(() => {
          this.#connections.delete(conn);
          closeQuietly(conn);
        });
      },
    });
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const remoteAddr = conn.remoteAddr as Deno.NetAddr;
    let head: ParsedHead;
    let rest: Uint8Array;
    this.#readingHead.add(conn);
    try {
      ({ head, rest } = await this.#readHead(conn));
    } catch (error) {
      if (error instanceof HeadError) {
        logger.warn("http {addr}: {status} {reason}", {
          addr: `${remoteAddr.hostname}:${remoteAddr.port}`,
          status: error.status,
          reason: error.message,
        });
        await writeSimple(conn, error.status, error.message).catch(() => {});
      }
      return;
    } finally {
      this.#readingHead.delete(conn);
    }
    const completed = Promise.withResolvers<void>();
    completed.promise.catch(() => {}); // observed by the handler, if at all
    const request = buildRequest(head, rest, conn, this.#listener.addr);
    let response: Response;
    try {
      response = await this.#handler(request, {
        remoteAddr,
        completed: completed.promise,
      });
    } catch (error) {
      logger.error("HTTP handler failed: {error}", {
        error: errorMessage(error),
      });
      response = new Response("internal error\n", { status: 500 });
    }
    const subscriber = subscriberOf(response.body);
    try {
      if (subscriber) {
        // A stream: no length; it ends when the connection closes. The
        // request and response objects are not kept while it lasts.
        await this.#stream(conn, subscriber, encodeHead(response));
      } else {
        const body = new Uint8Array(await response.arrayBuffer());
        await writeAll(conn, encodeHead(response, body.length));
        if (request.method !== "HEAD") await writeAll(conn, body);
      }
      completed.resolve();
    } catch (error) {
      subscriber?.close("client disconnected");
      completed.reject(error);
    }
  }

  /** Writes a subscriber's stream until it ends or the client goes. */
  async #stream(
    conn: Deno.Conn,
    subscriber: Subscriber,
    head: Uint8Array,
  ): Promise<void> {
    await writeAll(conn, head);
    // Noticing a client that goes away while nothing is written: its end of
    // the connection reads as end-of-file.
    const watch = watchForClose(
      conn,
      () => subscriber.close("client disconnected"),
    );
    try {
      while (true) {
        const chunk = await subscriber.next();
        if (chunk === null) break;
        await writeAll(conn, chunk);
      }
    } finally {
      closeQuietly(conn);
      await watch;
    }
  }

  /** Reads up to the blank line ending the head, within the limits. */
  async #readHead(
    conn: Deno.Conn,
  ): Promise<{ head: ParsedHead; rest: Uint8Array }> {
    const { maxHeadBytes, headTimeoutMs } = this.#options;
    const buffer = new Uint8Array(maxHeadBytes + 4);
    let length = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HeadError(408, "request head not received in time")),
        headTimeoutMs,
      );
    });
    try {
      while (true) {
        const n = await Promise.race([
          conn.read(buffer.subarray(length)),
          timeout,
        ]);
        if (n === null) throw new Error("closed before the request head ended");
        const from = Math.max(0, length - 3);
        length += n;
        const end = indexOfBlankLine(buffer, from, length);
        if (end >= 0) {
          return {
            head: parseHead(decoder.decode(buffer.subarray(0, end))),
            rest: buffer.slice(end + 4, length),
          };
        }
        if (length >= maxHeadBytes) {
          throw new HeadError(
            431,
            `request head larger than ${maxHeadBytes} bytes`,
          );
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

interface ParsedHead {
  readonly method: string;
  readonly target: string;
  readonly headers: Headers;
}

/** Parses a request head strictly: HTTP/1.x, origin-form target, token names. */
export function parseHead(text: string): ParsedHead {
  const lines = text.split("\r\n");
  const requestLine = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/\S*) HTTP\/1\.[01]$/
    .exec(lines[0]);
  if (!requestLine) throw new HeadError(400, "malformed request line");
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw new HeadError(400, "malformed header line");
    }
    headers.append(name, value);
  }
  const encoding = headers.get("transfer-encoding");
  if (encoding !== null) {
    if (encoding.toLowerCase() !== "chunked") {
      throw new HeadError(
        400,
        `unsupported Transfer-Encoding ${JSON.stringify(encoding)}`,
      );
    }
    // Both would let a proxy and this server disagree on where bodies end.
    if (headers.has("content-length")) {
      throw new HeadError(400, "both Content-Length and Transfer-Encoding");
    }
  }
  const length = headers.get("content-length");
  if (length !== null && !/^\d{1,15}$/.test(length)) {
    throw new HeadError(400, "malformed Content-Length");
  }
  return { method: requestLine[1], target: requestLine[2], headers };
}

function buildRequest(
  head: ParsedHead,
  rest: Uint8Array,
  conn: Deno.Conn,
  local: Deno.NetAddr,
): Request {
  const host = head.headers.get("host") ?? `${local.hostname}:${local.port}`;
  const length = Number(head.headers.get("content-length") ?? 0);
  const chunked = head.headers.has("transfer-encoding");
  const mayHaveBody = head.method !== "GET" && head.method !== "HEAD";
  const reader = new ConnReader(rest, conn);
  return new Request(`http://${host}${head.target}`, {
    method: head.method,
    headers: head.headers,
    // Read from the socket only when the handler reads the body, so a body
    // refused by its Content-Length is never read, and a chunked one only as
    // far as the handler's limit.
    body: !mayHaveBody
      ? undefined
      : chunked
      ? chunkedBody(reader)
      : length > 0
      ? lengthBody(reader, length)
      : undefined,
  });
}

/** Reads a connection through a buffer, for request bodies. */
class ConnReader {
  #pending: Uint8Array;
  readonly #conn: Deno.Conn;

  constructor(first: Uint8Array, conn: Deno.Conn) {
    this.#pending = first;
    this.#conn = conn;
  }

  /** Up to `max` bytes (at least one), or null at end of input. */
  async read(max: number): Promise<Uint8Array | null> {
    if (this.#pending.length === 0) {
      const buffer = new Uint8Array(Math.min(max, 65536));
      const n = await this.#conn.read(buffer);
      if (n === null) return null;
      this.#pending = buffer.subarray(0, n);
    }
    const out = this.#pending.subarray(0, max);
    this.#pending = this.#pending.subarray(out.length);
    return out;
  }

  /** One CRLF-ended line (without it), at most `max` bytes. */
  async line(max: number): Promise<string> {
    let text = "";
    while (true) {
      const byte = await this.read(1);
      if (byte === null) throw new Error("body cut short");
      text += String.fromCharCode(byte[0]);
      if (text.endsWith("\r\n")) return text.slice(0, -2);
      if (text.length > max) throw new Error("chunk line too long");
    }
  }
}

function lengthBody(
  reader: ConnReader,
  length: number,
): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await reader.read(left);
      if (chunk === null) return controller.error(new Error("body cut short"));
      left -= chunk.length;
      controller.enqueue(chunk);
      if (left <= 0) controller.close();
    },
  });
}

/** Decodes `Transfer-Encoding: chunked` as the handler reads. */
function chunkedBody(reader: ConnReader): ReadableStream<Uint8Array> {
  let left = 0; // bytes left in the current chunk
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (left === 0) {
          const size = /^([0-9A-Fa-f]{1,8})(;.*)?$/.exec(
            await reader.line(1024),
          );
          if (!size) throw new Error("malformed chunk size");
          left = parseInt(size[1], 16);
          if (left === 0) {
            while ((await reader.line(8192)) !== "") {
              // Trailer fields are ignored.
            }
            return controller.close();
          }
        }
        const data = await reader.read(left);
        if (data === null) throw new Error("body cut short");
        left -= data.length;
        if (left === 0 && (await reader.line(2)) !== "") {
          throw new Error("malformed chunk end");
        }
        controller.enqueue(data);
      } catch (error) {
        controller.error(error);
      }
    },
  });
}

/** The response head; with `length` a Content-Length (none for streams). */
function encodeHead(response: Response, length?: number): Uint8Array {
  let head = `HTTP/1.1 ${response.status} ${reason(response.status)}\r\n`;
  for (const [name, value] of response.headers) head += `${name}: ${value}\r\n`;
  if (length !== undefined && !response.headers.has("content-length")) {
    head += `content-length: ${length}\r\n`;
  }
  head += "connection: close\r\n\r\n";
  return encoder.encode(head);
}

function reason(status: number): string {
  return STATUS_TEXT[status] ?? "";
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  202: "Accepted",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

async function writeSimple(
  conn: Deno.Conn,
  status: number,
  message: string,
): Promise<void> {
  const body = encoder.encode(message + "\n");
  await writeAll(
    conn,
    encoder.encode(
      `HTTP/1.1 ${status} ${
        reason(status)
      }\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
    ),
  );
  await writeAll(conn, body);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads and discards until the peer closes; then calls `onClose`. */
async function watchForClose(
  conn: Deno.Conn,
  onClose: () => void,
): Promise<void> {
  const scrap = new Uint8Array(512);
  try {
    while ((await conn.read(scrap)) !== null) {
      // A subscriber has nothing more to say; whatever it sends is dropped.
    }
  } catch {
    // Closed by us when the stream ended, or reset by the peer.
  }
  onClose();
}

function indexOfBlankLine(
  buffer: Uint8Array,
  from: number,
  to: number,
): number {
  for (let i = from; i + 3 < to; i++) {
    if (
      buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 &&
      buffer[i + 3] === 10
    ) return i;
  }
  return -1;
}
