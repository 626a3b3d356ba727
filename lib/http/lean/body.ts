/**
 * The lean engine's request bodies: by `Content-Length` or
 * `Transfer-Encoding: chunked`, read from the socket only as the handler
 * reads them, each part bounded.
 *
 * Bounds of a chunked body, past which its stream errors (the handler
 * answers 400 and the connection is closed): a chunk-size line of at most
 * `MAX_CHUNK_LINE` bytes, whose extensions must be well-formed (tokens or
 * quoted strings: no NUL or other controls); trailer lines, which are
 * read and dropped, at most `MAX_FIELD_LINES` and `maxTrailerBytes` in all.
 * A line is found by scanning what has been read, not byte by byte.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { FieldMap, MAX_FIELD_LINES, parseFieldLine } from "./head.ts";
import type { SocketConn } from "./socket_conn.ts";

const EMPTY = new Uint8Array(0);
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Longest chunk-size line, extensions included. */
export const MAX_CHUNK_LINE = 1024;

// chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted ) ] )
const CHUNK_LINE = new RegExp(
  "^([0-9A-Fa-f]{1,8})" +
    "(?:[ \\t]*;[ \\t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+" +
    "(?:[ \\t]*=[ \\t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|" +
    '"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t\\x20-\\x7e\\x80-\\xff])*"' +
    "))?)*[ \\t]*$",
);

/** Reads a connection through a buffer, for request bodies. */
export class ConnReader {
  #pending: Uint8Array;
  readonly #conn: SocketConn;
  /** True while a read from the connection is under way. */
  busy = false;
  /** Send "100 Continue" before the first read from the connection. */
  sendContinue = false;

  constructor(first: Uint8Array, conn: SocketConn) {
    this.#pending = first;
    this.#conn = conn;
  }

  /** Up to `max` bytes (at least one), or null at end of input. */
  async read(max: number): Promise<Uint8Array | null> {
    if (this.#pending.length === 0 && !(await this.#fill(max))) return null;
    const out = this.#pending.subarray(0, max);
    this.#pending = this.#pending.subarray(out.length);
    return out;
  }

  /**
   * The next `count` bytes when they have all been read from the
   * connection already (taken), else undefined (nothing taken).
   */
  takeIfBuffered(count: number): Uint8Array | undefined {
    if (this.busy || this.sendContinue || this.#pending.length < count) {
      return undefined;
    }
    const out = this.#pending.subarray(0, count);
    this.#pending = this.#pending.subarray(count);
    return out;
  }

  /** The bytes read from the connection but not taken yet. */
  takeBuffered(): Uint8Array {
    const pending = this.#pending;
    this.#pending = EMPTY;
    return pending;
  }

  /**
   * One CRLF-ended line (without it) of at most `max` bytes, decoded byte
   * for byte; throws past `max` or at the end of input.
   */
  async line(max: number): Promise<string> {
    let text = "";
    while (true) {
      if (this.#pending.length === 0 && !(await this.#fill(max))) {
        throw new Error("body cut short");
      }
      const lf = this.#pending.indexOf(10);
      const end = lf < 0 ? this.#pending.length : lf + 1;
      text += latin1(this.#pending.subarray(0, end));
      this.#pending = this.#pending.subarray(end);
      if (text.length > max + 2) {
        throw new Error("chunk or trailer line too long");
      }
      if (lf >= 0) {
        if (!text.endsWith("\r\n")) throw new Error("bare LF in a chunk line");
        return text.slice(0, -2);
      }
    }
  }

  async #fill(max: number): Promise<boolean> {
    const buffer = new Uint8Array(Math.min(Math.max(max, 64), 65536));
    this.busy = true;
    let n: number | null;
    try {
      if (this.sendContinue) {
        this.sendContinue = false;
        await this.#conn.write(CONTINUE);
      }
      n = await this.#conn.read(buffer);
    } finally {
      this.busy = false;
    }
    if (n === null) return false;
    this.#pending = buffer.subarray(0, n);
    return true;
  }
}

/**
 * Decodes bytes one char each (header and chunk lines are ASCII or
 * obs-text): ISO-8859-1, as `node:buffer`'s `latin1`, not the WHATWG
 * `latin1` label (which is windows-1252 and maps 0x80-0x9f elsewhere).
 * `node:buffer` decodes a request head in about 0.2 µs, where spreading
 * its bytes into `String.fromCharCode` took about 6.
 */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
    .toString("latin1");
}

/** How far a request's body has been read. */
export class BodyState {
  readonly reader: ConnReader;
  /** Bytes of the body not read yet; undefined while unknown (chunked). */
  #left: number | undefined;

  constructor(reader: ConnReader, left: number | undefined) {
    this.reader = reader;
    this.#left = left;
  }

  /** Marks `count` more bytes read; with undefined, the end unknown again. */
  consumed(count: number | undefined): void {
    this.#left = count === undefined || this.#left === undefined
      ? undefined
      : this.#left - count;
  }

  /** The body was read to its end. */
  ended(): void {
    this.#left = 0;
  }

  /**
   * Bytes still to drop before the next request, or undefined when that is
   * not known (a chunked body not read to its end, a failed read, or a read
   * still under way).
   */
  unread(): number | undefined {
    return this.reader.busy ? undefined : this.#left;
  }
}

// Both body streams have a high-water mark of 0, so nothing is read from the
// socket before the handler asks for it.

/** A body of `length` bytes. */
export function lengthBody(
  reader: ConnReader,
  length: number,
  state: BodyState,
): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await reader.read(left);
      if (chunk === null) {
        state.consumed(undefined);
        return controller.error(new Error("body cut short"));
      }
      left -= chunk.length;
      state.consumed(chunk.length);
      controller.enqueue(chunk);
      if (left <= 0) controller.close();
    },
  }, { highWaterMark: 0 });
}

/**
 * Decodes `Transfer-Encoding: chunked` as the handler reads, within the
 * bounds in this module's note; trailers are checked and dropped.
 */
export function chunkedBody(
  reader: ConnReader,
  state: BodyState,
  maxTrailerBytes: number,
): ReadableStream<Uint8Array> {
  let left = 0; // bytes left in the current chunk
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (left === 0) {
          const size = CHUNK_LINE.exec(await reader.line(MAX_CHUNK_LINE));
          if (!size) throw new Error("malformed chunk size line");
          left = parseInt(size[1], 16);
          if (left === 0) {
            await readTrailers(reader, maxTrailerBytes);
            state.ended();
            return controller.close();
          }
        }
        const data = await reader.read(left);
        if (data === null) throw new Error("body cut short");
        left -= data.length;
        if (left === 0 && (await reader.line(0)) !== "") {
          throw new Error("malformed chunk end");
        }
        controller.enqueue(data);
      } catch (error) {
        controller.error(error);
      }
    },
  }, { highWaterMark: 0 });
}

/** Reads the trailer section up to its blank line, within the bounds. */
async function readTrailers(
  reader: ConnReader,
  maxBytes: number,
): Promise<void> {
  const trailers = new FieldMap();
  let bytes = 0;
  for (let lines = 0;; lines++) {
    const line = await reader.line(maxBytes - bytes);
    if (line === "") return;
    bytes += line.length + 2;
    if (lines >= MAX_FIELD_LINES) {
      throw new Error(`more than ${MAX_FIELD_LINES} trailer lines`);
    }
    parseFieldLine(line, trailers);
  }
}
