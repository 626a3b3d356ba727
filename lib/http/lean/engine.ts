/**
 * A lean HTTP/1.1 engine for the HTTP port: the default for plain HTTP
 * (`--http-engine lean`), beside `Deno.serve` (`--http-engine serve`, and
 * the engine with TLS, which also does HTTP/2).
 *
 * Why: an open event stream through `Deno.serve` costs tens of KiB (its
 * connection state, a `ReadableStream` and the body machinery), while a raw
 * TCP connection that has written its response head costs a few. Here a
 * subscription is a socket, its subscriber's queue and one pending write or
 * wait: the handler's `ReadableStream` body is bypassed, and the
 * subscriber's chunks are written to the socket directly. The sockets are
 * `node:net` ones (see `socket_conn.ts` for why).
 *
 * Every request goes through the same handler as with `Deno.serve`, so the
 * behaviour is the same; only the transport differs. An event stream is the
 * last response on its connection (no length: it ends when the connection
 * closes). Other responses have a length, and the connection is kept alive
 * for the next request (HTTP/1.1 keep-alive, so a publisher can send many
 * requests over one connection) unless the client asks to close (HTTP/1.0
 * must ask to keep it), the server is shutting down, or the request body was
 * left unread beyond what may be skipped (`MAX_SKIPPED_BODY` bytes of a
 * declared length; else the connection is closed, so that no body byte is
 * ever taken for a request). Pipelined requests are answered in order.
 *
 * Bounds: the request head must arrive within `headTimeoutMs` (a client
 * sending it a byte at a time is cut off with 408; a kept-alive connection
 * on which no byte of a new request arrives in that time is closed quietly)
 * and be at most `maxHeadBytes` (else 431); a malformed head gets 400, and
 * so does one with both `Content-Length` and `Transfer-Encoding`
 * (smuggling). Request bodies are read, by length or chunked, only as the
 * handler reads them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { concatBytes } from "../../core/bytes.ts";
import { errorMessage, ExitCode, StartupError } from "../../errors.ts";
import type {
  HttpAnswer,
  HttpHandler,
  HttpRequest,
  StreamAnswer,
} from "../exchange.ts";
import { headerOf, whole } from "../answers.ts";
import type { BodyState } from "./body.ts";
import { latin1 } from "./body.ts";
import {
  hasToken,
  HeadError,
  type HeadLimits,
  type ParsedHead,
  parseHead,
} from "./head.ts";
import { buildRequest, canSkipRest, clientKeepsAlive } from "./request.ts";
import { encodeHead, simpleResponse } from "./response.ts";
import { INTERRUPTED, SocketConn } from "./socket_conn.ts";
import { ReadDeadlines } from "./deadlines.ts";
import { writeStream } from "./stream.ts";

const logger = getLogger(["sse-server", "http"]);

/** Settings of a {@linkcode LeanHttpServer}. */
export interface LeanHttpOptions {
  readonly hostname: string;
  /** TCP port; 0 lets the system choose. */
  readonly port: number;
  /** Largest header section (and trailer section), in bytes (else 431). */
  readonly maxHeadBytes: number;
  /** Longest request target, in bytes (else 414). */
  readonly maxTargetBytes: number;
  /** Time allowed for the whole request head to arrive. */
  readonly headTimeoutMs: number;
  /** Certificate and key (PEM): HTTPS, still HTTP/1.1 only. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** First size of the buffer a request head is read into. */
const HEAD_BUFFER_START = 1024;

/**
 * Listens and serves until {@linkcode LeanHttpServer.shutdown}, which stops
 * accepting and resolves once every connection has ended.
 */
export class LeanHttpServer {
  readonly #listener: Server;
  readonly #addr: Deno.NetAddr;
  readonly #options: LeanHttpOptions;
  readonly #handler: HttpHandler;
  readonly #connections = new Set<SocketConn>();
  /**
   * Connections waiting for a request head: new ones, and kept-alive ones
   * between requests.
   */
  readonly #readingHead = new Set<SocketConn>();
  /** Head timeouts, one timer for all. */
  readonly #deadlines: ReadDeadlines;
  readonly #tasks = new Set<Promise<void>>();
  /** Settles when the listener has closed (after shutdown). */
  readonly #listenerClosed = Promise.withResolvers<void>();
  #closed = false;

  private constructor(
    listener: Server,
    addr: Deno.NetAddr,
    options: LeanHttpOptions,
    handler: HttpHandler,
  ) {
    this.#listener = listener;
    this.#addr = addr;
    this.#options = options;
    this.#handler = handler;
    this.#deadlines = new ReadDeadlines(options.headTimeoutMs);
    // With TLS a connection is served once its handshake is done; a failed
    // handshake is logged and closes that connection only.
    if (options.tls) {
      listener.on("secureConnection", (socket: Socket) => this.#accept(socket));
      listener.on("tlsClientError", (error: Error, socket: Socket) => {
        logger.warn("https {addr}: TLS handshake failed: {error}", {
          addr: `${socket.remoteAddress}:${socket.remotePort}`,
          error: errorMessage(error),
        });
        socket.destroy();
      });
    } else {
      listener.on("connection", (socket: Socket) => this.#accept(socket));
    }
    // An accept error while open (e.g. out of file descriptors) is logged;
    // the listener goes on.
    listener.on("error", (error: Error) => {
      logger.error("HTTP: accept failed: {error}", {
        error: errorMessage(error),
      });
    });
  }

  /** Starts listening; throws {@linkcode StartupError} (exit 73) on failure. */
  static async listen(
    options: LeanHttpOptions,
    handler: HttpHandler,
  ): Promise<LeanHttpServer> {
    // A client may close its sending side after its request and still wait
    // for the answer; the connection is closed here, when served.
    let listener: Server;
    try {
      listener = options.tls
        ? createTlsServer({ ...options.tls, allowHalfOpen: true })
        : createServer({ allowHalfOpen: true });
    } catch (error) {
      throw new StartupError(
        `TLS set-up failed: ${errorMessage(error)}`,
        ExitCode.unavailable,
        { cause: error },
      );
    }
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen({ host: options.hostname, port: options.port }, () => {
          listener.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      throw new StartupError(
        `cannot listen on HTTP port ${options.hostname}:${options.port}: ${
          errorMessage(error)
        }`,
        ExitCode.cantCreate,
        { cause: error },
      );
    }
    const bound = listener.address();
    if (bound === null || typeof bound === "string") {
      listener.close();
      throw new StartupError(
        `cannot listen on HTTP port ${options.hostname}:${options.port}`,
        ExitCode.cantCreate,
      );
    }
    return new LeanHttpServer(
      listener,
      { transport: "tcp", hostname: bound.address, port: bound.port },
      options,
      handler,
    );
  }

  /** The address actually bound. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** Stops accepting; resolves when every connection has ended. */
  async shutdown(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.close(() => this.#listenerClosed.resolve());
      // Connections waiting for a request head (new or kept alive between
      // requests) are not worth waiting for.
      for (const conn of this.#readingHead) conn.close();
    }
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
    this.#deadlines[Symbol.dispose]();
    await this.#listenerClosed.promise;
  }

  /** Cuts every connection at once (after a shutdown that took too long). */
  abortAll(): void {
    for (const conn of this.#connections) conn.close();
  }

  #accept(socket: Socket): void {
    const conn = new SocketConn(socket);
    if (this.#closed) return conn.close();
    this.#connections.add(conn);
    // The last resort: whatever goes wrong with one connection is a bug to
    // log with its peer, never a reason for the process to end.
    // One derived promise per connection: an idle stream's connection
    // keeps as little as it can.
    const over = (): void => {
      this.#connections.delete(conn);
      conn.close();
      this.#tasks.delete(task);
    };
    const task: Promise<void> = this.#serve(conn).then(over, (error) => {
      logger.error("http {addr}: internal error, connection closed: {error}", {
        addr: `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`,
        error: errorMessage(error),
      });
      over();
    });
    this.#tasks.add(task);
  }

  /** Serves the requests of one connection, in order. */
  async #serve(conn: SocketConn): Promise<void> {
    const remoteAddr = conn.remoteAddr;
    // What is left of the previous request: bytes read past its head or body,
    // and body bytes to drop before the next head (undefined: none yet).
    let previous: { carried: Uint8Array; skip: number } | undefined;
    while (true) {
      let read: { head: ParsedHead; rest: Uint8Array } | null;
      this.#readingHead.add(conn);
      try {
        // Shutting down: a kept-alive connection takes no further request.
        if (this.#closed && previous) return;
        read = await this.#readHead(
          conn,
          previous?.carried ?? EMPTY,
          previous?.skip ?? 0,
          previous !== undefined,
        );
      } catch (error) {
        if (error instanceof HeadError) {
          logger.warn("http {addr}: {status} {reason}", {
            addr: `${remoteAddr.hostname}:${remoteAddr.port}`,
            status: error.status,
            reason: error.message,
          });
          await conn.write(
            simpleResponse(error.status, error.message, error.headers),
          ).catch(() => {});
        }
        return;
      } finally {
        this.#readingHead.delete(conn);
      }
      if (read === null) return; // gone or idle before a new request
      const outcome = await this.#respond(
        conn,
        remoteAddr,
        read.head,
        read.rest,
      );
      // A stream runs from here, so that nothing of the request and its
      // response (headers, body stream) stays reachable while it lasts.
      if (outcome?.stream) return writeStream(conn, outcome.stream);
      previous = outcome?.next;
      if (!previous) return;
    }
  }

  /**
   * Answers one request. Returns the stream to write when the answer is an
   * event stream; what the next request starts from when the connection is
   * kept alive; else undefined (the connection is done).
   */
  async #respond(
    conn: SocketConn,
    remoteAddr: Deno.NetAddr,
    head: ParsedHead,
    rest: Uint8Array,
  ): Promise<
    { stream?: StreamAnswer; next?: { carried: Uint8Array; skip: number } }
  > {
    let built: { request: HttpRequest; body: BodyState };
    try {
      built = buildRequest(head, rest, conn, this.#options.maxHeadBytes);
    } catch (error) {
      // The head passed parseHead, so this is a gap in it: refuse, log.
      logger.error("http {addr}: request refused: {error}", {
        addr: `${remoteAddr.hostname}:${remoteAddr.port}`,
        error: errorMessage(error),
      });
      await conn.write(simpleResponse(400, "bad request")).catch(() => {});
      return {};
    }
    const { request, body } = built;
    let answer: HttpAnswer;
    try {
      answer = await this.#handler(request, { remoteAddr });
    } catch (error) {
      logger.error("HTTP handler failed: {error}", {
        error: errorMessage(error),
      });
      answer = whole(
        500,
        { "Content-Type": "text/plain; charset=utf-8" },
        "internal error\n",
      );
    }
    // A stream: no length; it ends when the connection closes.
    if (answer.kind === "stream") return { stream: answer };
    let keepAlive = false;
    try {
      const bytes = answer.body === null ? EMPTY : encoder.encode(answer.body);
      keepAlive = !this.#closed && clientKeepsAlive(head) &&
        !hasToken(headerOf(answer.headers, "connection") ?? null, "close") &&
        canSkipRest(head, body.unread());
      // Head and body in one write: a second small write could wait for
      // the client's delayed acknowledgement of the first (Nagle).
      const responseHead = encoder.encode(encodeHead(
        answer.status,
        answer.headers,
        keepAlive,
        bytes.length,
      ));
      await conn.write(
        request.method === "HEAD" || bytes.length === 0
          ? responseHead
          : concatBytes([responseHead, bytes]),
      );
    } catch {
      return {};
    }
    const skip = body.unread();
    if (!keepAlive || skip === undefined) return {};
    return { next: { carried: body.reader.takeBuffered(), skip } };
  }

  /**
   * Reads up to the blank line ending the head, within the limits, starting
   * with the `carried` bytes, after dropping `skip` bytes (the unread body of
   * the previous request). Null when the connection ends, or a kept-alive one
   * stays idle past the head timeout, before any byte of a request.
   */
  async #readHead(
    conn: SocketConn,
    carried: Uint8Array,
    skip: number,
    keptAlive: boolean,
  ): Promise<{ head: ParsedHead; rest: Uint8Array } | null> {
    const { maxHeadBytes, maxTargetBytes, headTimeoutMs } = this.#options;
    const limits: HeadLimits = {
      maxHeaderBytes: maxHeadBytes,
      maxTargetBytes,
    };
    const skipped = Math.min(skip, carried.length);
    skip -= skipped;
    carried = carried.subarray(skipped);
    // Most heads are far below the limit: start small, grow when needed, so
    // that accepting 10,000 connections does not churn 16 KiB buffers.
    // The request line (method, target, version) and the header lines.
    const largest = maxTargetBytes + 32 + maxHeadBytes + 4;
    let buffer = new Uint8Array(
      Math.min(largest, Math.max(HEAD_BUFFER_START, carried.length)),
    );
    let length = Math.min(carried.length, buffer.length);
    buffer.set(carried.subarray(0, length));
    // Pipelined bytes beyond a full buffer: the head ends in the buffer or
    // is too large, so these belong to what follows it.
    const beyond = carried.subarray(length);
    this.#deadlines.set(conn, Date.now() + headTimeoutMs);
    try {
      let from = 0;
      while (true) {
        const end = indexOfBlankLine(buffer, from, length);
        if (end >= 0) {
          return {
            head: parseHead(latin1(buffer.subarray(0, end)), limits),
            rest: concatBytes([buffer.subarray(end + 4, length), beyond]),
          };
        }
        if (length >= largest - 4) {
          // No end of the request line yet: its target is the long part.
          const lineEnded = buffer.subarray(0, length).indexOf(10) >= 0;
          throw lineEnded
            ? new HeadError(
              431,
              `request headers larger than ${maxHeadBytes} bytes`,
            )
            : new HeadError(
              414,
              `request URL too long (limit ${maxTargetBytes} characters)`,
            );
        }
        from = Math.max(0, length - 3);
        // While skipping, read no further than the body's end (length is 0
        // then), so that the next head is not read into the skipped part.
        if (skip === 0 && length === buffer.length) {
          const bigger = new Uint8Array(Math.min(largest, buffer.length * 4));
          bigger.set(buffer);
          buffer = bigger;
        }
        const into = skip > 0
          ? buffer.subarray(0, Math.min(skip, buffer.length))
          : buffer.subarray(length);
        const n = await conn.readInterruptibly(into);
        if (n === INTERRUPTED) {
          if (length === 0 && keptAlive) return null;
          throw new HeadError(408, "request head not received in time");
        }
        if (n === null) {
          if (length === 0) return null;
          throw new Error("closed before the request head ended");
        }
        if (skip > 0) skip -= n;
        else length += n;
      }
    } finally {
      this.#deadlines.clear(conn);
      conn.clearInterrupt();
    }
  }
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
