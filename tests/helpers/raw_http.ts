/**
 * Raw HTTP exchanges over a TCP socket, for requests no HTTP client would
 * send: arbitrary bytes in, the status line (or the connection's end) out.
 *
 * @module
 */

import { Condition } from "./condition.ts";

const decoder = new TextDecoder();

/** What came back for a raw request. */
export interface RawAnswer {
  /** The status code, or null when the server closed without answering. */
  readonly status: number | null;
  /** The answer's head and what followed it, decoded as it arrived. */
  readonly text: string;
  /** True when the server closed the connection after its answer. */
  readonly closed: boolean;
}

/** A raw connection whose incoming text is collected as it arrives. */
export interface RawConnection extends AsyncDisposable {
  readonly conn: Deno.TcpConn;
  /** What arrived since the connection opened (or `clear`). */
  text(): string;
  clear(): void;
  /** True once the server closed the connection (or it failed). */
  closed(): boolean;
  /** Waits until `check()` holds, at most `timeoutMs`. */
  until(check: () => boolean, timeoutMs?: number): Promise<void>;
  /** Closes this end and waits for the reading to stop. */
  close(): Promise<void>;
}

/** Connects to `port` on loopback and collects what the server sends. */
export async function openRaw(port: number): Promise<RawConnection> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let text = "";
  let closed = false;
  const changed = new Condition();
  const reading = (async () => {
    const buffer = new Uint8Array(16384);
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      changed.notify();
    }
    closed = true;
    changed.notify();
  })();
  const close = async () => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    await reading;
  };
  return {
    conn,
    text: () => text,
    clear: () => {
      text = "";
    },
    closed: () => closed,
    until: async (check, timeoutMs = 10_000) => {
      await changed.wait(() => check() ? true : undefined, {
        timeoutMs,
        timeout: () =>
          new Error(
            `not in time; received ${JSON.stringify(text.slice(0, 500))}${
              closed ? ", then closed" : ""
            }`,
          ),
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Sends `parts` (each a separate write) and reads until a whole answer has
 * arrived: a head and its `Content-Length` body, or a head of an event
 * stream, or the connection's end. With `untilClosed`, also waits for the
 * server to close the connection. At most `timeoutMs` in all.
 */
export async function exchange(
  port: number,
  parts: Uint8Array | readonly Uint8Array[],
  { timeoutMs = 10_000, untilClosed = false } = {},
): Promise<RawAnswer> {
  const raw = await openRaw(port);
  /** Whether the server had closed when the answer was taken. */
  let closedByServer = false;
  try {
    for (const part of parts instanceof Uint8Array ? [parts] : parts) {
      try {
        await writeAll(raw.conn, part);
      } catch {
        break; // the server answered and closed first
      }
    }
    // An answer to HEAD has a Content-Length but no body.
    const first = parts instanceof Uint8Array ? parts : parts[0];
    const head = first !== undefined &&
      decoder.decode(first.subarray(0, 5)) === "HEAD ";
    await raw.until(
      () => raw.closed() || (answered(raw.text(), head) && !untilClosed),
      timeoutMs,
    );
  } finally {
    closedByServer = raw.closed();
    await raw.close();
  }
  const text = raw.text();
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return {
    status: status ? Number(status[1]) : null,
    text,
    closed: closedByServer,
  };
}

/**
 * Whether `text` holds a whole answer (or an event stream's head); `head`:
 * the answer to a HEAD request, which has no body whatever its length says.
 */
function answered(text: string, head: boolean): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  if (head) return true;
  const fields = text.slice(0, end);
  if (/^content-type: text\/event-stream/im.test(fields)) return true;
  const length = /^content-length: (\d+)/im.exec(fields);
  return text.length - end - 4 >= Number(length?.[1] ?? 0);
}

/** Writes all of `bytes`. */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Bytes of a latin1 string: each char one byte, as on the wire. */
export function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}
