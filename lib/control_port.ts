/**
 * The control port: a plain-text TCP (or TLS) listener that takes the same
 * instruction lines as the FIFO. Every line of every write is handled; errors
 * are answered with an `error: …` line and logged, and the connection stays
 * open.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Dispatcher } from "./dispatch.ts";
import { errorMessage, ExitCode, StartupError } from "./errors.ts";
import { type LineLimits, readInstructions } from "./line_input.ts";
import type { TlsFiles } from "./tls.ts";

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
}

/**
 * A listening control port. {@linkcode ControlPort.close} stops listening,
 * closes every connection and waits until their readers have finished.
 */
export class ControlPort implements AsyncDisposable {
  readonly #listener: Deno.Listener;
  readonly #connections = new Map<Deno.Conn, string>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #dispatcher: Dispatcher;
  readonly #limits: LineLimits;
  readonly #accepting: Promise<void>;
  #closed = false;

  private constructor(
    listener: Deno.Listener,
    dispatcher: Dispatcher,
    limits: LineLimits,
  ) {
    this.#listener = listener;
    this.#dispatcher = dispatcher;
    this.#limits = limits;
    this.#accepting = this.#accept();
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
    return new ControlPort(listener, dispatcher, options.limits);
  }

  /** The address actually bound. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Addresses of the connected controllers. */
  peers(): string[] {
    return [...this.#connections.values()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const conn of this.#connections.keys()) closeQuietly(conn);
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        logger.error("control port: accept failed: {error}", {
          error: errorMessage(error),
        });
        continue;
      }
      const task = this.#serve(conn);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const name = `${remote.hostname}:${remote.port}`;
    this.#connections.set(conn, name);
    logger.info("controller connected from {name}", { name });
    try {
      await readInstructions(conn.readable, {
        source: { kind: "control", name },
        dispatcher: this.#dispatcher,
        ...this.#limits,
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
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed by the peer or by the reader's end.
  }
}
