/**
 * The control port: a plain-text TCP (or TLS) listener that takes the same
 * instruction lines as the FIFO. Every line of every write is handled; errors
 * are answered with an `error: …` line and logged, and the connection stays
 * open.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Dispatcher } from "../core/dispatch.ts";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import type { AuthResult } from "../auth/auth.ts";
import { acceptLoop, closeQuietly } from "./connections.ts";
import { type LineLimits, readInstructions } from "./line_input.ts";
import { TokenBucket } from "../auth/rate_limit.ts";
import type { TlsFiles } from "../config/tls.ts";

const logger = getLogger(["sse-server", "control"]);
const encoder = new TextEncoder();

/** Settings of a {@linkcode ControlPort}. */
export interface ControlPortOptions {
  readonly hostname: string;
  /** TCP port; 0 lets the system choose. */
  readonly port: number;
  /** Present: speak TLS with this certificate. */
  readonly tls?: TlsFiles;
  readonly limits: LineLimits;
  /** Most connections at once; one more is answered with an error and closed. */
  readonly maxConnections: number;
  /** Close a connection silent for this long (ms); 0: never. */
  readonly idleTimeoutMs: number;
  /** Events per second per connection; 0: no limit. */
  readonly publishRate: number;
  /** When set, every connection must start with `auth CREDENTIAL`. */
  readonly authenticate?: (credential: string) => Promise<AuthResult>;
}

/** One open control connection. */
interface Peer {
  readonly name: string;
  /** When it last sent anything (ms since epoch). */
  lastActivity: number;
}

/**
 * A listening control port. {@linkcode ControlPort.close} stops listening,
 * closes every connection and waits until their readers have finished.
 */
export class ControlPort implements AsyncDisposable {
  readonly #listener: Deno.Listener;
  readonly #connections = new Map<Deno.Conn, Peer>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #dispatcher: Dispatcher;
  readonly #options: ControlPortOptions;
  readonly #accepting: Promise<void>;
  readonly #idleTimer?: ReturnType<typeof setInterval>;
  #closed = false;

  private constructor(
    listener: Deno.Listener,
    dispatcher: Dispatcher,
    options: ControlPortOptions,
  ) {
    this.#listener = listener;
    this.#dispatcher = dispatcher;
    this.#options = options;
    this.#accepting = this.#accept();
    if (options.idleTimeoutMs > 0) {
      // One timer for every connection's idle check.
      const period = Math.max(10, Math.min(1000, options.idleTimeoutMs / 4));
      this.#idleTimer = setInterval(() => this.#closeIdle(), period);
    }
  }

  /**
   * Starts listening. Throws {@linkcode StartupError} when the port cannot be
   * opened.
   */
  static listen(
    options: ControlPortOptions,
    dispatcher: Dispatcher,
  ): ControlPort {
    const { hostname, port, tls } = options;
    let listener: Deno.Listener;
    try {
      listener = tls
        ? Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key })
        : Deno.listen({ hostname, port });
    } catch (error) {
      throw new StartupError(
        `cannot listen on control port ${hostname}:${port}: ${
          errorMessage(error)
        }`,
        tls && !(error instanceof Deno.errors.AddrInUse)
          ? ExitCode.unavailable
          : ExitCode.cantCreate,
        { cause: error },
      );
    }
    return new ControlPort(listener, dispatcher, options);
  }

  /** The address actually bound. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Addresses of the connected controllers. */
  peers(): string[] {
    return [...this.#connections.values()].map((peer) => peer.name);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    clearInterval(this.#idleTimer);
    for (const conn of this.#connections.keys()) closeQuietly(conn);
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #accept(): Promise<void> {
    return acceptLoop(this.#listener, {
      closed: () => this.#closed,
      tasks: this.#tasks,
      name: "control port",
      serve: (conn) => {
        if (this.#connections.size < this.#options.maxConnections) {
          return this.#serve(conn);
        }
        this.#turnAway(conn);
        return undefined;
      },
    });
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const name = `${remote.hostname}:${remote.port}`;
    const peer: Peer = { name, lastActivity: Date.now() };
    this.#connections.set(conn, peer);
    logger.info("controller connected from {name}", { name });
    const { publishRate, authenticate } = this.#options;
    // Every chunk read counts as activity for the idle timeout.
    const active = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        peer.lastActivity = Date.now();
        controller.enqueue(chunk);
      },
    });
    try {
      await readInstructions(conn.readable.pipeThrough(active), {
        source: { kind: "control", name },
        dispatcher: this.#dispatcher,
        ...this.#options.limits,
        authenticate,
        rate: publishRate > 0 ? new TokenBucket(publishRate) : undefined,
        reply: async (text) => {
          await conn.write(encoder.encode(text));
        },
      });
    } catch (error) {
      if (!this.#closed) {
        logger.warn("controller {name}: {error}", {
          name,
          error: errorMessage(error),
        });
      }
    } finally {
      this.#connections.delete(conn);
      closeQuietly(conn);
      logger.info("controller {name} disconnected", { name });
    }
  }

  /** Answers a connection past the limit and closes it. */
  #turnAway(conn: Deno.Conn): void {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const limit = this.#options.maxConnections;
    logger.warn(
      "controller {addr} refused: {limit} control connections already open",
      {
        addr: `${remote.hostname}:${remote.port}`,
        limit,
      },
    );
    this.#sayAndClose(
      conn,
      `error: too many control connections (limit ${limit})\n`,
    );
  }

  /**
   * Writes a last line and closes; a peer that does not read gets 1 s. The
   * task is tracked so close() waits for it.
   */
  #sayAndClose(conn: Deno.Conn, text: string): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const task = Promise.race([
      conn.write(encoder.encode(text)).catch(() => 0),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]).finally(() => {
      clearTimeout(timer);
      closeQuietly(conn);
    }).then(() => {});
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #closeIdle(): void {
    const oldest = Date.now() - this.#options.idleTimeoutMs;
    for (const [conn, peer] of this.#connections) {
      if (peer.lastActivity > oldest) continue;
      logger.info("controller {name} idle for {seconds} s, closing", {
        name: peer.name,
        seconds: this.#options.idleTimeoutMs / 1000,
      });
      this.#connections.delete(conn);
      this.#sayAndClose(conn, "error: idle timeout, closing\n");
    }
  }
}
