/**
 * Publishing from tests through every input of the real program: HTTP GET
 * and POST, the control port (a line-oriented TCP client that collects the
 * server's `error: …` answers) and the FIFO; plus a raw HTTP/1.1 exchange for
 * requests `fetch` cannot shape exactly (a chunked body written in pieces).
 *
 * @module
 */

import { Condition, within } from "./condition.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An HTTP answer read to its end. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** GETs `url` and reads the whole answer. */
export async function get(
  url: string,
  init: RequestInit = {},
): Promise<Answer> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(10_000),
    ...init,
  });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}

/**
 * POSTs `body` to `url`. A string body gets `contentType` (when given) as its
 * `Content-Type`; a `Uint8Array` with no `contentType` is sent without one.
 */
export async function post(
  url: string,
  body: string | Uint8Array<ArrayBuffer>,
  contentType?: string,
): Promise<Answer> {
  const headers = new Headers();
  if (contentType !== undefined) headers.set("Content-Type", contentType);
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: typeof body === "string" ? encoder.encode(body) : body,
    signal: AbortSignal.timeout(10_000),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}

/** The `{"ids": [...], "clients": N}` answer of an accepted POST. */
export interface PostResult {
  readonly ids: (string | null)[];
  readonly clients: number;
}

/** Parses an answer's JSON body, failing with the body if it is not JSON. */
export function jsonOf<T>(answer: Answer): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    throw new Error(
      `expected a JSON body, got ${answer.status} ${
        JSON.stringify(answer.body)
      }`,
    );
  }
}

/** Writes `text` to a FIFO the way `printf ... > fifo` does: open, write, close. */
export async function writeFifo(path: string, text: string): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
  } finally {
    file.close();
  }
}

/** A TCP controller on the control port. */
export interface Controller extends AsyncDisposable {
  readonly conn: Deno.TcpConn;
  /** This end's port, as the server's log names the controller. */
  readonly port: number;
  /** Writes `text` as it is (the caller adds line breaks). */
  send(text: string): Promise<void>;
  /** Every complete line the server sent back so far. */
  received(): string[];
  /** Waits until the server has sent `count` lines, and returns all lines. */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
  /** Resolves when the server has closed the connection. */
  closedByServer(timeoutMs?: number): Promise<void>;
  /** True once the connection has ended. */
  readonly finished: boolean;
  close(): Promise<void>;
}

/** Connects a controller to the control port (on 127.0.0.1 by default). */
export async function openController(
  port: number,
  hostname = "127.0.0.1",
): Promise<Controller> {
  const conn = await Deno.connect({ hostname, port });
  const changed = new Condition();
  let text = "";
  let finished = false;
  const reading = (async () => {
    const buffer = new Uint8Array(4096);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n), { stream: true });
        changed.notify();
      }
    } catch {
      // Closed by close() or cut by the server.
    } finally {
      finished = true;
      changed.notify();
    }
  })();
  const lines = () => text.split("\n").slice(0, -1);
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await reading;
  };
  return {
    conn,
    async send(message: string) {
      const bytes = encoder.encode(message);
      let written = 0;
      while (written < bytes.length) {
        written += await conn.write(bytes.subarray(written));
      }
    },
    received: lines,
    waitForLines: (count, timeoutMs = 5000) =>
      changed.wait(() => lines().length >= count ? lines() : undefined, {
        timeoutMs,
        fail: () =>
          finished
            ? new Error(
              `control connection ended after ${lines().length} of ${count} lines: ${
                JSON.stringify(text)
              }`,
            )
            : undefined,
        timeout: () =>
          new Error(
            `timed out waiting for ${count} lines from the control port; got ${
              JSON.stringify(text)
            }`,
          ),
      }),
    port: (conn.localAddr as Deno.NetAddr).port,
    closedByServer: (timeoutMs = 5000) =>
      within(reading, timeoutMs, "the server closing the connection"),
    get finished() {
      return finished;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Sends a hand-written HTTP/1.1 request: `head` (request line and headers,
 * without the blank line), then each of `bodyParts` as a separate write. The
 * request should say `Connection: close`; the answer is read until the
 * server closes the connection (bounded by `timeoutMs`).
 */
export async function rawRequest(
  port: number,
  head: string,
  bodyParts: readonly Uint8Array[],
  timeoutMs = 10_000,
): Promise<Answer & { readonly raw: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }, timeoutMs);
  let raw = "";
  try {
    const reading = (async () => {
      const buffer = new Uint8Array(4096);
      while (true) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        raw += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
    })();
    try {
      await conn.write(encoder.encode(`${head}\r\n\r\n`));
      for (const part of bodyParts) {
        let written = 0;
        while (written < part.length) {
          written += await conn.write(part.subarray(written));
        }
      }
    } catch {
      // The server may answer and close before the whole body is sent.
    }
    await reading;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) {
    throw new Error(`no complete HTTP answer: ${JSON.stringify(raw)}`);
  }
  const [statusLine, ...headerLines] = raw.slice(0, end).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = raw.slice(end + 4);
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    body = dechunk(body);
  }
  return { status: Number(status[1]), headers, body, raw };
}

/** Decodes a chunked HTTP body (sizes in hex, each chunk followed by CRLF). */
function dechunk(text: string): string {
  let out = "";
  let pos = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const lineEnd = text.indexOf("\r\n", pos);
    if (lineEnd < 0) break;
    const size = parseInt(text.slice(pos, lineEnd), 16);
    if (!(size > 0)) break;
    out += text.slice(lineEnd + 2, lineEnd + 2 + size);
    pos = lineEnd + 2 + size + 2;
  }
  return out;
}

/** The lines of a raw event stream (LF-separated, as the server writes it). */
export function streamLines(raw: string): string[] {
  return raw.split("\n");
}
