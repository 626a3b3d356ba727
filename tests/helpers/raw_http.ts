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
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let text = "";
  let closed = false;
  /** `closed` when the answer was taken, before this end closes. */
  let closedByServer = false;
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
  try {
    for (const part of parts instanceof Uint8Array ? [parts] : parts) {
      try {
        await writeAll(conn, part);
      } catch {
        break; // the server answered and closed first
      }
    }
    // An answer to HEAD has a Content-Length but no body.
    const first = parts instanceof Uint8Array ? parts : parts[0];
    const head = first !== undefined && decoder.decode(first.subarray(0, 5)) ===
        "HEAD ";
    await changed.wait(
      () => closed || (answered(text, head) && !untilClosed) ? true : undefined,
      {
        timeoutMs,
        timeout: () =>
          new Error(`no whole answer in time: ${JSON.stringify(text)}`),
      },
    );
  } finally {
    closedByServer = closed;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    await reading;
  }
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
