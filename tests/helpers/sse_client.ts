/**
 * A small streaming SSE client for tests: reads a `text/event-stream`
 * response as it arrives and parses it into events the way `EventSource`
 * does, keeping the raw text too so tests can check the exact bytes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Condition } from "./condition.ts";

/** One parsed event. */
export interface ReceivedEvent {
  readonly type: string;
  readonly data: string;
  readonly id?: string;
}

/** An event without its id, for tests about type and data only. */
export function typeAndData(
  event: ReceivedEvent,
): { type: string; data: string } {
  return { type: event.type, data: event.data };
}

/** An open subscription. */
export interface SseConnection extends AsyncDisposable {
  readonly response: Response;
  /** Waits for the next event (comments are skipped). */
  nextEvent(timeoutMs?: number): Promise<ReceivedEvent>;
  /** Everything received so far, unparsed. */
  raw(): string;
  /** Waits until the raw text matches. */
  waitForRaw(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): Promise<void>;
}

/** Opens `url` and starts reading its event stream. */
export async function connect(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<SseConnection> {
  const response = await fetch(url, init);
  if (!response.body) throw new Error("response has no body");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  // Everything received, joined only when asked for; the parser works on
  // the unparsed rest alone, so the events it makes (slices of that text)
  // never hold on to the whole stream, however long it gets.
  const received: string[] = [];
  const raw = (): string => {
    if (received.length > 1) {
      received.splice(0, received.length, received.join(""));
    }
    return received[0] ?? "";
  };
  let pending = "";
  const events: ReceivedEvent[] = [];
  const changed = new Condition();
  let finished = false;
  const notify = () => changed.notify();
  const parse = () => {
    // Events end at a blank line; parse every complete one.
    let parsePos = 0;
    while (true) {
      const end = pending.indexOf("\n\n", parsePos);
      if (end < 0) break;
      const block = pending.slice(parsePos, end);
      parsePos = end + 2;
      let type = "message";
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") type = value;
        else if (field === "data") data.push(value);
        else if (field === "id") id = value;
      }
      if (data.length > 0) events.push({ type, data: data.join("\n"), id });
    }
    pending = pending.slice(parsePos);
  };
  const ended = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        received.push(value);
        pending += value;
        parse();
        notify();
      }
    } catch {
      // Cancelled by close(), or the connection was cut.
    } finally {
      finished = true;
      notify();
    }
  })();
  const waitFor = (ready: () => boolean, what: string, timeoutMs: number) =>
    changed.wait(() => ready() || undefined, {
      timeoutMs,
      fail: () =>
        finished
          ? new Error(
            `stream ended while waiting for ${what}; got:\n${tail(raw())}`,
          )
          : undefined,
      timeout: () =>
        new Error(`timed out waiting for ${what}; got:\n${tail(raw())}`),
    });
  const close = async () => {
    await reader.cancel().catch(() => {});
    await ended;
  };
  return {
    response,
    async nextEvent(timeoutMs = 5000) {
      await waitFor(() => events.length > 0, "an event", timeoutMs);
      return events.shift()!;
    },
    raw,
    async waitForRaw(pattern, timeoutMs = 5000) {
      await waitFor(() => pattern.test(raw()), String(pattern), timeoutMs);
    },
    ended,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The end of a long text, for error messages. */
function tail(text: string): string {
  return text.length > 600 ? `…${text.slice(-600)}` : text;
}

/** Reads the next `count` events of `sub`, each within `timeoutMs`. */
export async function take(
  sub: SseConnection,
  count: number,
  timeoutMs = 5000,
): Promise<ReceivedEvent[]> {
  const events: ReceivedEvent[] = [];
  for (let i = 0; i < count; i++) events.push(await sub.nextEvent(timeoutMs));
  return events;
}

/** Opens a raw subscription with a hand-written request and reads the head. */
export async function rawSubscribe(
  port: number,
  path: string,
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
  );
  const head = new Uint8Array(1024);
  const n = await conn.read(head);
  assert.match(
    new TextDecoder().decode(head.subarray(0, n ?? 0)),
    /^HTTP\/1\.1 200/,
  );
  return conn;
}
