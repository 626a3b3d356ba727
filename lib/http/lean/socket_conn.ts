/**
 * A TCP connection of the lean HTTP engine: a `node:net` socket read on
 * demand and written whole, each write reporting when the kernel has it.
 *
 * Why `node:net` and not `Deno.listen`: fanning one small event out to
 * 10,000 sockets costs Deno's own `Deno.Conn.write` far more than the
 * `node:net` socket's write (`scripts/bench/raw_fanout.ts`, with no hub at
 * all: 1 event loop, p99 latency about 130 ms with `Deno.Conn`, 90 ms with
 * `node:net`), for about 1 KiB more per idle connection. The engine above keeps its pull-style reads (head, body, close watch) through
 * {@linkcode SocketConn.read}; the socket stops reading while more than
 * `MAX_UNREAD` bytes wait to be read, so a client cannot make the server
 * buffer its input.
 *
 * @module
 */

import type { Socket } from "node:net";

/**
 * Most bytes received and not read yet before the socket stops reading
 * (one arrival may overshoot it by its own size).
 */
const MAX_UNREAD = 65536;

/** What {@linkcode SocketConn.readInterruptibly} gives for a deadline. */
export const INTERRUPTED: unique symbol = Symbol("interrupted");

/**
 * A socket with pull reads (`read`), promised writes (`write`) and
 * callback writes for the streaming hot path (`send`).
 */
export class SocketConn {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  readonly #socket: Socket;
  /** Bytes received and not read yet, oldest first. */
  readonly #received: Uint8Array[] = [];
  /** Their total length. */
  #receivedBytes = 0;
  #paused = false;
  #ended = false;
  /** Set by `discardUntilEnd`: what arrives from now on is dropped. */
  #discarding = false;
  #error: Error | undefined;
  /** The pending `read`, woken by data, end or error. */
  #wake: (() => void) | undefined;
  /** Called once at the end, when `discardUntilEnd` asked for it. */
  #onEnd: (() => void) | undefined;
  /** Set by `interrupt` until an interruptible read has seen it. */
  #interrupted = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    // Events go out as soon as they are written, not after the client's
    // delayed acknowledgement of the previous one.
    socket.setNoDelay(true);
    socket.on("data", (data: Uint8Array) => {
      if (this.#discarding) return;
      this.#received.push(data);
      this.#receivedBytes += data.length;
      // Nothing more comes in while this much waits to be read. Pausing on
      // every arrival instead would stop and restart reading per request.
      if (this.#receivedBytes >= MAX_UNREAD) {
        this.#paused = true;
        socket.pause();
      }
      this.#notify();
    });
    socket.on("end", () => this.#finish());
    socket.on("close", () => this.#finish());
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#notify();
    });
  }

  /**
   * Reads into `into`: the number of bytes read, or null once the client
   * has ended its side (or the connection closed). Throws the socket's
   * error. One read at a time.
   */
  async read(into: Uint8Array): Promise<number | null> {
    while (this.#received.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#take(into);
  }

  /**
   * As {@linkcode SocketConn.read}, but {@linkcode INTERRUPTED} when
   * {@linkcode SocketConn.interrupt} came first (a deadline passed).
   */
  async readInterruptibly(
    into: Uint8Array,
  ): Promise<number | null | typeof INTERRUPTED> {
    while (this.#received.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      if (this.#interrupted) {
        this.#interrupted = false;
        return INTERRUPTED;
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#take(into);
  }

  /** Makes a waiting (or the next) interruptible read give up. */
  interrupt(): void {
    this.#interrupted = true;
    this.#notify();
  }

  /** Forgets an interrupt no read has seen. */
  clearInterrupt(): void {
    this.#interrupted = false;
  }

  #take(into: Uint8Array): number {
    const first = this.#received[0];
    const n = Math.min(first.length, into.length);
    into.set(n === first.length ? first : first.subarray(0, n));
    if (n === first.length) this.#received.shift();
    else this.#received[0] = first.subarray(n);
    this.#receivedBytes -= n;
    if (this.#paused && this.#receivedBytes < MAX_UNREAD) {
      this.#paused = false;
      this.#socket.resume();
    }
    return n;
  }

  /**
   * Reads and drops everything from now on, and calls `onEnd` once the
   * client ends its side, the connection closes or fails: how a stream
   * notices its client has gone. A callback, not a promise: an idle stream
   * then keeps no promise or suspended function for it.
   */
  discardUntilEnd(onEnd: () => void): void {
    this.#discarding = true;
    this.#received.length = 0;
    this.#receivedBytes = 0;
    this.#paused = false;
    this.#socket.resume();
    if (this.#ended || this.#error) onEnd();
    else this.#onEnd = onEnd;
  }

  /** Writes all of `bytes`; resolves once the kernel has them. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.send(bytes, (error) => error ? reject(error) : resolve())
    );
  }

  /**
   * Writes all of `bytes` and calls `done` once the kernel has them (with
   * the error when the write failed). The streaming path: the caller passes
   * the same `done` every time, so a write costs no allocation of ours.
   */
  send(bytes: Uint8Array, done: (error?: Error | null) => void): void {
    this.#socket.write(bytes, done);
  }

  /**
   * Closes the connection at once: writes the kernel has not taken yet are
   * dropped (a stream closes only after its last write's callback).
   * Idempotent.
   */
  close(): void {
    this.#socket.destroy();
  }

  #finish(): void {
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    const onEnd = this.#onEnd;
    if (onEnd && (this.#ended || this.#error)) {
      this.#onEnd = undefined;
      onEnd();
    }
  }
}
