/**
 * Publishers of the load generator. A lane is one publisher connection that
 * sends its events in order: a control-port connection (lines
 * `cN = SEQ LANE MICROS`, as fast as TCP takes them), or an HTTP/1.1
 * keep-alive connection doing one POST at a time and waiting for each answer
 * (JSON `{"data": ...}` for sse-server, the raw text for nchan). Each lane
 * numbers its events per channel, so subscribers can check order per lane
 * even when several lanes publish at once.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One event as the generator sends it. */
export interface BenchEvent {
  readonly channel: number;
  readonly seq: number;
  readonly lane: number;
  /** Send time, microseconds, on the shared clock (`nowMicros`). */
  readonly micros: number;
}

/** The data field of an event: `SEQ LANE MICROS`. */
export function eventData(event: BenchEvent): string {
  return `${event.seq} ${event.lane} ${Math.round(event.micros)}`;
}

/** One ordered publisher connection. */
export interface Lane {
  /** Most events one `send` may carry (and for POST, all on one channel). */
  readonly maxBatch: number;
  /** True when every event of one `send` must be on the same channel. */
  readonly oneChannelPerBatch: boolean;
  /** Sends the events; resolves once the server has taken them. */
  send(events: readonly BenchEvent[]): Promise<void>;
  /** Answers that were not a success (HTTP status, control-port error line). */
  readonly errors: number;
  close(): void;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** A control-port connection: lines written as fast as TCP accepts them. */
export class ControlLane implements Lane {
  readonly maxBatch: number;
  readonly oneChannelPerBatch = false;
  errors = 0;
  #conn: Deno.Conn;
  #closed = false;

  private constructor(conn: Deno.Conn, maxBatch: number) {
    this.#conn = conn;
    this.maxBatch = maxBatch;
    this.#readReplies();
  }

  static async open(
    host: string,
    port: number,
    maxBatch: number,
  ): Promise<ControlLane> {
    const conn = await Deno.connect({ hostname: host, port });
    conn.setNoDelay(true);
    return new ControlLane(conn, maxBatch);
  }

  async send(events: readonly BenchEvent[]): Promise<void> {
    let text = "";
    for (const event of events) {
      text += `c${event.channel} = ${eventData(event)}\n`;
    }
    await writeAll(this.#conn, encoder.encode(text));
  }

  /** The server only answers errors; count them. */
  async #readReplies(): Promise<void> {
    const buffer = new Uint8Array(4096);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const text = decoder.decode(buffer.subarray(0, n));
        this.errors += text.split("error").length - 1;
      }
    } catch {
      // Closed.
    }
    if (!this.#closed) this.errors++;
  }

  close(): void {
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * How an HTTP publish is written: a JSON POST body (sse-server), a raw
 * text POST body (nchan), or a GET query (`?message=DATA`, the original's
 * way).
 */
export type PostFormat = "json" | "text" | "query";

/** An HTTP/1.1 keep-alive connection doing one publish at a time. */
export class PostLane implements Lane {
  readonly maxBatch: number;
  readonly oneChannelPerBatch = true;
  errors = 0;
  #host: string;
  #port: number;
  #prefix: string;
  #format: PostFormat;
  #conn: Deno.Conn | null = null;
  #buffer = new Uint8Array(16384);
  #length = 0;
  #closed = false;

  constructor(
    host: string,
    port: number,
    prefix: string,
    format: PostFormat,
    maxBatch: number,
  ) {
    this.#host = host;
    this.#port = port;
    this.#prefix = prefix;
    this.#format = format;
    // nchan takes one message per POST.
    this.maxBatch = format === "text" ? 1 : maxBatch;
  }

  async send(events: readonly BenchEvent[]): Promise<void> {
    const request = this.#format === "query"
      ? this.#query(events)
      : this.#post(events);
    for (let attempt = 0;; attempt++) {
      if (this.#closed) throw new Error("publisher lane closed");
      try {
        if (!this.#conn) {
          const conn = await Deno.connect({
            hostname: this.#host,
            port: this.#port,
          });
          conn.setNoDelay(true);
          this.#conn = conn;
          this.#length = 0;
        }
        await writeAll(this.#conn, request);
        const { status, close } = await this.#response();
        if (status < 200 || status > 299) this.errors++;
        if (close) this.#drop();
        return;
      } catch (error) {
        this.#drop();
        // A keep-alive connection the server closed: retry once on a new one.
        if (attempt >= 1) throw error;
      }
    }
  }

  /** `GET PREFIX/cN?message=DATA&…`: each parameter is one event. */
  #query(events: readonly BenchEvent[]): Uint8Array {
    const query = events.map((e) =>
      `message=${encodeURIComponent(eventData(e))}`
    ).join("&");
    return encoder.encode(
      `GET ${this.#prefix}c${
        events[0].channel
      }?${query} HTTP/1.1\r\nHost: ${this.#host}\r\n\r\n`,
    );
  }

  #post(events: readonly BenchEvent[]): Uint8Array {
    const body = this.#format === "text"
      ? eventData(events[0])
      : events.length === 1
      ? JSON.stringify({ data: eventData(events[0]) })
      : JSON.stringify(events.map((e) => ({ data: eventData(e) })));
    const type = this.#format === "json" ? "application/json" : "text/plain";
    const bodyBytes = encoder.encode(body);
    const head = `POST ${this.#prefix}c${
      events[0].channel
    } HTTP/1.1\r\nHost: ${this.#host}\r\nContent-Type: ${type}\r\nContent-Length: ${bodyBytes.length}\r\n\r\n`;
    const request = new Uint8Array(head.length + bodyBytes.length);
    request.set(encoder.encode(head));
    request.set(bodyBytes, head.length);
    return request;
  }

  #drop(): void {
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    this.#conn = null;
  }

  async #fill(): Promise<void> {
    if (this.#length === this.#buffer.length) {
      const bigger = new Uint8Array(this.#buffer.length * 2);
      bigger.set(this.#buffer);
      this.#buffer = bigger;
    }
    const n = await this.#conn!.read(this.#buffer.subarray(this.#length));
    if (n === null) throw new Error("connection closed by the server");
    this.#length += n;
  }

  /** Reads one response (head and body); returns its status. */
  async #response(): Promise<{ status: number; close: boolean }> {
    let headEnd = -1;
    while (headEnd < 0) {
      headEnd = findHeadEnd(this.#buffer, this.#length);
      if (headEnd < 0) await this.#fill();
    }
    const head = decoder.decode(this.#buffer.subarray(0, headEnd));
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
    const close = /\r\nconnection:\s*close/i.test(head);
    let end: number;
    if (length) {
      end = headEnd + Number(length[1]);
      while (this.#length < end) await this.#fill();
    } else if (chunked) {
      // Small bodies: wait for the last chunk.
      let last = -1;
      while (last < 0) {
        last = indexOf(this.#buffer, this.#length, headEnd, LAST_CHUNK);
        if (last < 0) await this.#fill();
      }
      end = last + LAST_CHUNK.length;
    } else {
      end = headEnd;
    }
    this.#buffer.copyWithin(0, end, this.#length);
    this.#length -= end;
    return { status, close };
  }

  /** Closes the connection; a send still waiting fails and is not retried. */
  close(): void {
    this.#closed = true;
    this.#drop();
  }
}

const LAST_CHUNK = encoder.encode("0\r\n\r\n");

function findHeadEnd(buffer: Uint8Array, length: number): number {
  for (let i = 3; i < length; i++) {
    if (
      buffer[i] === 10 && buffer[i - 1] === 13 && buffer[i - 2] === 10 &&
      buffer[i - 3] === 13
    ) return i + 1;
  }
  return -1;
}

function indexOf(
  buffer: Uint8Array,
  length: number,
  from: number,
  needle: Uint8Array,
): number {
  outer: for (let i = from; i + needle.length <= length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (buffer[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
