// The HTTP edge against the real program on both engines: every request
// shape that once ended the process, escaped its channel, held memory or a
// socket, or leaked a token, each answered as documented while an open
// stream goes on receiving events.
import assert from "node:assert/strict";
import { pollUntil } from "../helpers/condition.ts";
import { bytes, exchange, openRaw, writeAll } from "../helpers/raw_http.ts";
import {
  type HttpEngine,
  type RunningServer,
  startServer,
  testBothEngines,
} from "../helpers/server_process.ts";
import { connect, type SseConnection } from "../helpers/sse_client.ts";
import { openController, post } from "../helpers/publishers.ts";

/** A request and what each engine answers it with. */
interface Row {
  readonly name: string;
  readonly request: string;
  /**
   * The status on both engines, or per engine; a list holds every status
   * allowed (null: the connection closed without an answer).
   */
  readonly status:
    | number
    | Readonly<Record<HttpEngine, number | readonly (number | null)[]>>;
}

const HOST = "Host: x\r\n";
const CLOSE = "Connection: close\r\n";

/** Requests that must be refused, never crash, never reach a handler's URL. */
export const HOSTILE_ROWS: readonly Row[] = [
  { name: "TRACE", request: `TRACE / HTTP/1.1\r\n${HOST}\r\n`, status: 405 },
  { name: "TRACK", request: `TRACK / HTTP/1.1\r\n${HOST}\r\n`, status: 405 },
  { name: "trace", request: `trace / HTTP/1.1\r\n${HOST}\r\n`, status: 405 },
  {
    name: "CONNECT",
    request: `CONNECT x:80 HTTP/1.1\r\n${HOST}\r\n`,
    status: 405,
  },
  {
    name: "connect",
    request: `connect / HTTP/1.1\r\n${HOST}\r\n`,
    status: 405,
  },
  {
    name: "get",
    request: `get /c HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    status: 405,
  },
  {
    name: "two Host lines",
    request: `GET /c HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`,
    status: 400,
  },
  {
    name: "Host with a space",
    request: `GET /c HTTP/1.1\r\nHost: a b\r\n\r\n`,
    status: 400,
  },
  {
    name: "Host [",
    request: `GET /c HTTP/1.1\r\nHost: [\r\n\r\n`,
    status: 400,
  },
  {
    name: "Host port out of range",
    request: `GET /c HTTP/1.1\r\nHost: x:99999\r\n\r\n`,
    status: 400,
  },
  {
    name: "Host with a path and fragment",
    request: `GET /public HTTP/1.1\r\nHost: x/secret#\r\n\r\n`,
    status: 400,
  },
  {
    name: "HEAD with a Host port out of range",
    request: `HEAD /?a=%zz HTTP/1.1\r\nHost: x:99999\r\n\r\n`,
    status: 400,
  },
  {
    name: "Host with userinfo",
    request: `GET /public HTTP/1.1\r\nHost: a@b\r\n\r\n`,
    status: 400,
  },
  {
    name: "chunked on HTTP/1.0",
    request: "POST /c HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
      "Content-Type: text/plain\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    status: 400,
  },
  {
    name: "NUL in a chunk extension",
    request:
      `POST /c HTTP/1.1\r\n${HOST}${CLOSE}Transfer-Encoding: chunked\r\n` +
      "Content-Type: text/plain\r\n\r\n3;a\x00b\r\nabc\r\n0\r\n\r\n",
    // Deno.serve answers 411 or, when it reads the bad chunk first, closes.
    status: { lean: 400, serve: [411, null] },
  },
  {
    name: "raw invalid UTF-8 in the path",
    request: `GET /c\xff\xfe HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    status: 400,
  },
  {
    name: "dot segments",
    request: `GET /public/../secret HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    status: 400,
  },
  {
    name: "%-encoded dot segments",
    request: `GET /public/%2e%2E/secret HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    status: 400,
  },
  {
    name: "both Content-Length and Transfer-Encoding",
    request: `POST /c HTTP/1.1\r\n${HOST}Content-Length: 3\r\n` +
      "Transfer-Encoding: chunked\r\n\r\n",
    status: 400,
  },
  {
    name: "a header line without a colon",
    request: `GET /c HTTP/1.1\r\n${HOST}oops\r\n\r\n`,
    status: 400,
  },
  {
    name: "an unknown HTTP version",
    request: `GET /c HTTP/1.7\r\n${HOST}\r\n`,
    status: 400,
  },
];

/** The statuses a row allows on `engine`. */
function expected(row: Row, engine: HttpEngine): readonly (number | null)[] {
  const status = typeof row.status === "number"
    ? row.status
    : row.status[engine];
  return typeof status === "number" ? [status] : status;
}

/** Publishes `data` on `channel` by POST and checks it was accepted. */
async function publish(
  server: RunningServer,
  channel: string,
  data: string,
): Promise<void> {
  const answer = await post(`${server.baseUrl}/${channel}`, data, "text/plain");
  assert.equal(answer.status, 202, answer.body);
}

/** Checks the server still runs and `stream` still gets new events. */
async function assertAlive(
  server: RunningServer,
  stream: SseConnection,
  marker: string,
): Promise<void> {
  await publish(server, "alive", marker);
  const event = await stream.nextEvent(5000);
  assert.equal(event.data, marker);
}

testBothEngines(
  "edge: every hostile request head is answered with its status; the server and an open stream go on",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using stream = await connect(`${server.baseUrl}/alive`);
    for (const [i, row] of HOSTILE_ROWS.entries()) {
      const answer = await exchange(server.httpPort, bytes(row.request));
      assert.ok(
        expected(row, engine).includes(answer.status),
        `${row.name}: ${answer.status} ${
          JSON.stringify(answer.text.slice(0, 200))
        }`,
      );
      if (answer.status === 405) {
        assert.match(answer.text, /\r\nallow: GET, HEAD, POST, OPTIONS\r\n/i);
      }
      await assertAlive(server, stream, `after ${i}`);
    }
    assert.doesNotMatch(server.errors(), /Uncaught|panicked/);
  },
);

testBothEngines(
  "edge: a Host header cannot move the path to another channel, with or without a prefix",
  async (engine) => {
    for (const prefix of ["/", "/sse"]) {
      await using server = await startServer(["-u", prefix], { engine });
      const base = prefix === "/" ? "" : prefix;
      for (const host of ["x/sse/secret#", "x#", "x?", "x/secret"]) {
        const answer = await exchange(
          server.httpPort,
          bytes(`GET ${base}/public HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
        );
        assert.equal(answer.status, 400, `Host: ${host}`);
        assert.doesNotMatch(answer.text, /text\/event-stream/);
      }
      assert.doesNotMatch(server.output(), /channels: secret/);
    }
  },
);

testBothEngines(
  "edge: the request URL limit is --max-line: at it accepted, one over 414",
  async (engine) => {
    const limit = 1024;
    await using server = await startServer(["--max-line", String(limit)], {
      engine,
    });
    const target = (length: number) =>
      "/c?lastEventId=" + "a".repeat(length - "/c?lastEventId=".length);
    const head = (length: number) =>
      bytes(`HEAD ${target(length)} HTTP/1.1\r\n${HOST}${CLOSE}\r\n`);
    assert.equal((await exchange(server.httpPort, head(limit))).status, 200);
    const over = await exchange(server.httpPort, head(limit + 1), {
      untilClosed: true,
    });
    assert.equal(over.status, 414);
  },
);

Deno.test("edge (lean): header lines over 16 KiB get 431, at 16 KiB they pass", async () => {
  await using server = await startServer([], { engine: "lean" });
  // Header section: "Host: x\r\n" + "X-Pad: …\r\n" + "Connection: close".
  const pad = (n: number) =>
    bytes(
      `HEAD /c HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(n)}\r\n${CLOSE}\r\n`,
    );
  const fixed = "Host: x\r\nX-Pad: \r\nConnection: close".length;
  const at = await exchange(server.httpPort, pad(16384 - fixed));
  assert.equal(at.status, 200);
  const over = await exchange(server.httpPort, pad(16385 - fixed), {
    untilClosed: true,
  });
  assert.equal(over.status, 431);
});

testBothEngines(
  "edge: HEAD is authorised like GET (--subscribe-auth: 401 without a token)",
  async (engine) => {
    await using server = await startServer(
      ["--jwt-secret", "s".repeat(32), "--subscribe-auth"],
      { engine },
    );
    const head = await fetch(`${server.baseUrl}/secret`, { method: "HEAD" });
    assert.equal(head.status, 401);
    const get = await fetch(`${server.baseUrl}/secret`);
    await get.body?.cancel();
    assert.equal(get.status, 401);
  },
);

testBothEngines(
  "edge: endless chunked trailers are refused within bounds; memory does not grow",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using stream = await connect(`${server.baseUrl}/alive`);
    const before = rssKiB(server.process.pid);
    await using raw = await openRaw(server.httpPort);
    let sent = 0;
    try {
      await writeAll(
        raw.conn,
        bytes(
          `POST /c HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n` +
            "Content-Type: text/plain\r\n\r\n3\r\nabc\r\n0\r\n",
        ),
      );
      const line = bytes(`X-Trailer: ${"t".repeat(1000)}\r\n`.repeat(64));
      // At most 64 MiB: far past any bound, and the server must say so first.
      while (!raw.closed() && sent < 64 << 20) {
        await writeAll(raw.conn, line);
        sent += line.length;
      }
    } catch {
      // The server closed the connection: what the test waits for.
    }
    await raw.until(() => raw.closed());
    const answer = raw.text();
    assert.ok(sent < 8 << 20, `${sent} bytes of trailers were taken`);
    assert.match(
      answer,
      engine === "lean" ? /^HTTP\/1\.1 400 / : /^HTTP\/1\.1 411 /,
    );
    assert.ok(
      rssKiB(server.process.pid) - before < 64 * 1024,
      "memory grew by more than 64 MiB",
    );
    await assertAlive(server, stream, "after trailers");
  },
);

testBothEngines(
  "edge: a body slower than --body-timeout gets 408 (lean: and the connection closes); one in time is published",
  async (engine) => {
    await using server = await startServer(["--body-timeout", "0.5"], {
      engine,
    });
    const started = Date.now();
    const late = await exchange(
      server.httpPort,
      bytes(
        `POST /c HTTP/1.1\r\n${HOST}Content-Type: text/plain\r\n` +
          "Content-Length: 100\r\n\r\n0123456789",
      ),
      // Deno.serve keeps the connection open for the rest of the body,
      // whatever the answer says (see the README's limits).
      { untilClosed: engine === "lean" },
    );
    assert.equal(late.status, 408, late.text);
    assert.equal(late.closed, engine === "lean");
    assert.ok(Date.now() - started < 5000);
    const inTime = await exchange(
      server.httpPort,
      bytes(
        `POST /c HTTP/1.1\r\n${HOST}${CLOSE}Content-Type: text/plain\r\n` +
          "Content-Length: 10\r\n\r\n0123456789",
      ),
    );
    assert.equal(inTime.status, 202, inTime.text);
  },
);

testBothEngines(
  "edge: clients dropped as slow consumers: the lean engine closes their sockets at once; --max-clients counts what is really open",
  async (engine) => {
    await using server = await startServer(
      ["--max-client-buffer", "65536", "--max-clients", "20"],
      { engine },
    );
    // The publisher's kept-alive connection is open from here on.
    await publish(server, "warm-up", "x");
    const baseline = socketCount(server.process.pid);
    const never: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 15; i++) {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: server.httpPort,
        });
        await writeAll(conn, bytes(`GET /flood HTTP/1.1\r\n${HOST}\r\n`));
        never.push(conn);
      }
      await server.waitForOutput(/client 15 connected/);
      const data = "x".repeat(60_000);
      const dropped = () => count(server.output(), /dropped: slow consumer/g);
      // Each is dropped once past its limit and a second without reading.
      const deadline = Date.now() + 30_000;
      while (dropped() < 15 && Date.now() < deadline) {
        await publish(server, "flood", data);
      }
      assert.equal(dropped(), 15);
      const sockets = () => socketCount(server.process.pid);
      const closedAll = () =>
        pollUntil(() => sockets() <= baseline, {
          timeoutMs: 5000,
          timeout: () =>
            new Error(`${sockets()} sockets open, ${baseline} before`),
        });
      if (engine === "lean") {
        // Cut at once: the sockets and their kernel buffers are freed.
        await closedAll();
      } else {
        // Deno.serve cannot cut a connection whose write is stuck: the
        // socket stays until the client goes, and --max-clients counts it.
        assert.ok(sockets() >= baseline + 15, `${sockets()} sockets open`);
        const five: SseConnection[] = [];
        try {
          for (let i = 0; i < 5; i++) {
            five.push(await connect(`${server.baseUrl}/after`));
          }
          const sixth = await fetch(`${server.baseUrl}/after`);
          await sixth.body?.cancel();
          assert.equal(sixth.status, 503);
        } finally {
          for (const sub of five) await sub.close();
        }
        for (const conn of never.splice(0)) conn.close();
        await closedAll();
      }
      // --max-clients counts what is open: 20 new clients are accepted.
      const fresh: SseConnection[] = [];
      try {
        for (let i = 0; i < 20; i++) {
          fresh.push(await connect(`${server.baseUrl}/after`));
        }
        for (const sub of fresh) assert.equal(sub.response.status, 200);
      } finally {
        for (const sub of fresh) await sub.close();
      }
      assert.doesNotMatch(server.output(), /HTTP handler failed/);
    } finally {
      for (const conn of never) {
        try {
          conn.close();
        } catch {
          // Closed by the server.
        }
      }
    }
  },
);

testBothEngines(
  "edge: a request pipelined behind a subscription is never run",
  async (engine) => {
    await using server = await startServer([], { engine });
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.httpPort,
    });
    await writeAll(
      conn,
      bytes(
        `GET /c HTTP/1.1\r\n${HOST}\r\nGET /c?m=GHOST HTTP/1.1\r\n${HOST}\r\n`,
      ),
    );
    await server.waitForOutput(/client 1 connected/);
    conn.close();
    await server.waitForOutput(/client 1 at \S+ closed/);
    // Requests on a connection are taken in order: once a later one is
    // served, an earlier pipelined one would have been.
    await publish(server, "c", "marker");
    await server.waitForOutput(/published message="marker"/);
    assert.doesNotMatch(server.output(), /GHOST/);
  },
);

testBothEngines(
  "edge: tokens in queries, bare tokens and repeated AUTH lines never reach the log",
  async (engine) => {
    const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2VjcmV0c2lnbmF0dXJl";
    await using server = await startServer(
      ["--publish-token", "pub-secret-123", "-P", "0"],
      { engine, control: true },
    );
    for (
      const target of [
        `/c?access_token=${token}%zz`,
        `/c?${token}`,
        `/c?message=x&${token}`,
      ]
    ) {
      const answer = await fetch(`${server.baseUrl}${target}`, {
        headers: { Authorization: "Bearer pub-secret-123" },
      });
      await answer.body?.cancel();
      assert.equal(answer.status, 400, target);
    }
    {
      await using control = await openController(server.controlPort!);
      await control.send(
        `auth pub-secret-123\nAUTH ${token}\nauth ${token}\nc = done\n`,
      );
      await server.waitForOutput(/published message="done"/);
    }
    const log = server.output() + server.errors();
    assert.ok(!log.includes(token.slice(0, 20)), log);
    assert.ok(!log.includes("pub-secret-123"), log);
  },
);

/** Resident memory of a process, in KiB. */
function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
}

/** Open sockets of a process. */
function socketCount(pid: number): number {
  let sockets = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (
        Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")
      ) {
        sockets++;
      }
    } catch {
      // Closed meanwhile.
    }
  }
  return sockets;
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
