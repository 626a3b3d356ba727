/**
 * A real browser reconnecting: headless Chromium's `EventSource` reaches the
 * real server through a TCP proxy written here, which can cut every
 * connection on demand and hold new ones back. After the cut the browser
 * reconnects on its own (the server announces `retry: 300`) with the
 * `Last-Event-ID` of the last event it saw, and must be sent the events
 * published while it was away: each once, in order.
 *
 * Needs Chromium (`apt-get install chromium`, or scripts/install_test_deps.sh).
 *
 * @module
 */

import assert from "node:assert/strict";
import { findChromium, launchChromium, servePage } from "../helpers/cdp.ts";
import { startServer } from "../helpers/server_process.ts";
import { connect, type ReceivedEvent } from "../helpers/sse_client.ts";
import { get } from "../helpers/publishers.ts";

/**
 * A TCP proxy on 127.0.0.1 to one local port. `cut()` closes both sockets
 * of every current connection; while `hold()` is in force, new connections
 * are accepted but not forwarded until `release()`.
 */
class TcpProxy implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #targetPort: number;
  readonly #open = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #gate: PromiseWithResolvers<void> | null = null;
  #closed = false;
  /** Connections accepted so far. */
  accepted = 0;
  /** Connections forwarded to the target so far. */
  forwarded = 0;
  /** The first bytes each forwarded client sent (its request head). */
  readonly requests: string[] = [];

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  /** New connections wait (accepted, not forwarded) until `release()`. */
  hold(): void {
    this.#gate ??= Promise.withResolvers();
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = null;
  }

  /** Closes both sockets of every current connection; returns how many. */
  cut(): number {
    const count = this.#open.size;
    for (const conn of this.#open) closeQuietly(conn);
    this.#open.clear();
    return count;
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.close();
      this.release();
      this.cut();
    }
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return; // The listener was closed.
      }
      this.accepted++;
      const task = this.#serve(client);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    this.#open.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      if (this.#gate) await this.#gate.promise;
      if (!this.#open.has(client)) return; // Cut while held.
      upstream = await Deno.connect({
        hostname: "127.0.0.1",
        port: this.#targetPort,
      });
      this.#open.add(upstream);
      this.forwarded++;
      const index = this.requests.push("") - 1;
      await Promise.all([
        pump(client, upstream, (text) => {
          if (!this.requests[index].includes("\r\n\r\n")) {
            this.requests[index] += text;
          }
        }),
        pump(upstream, client),
      ]);
    } catch {
      // The target refused, or the connection was cut.
    } finally {
      for (const conn of [client, upstream]) {
        if (!conn) continue;
        this.#open.delete(conn);
        closeQuietly(conn);
      }
    }
  }
}

/**
 * Copies bytes from one socket to the other, showing them to `sniff`; when
 * either ends, ends both.
 */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  sniff?: (text: string) => void,
): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  const decoder = new TextDecoder();
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      sniff?.(decoder.decode(buffer.subarray(0, n), { stream: true }));
      let written = 0;
      while (written < n) {
        written += await to.write(buffer.subarray(written, n));
      }
    }
  } catch {
    // Cut: the socket was closed under the read or the write.
  } finally {
    closeQuietly(from);
    closeQuietly(to);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** The page: an EventSource on the URL in `?sse=`, recording everything. */
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>sse-server reconnection test</title></head>
<body>
<pre id="log"></pre>
<script>
"use strict";
const url = new URL(location.href).searchParams.get("sse");
const state = { opened: 0, errors: 0, events: [] };
window.sseTest = state;
const source = new EventSource(url);
const log = (text) => document.getElementById("log").append(text + "\\n");
source.onopen = () => { state.opened++; log("open"); };
source.onerror = () => { state.errors++; log("error, readyState " + source.readyState); };
source.onmessage = (event) => {
  state.events.push({ data: event.data, lastEventId: event.lastEventId });
  log(event.lastEventId + " " + event.data);
};
</script>
</body>
</html>
`;

interface PageState {
  opened: number;
  errors: number;
  events: { data: string; lastEventId: string }[];
}

Deno.test("browser: EventSource reconnects after its connection is cut and is sent exactly what it missed", async () => {
  const started = performance.now();
  const executable = await findChromium();
  // Disposed in reverse order, also on failure: browser, page server,
  // proxy, witness, server.
  await using server = await startServer(["--retry", "300"]);
  // Connected to the server directly, never cut: it sees every event's id.
  await using witness = await connect(`${server.baseUrl}/news`);
  await using proxy = new TcpProxy(server.httpPort);
  await using pageServer = servePage(PAGE);
  await using browser = await launchChromium({ executable });
  const page = await browser.newPage();
  const streamUrl = `http://127.0.0.1:${proxy.port}/news`;
  await page.goto(
    `http://127.0.0.1:${pageServer.addr.port}/?sse=${
      encodeURIComponent(streamUrl)
    }`,
  );
  await page.waitFor("window.sseTest.opened > 0", 10_000, "window.sseTest");
  await server.waitForOutput(/client 2 connected from/);

  /** Publishes `message=n` and returns the number of clients it reached. */
  const publish = async (n: number) => {
    const answer = await get(`${server.baseUrl}/news?message=${n}`);
    assert.equal(answer.status, 200, answer.body);
    const reached = /^OK: 1 event sent to (\d+) clients?\n$/.exec(answer.body);
    assert.ok(reached, answer.body);
    return Number(reached[1]);
  };

  // 1..3 reach the browser and the witness.
  for (const n of [1, 2, 3]) assert.equal(await publish(n), 2);
  await page.waitFor(
    "window.sseTest.events.length >= 3",
    10_000,
    "window.sseTest",
  );

  // Cut the browser off, and keep it off while 4..6 are published.
  proxy.hold();
  assert.ok(proxy.cut() >= 2, "no proxied connection to cut");
  await page.waitFor("window.sseTest.errors > 0", 10_000, "window.sseTest");
  await server.waitForOutput(
    /client 2 at \S+ closed \(client disconnected\)/,
  );
  // Only the witness gets them: the browser is not connected.
  for (const n of [4, 5, 6]) assert.equal(await publish(n), 1);
  proxy.release();

  await page.waitFor(
    "window.sseTest.events.length >= 6",
    15_000,
    "window.sseTest",
  );
  await server.waitForOutput(/client 3 connected from/);
  // Live again: 7 reaches both, and nothing came between 6 and 7.
  assert.equal(await publish(7), 2);
  await page.waitFor(
    "window.sseTest.events.length >= 7",
    10_000,
    "window.sseTest",
  );

  const witnessed: ReceivedEvent[] = [];
  for (let i = 0; i < 7; i++) witnessed.push(await witness.nextEvent());
  const state = await page.evaluate<PageState>("window.sseTest");
  assert.deepEqual(
    state.events.map((e) => e.data),
    ["1", "2", "3", "4", "5", "6", "7"],
  );
  // Each event with the same id the server gave it, none twice.
  assert.deepEqual(
    state.events,
    witnessed.map((e) => ({ data: e.data, lastEventId: e.id })),
  );
  assert.equal(new Set(state.events.map((e) => e.lastEventId)).size, 7);
  assert.ok(state.opened > 1, `opened ${state.opened} times: no reconnection`);
  assert.ok(state.errors > 0, "no error event at the cut");
  assert.ok(proxy.forwarded >= 2, `${proxy.forwarded} proxied connections`);
  // The first request had no Last-Event-ID; the reconnection named event 3.
  const streams = proxy.requests.filter((r) => r.startsWith("GET /news "));
  assert.equal(streams.length, 2, proxy.requests.join("\n---\n"));
  assert.doesNotMatch(streams[0], /^last-event-id:/im);
  assert.match(
    streams[1],
    new RegExp(`\\r\\nlast-event-id: ${witnessed[2].id}\\r\\n`, "i"),
  );
  // The server saw the browser come back as a second client of its own.
  await server.waitForOutput(/(client \d+ connected from[^]*){3}/);
  const connections = server.output().match(/client \d+ connected from/g);
  assert.equal(connections?.length, 3, server.output());

  await browser.close();
  await proxy.close();
  assert.equal(await server.stop(), 0, "server did not halt cleanly");
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 60_000, `took ${Math.round(elapsed)} ms`);
  console.log(
    `${browser.version}: opened ${state.opened}, errors ${state.errors}, ${proxy.accepted} proxied connections; ${
      Math.round(elapsed)
    } ms; browser: ${browser.closeReport()}`,
  );
});
