// The lean HTTP/1.1 engine's own limits on request heads and bodies, and its
// persistent connections, against the real program. (Everything else it
// shares with Deno.serve is tested on both engines in the HTTP, POST, replay
// and robustness tests.)
import assert from "node:assert/strict";
import { Condition } from "../helpers/condition.ts";
import { startServer } from "../helpers/server_process.ts";
import { connect, rawSubscribe, take } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();
const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

/**
 * Sends raw bytes and reads the answer until the server closes; with
 * `halfClose`, closes the sending side after the request.
 */
async function exchange(
  port: number,
  request: string,
  { halfClose = false } = {},
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(request)).catch(() => 0);
    if (halfClose) await conn.closeWrite();
    let answer = "";
    const buffer = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return answer;
      answer += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

Deno.test("lean: malformed heads get 400, an oversize head 431, and the server goes on", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using sub = await connect(`${server.baseUrl}/c`);
  const port = server.httpPort;
  assert.match(
    await exchange(port, "NOT AN HTTP REQUEST\r\n\r\n"),
    /^HTTP\/1\.1 400 /,
  );
  assert.match(
    await exchange(port, "GET http://x/c HTTP/1.1\r\n\r\n"),
    /^HTTP\/1\.1 400 /,
  );
  assert.match(
    await exchange(port, "GET /c HTTP/1.1\r\nBad Header: x\r\n\r\n"),
    /^HTTP\/1\.1 400 /,
  );
  assert.match(
    await exchange(
      port,
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ),
    /^HTTP\/1\.1 400 .*\r\n[\s\S]*both Content-Length and Transfer-Encoding/,
  );
  // 16 KiB is the most a head may hold; one more and it is refused.
  const big = `GET /c HTTP/1.1\r\nX-Big: ${"a".repeat(16384)}\r\n\r\n`;
  assert.match(await exchange(port, big), /^HTTP\/1\.1 431 /);
  await server.waitForOutput(/request headers larger than 16384 bytes/);
  await (await fetch(`${server.baseUrl}/c?message=still`)).text();
  assert.equal((await sub.nextEvent()).data, "still");
});

Deno.test("lean: a head that does not arrive in time gets 408; others are served meanwhile", async () => {
  await using server = await startServer(["--head-timeout", "0.5"], {
    engine: "lean",
  });
  const slow = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.httpPort,
  });
  try {
    await slow.write(encoder.encode("GET /c HT"));
    // Meanwhile a normal client is served at once.
    await using sub = await connect(`${server.baseUrl}/c`);
    await (await fetch(`${server.baseUrl}/c?message=fast`)).text();
    assert.equal((await sub.nextEvent()).data, "fast");
    let answer = "";
    const buffer = new Uint8Array(1024);
    while (true) {
      const n = await slow.read(buffer).catch(() => null);
      if (n === null) break;
      answer += new TextDecoder().decode(buffer.subarray(0, n));
    }
    assert.match(answer, /^HTTP\/1\.1 408 /);
  } finally {
    slow.close();
  }
});

Deno.test("lean: a chunked POST body is decoded; a malformed one is 400", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using sub = await connect(`${server.baseUrl}/c`);
  const ok = await exchange(
    server.httpPort,
    "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  );
  assert.match(ok, /^HTTP\/1\.1 202 /);
  assert.equal((await sub.nextEvent()).data, "hello world");
  const bad = await exchange(
    server.httpPort,
    "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  );
  assert.match(bad, /^HTTP\/1\.1 400 /);
  assert.match(bad, /the body could not be read/);
});

Deno.test("lean with TLS: streams and publishes over https; a failed handshake and a slow body close only their connection", async () => {
  const CA = await Deno.readTextFile(`${FIXTURES}ca.pem`);
  await using server = await startServer(
    [
      "-c",
      `${FIXTURES}cert.pem`,
      "-k",
      `${FIXTURES}key.pem`,
      "--body-timeout",
      "0.5",
    ],
    { engine: "lean", tls: true },
  );
  using client = Deno.createHttpClient({ caCerts: [CA] });
  await using sub = await connect(`${server.baseUrl}/secure`, { client });
  assert.equal(sub.response.headers.get("content-type"), "text/event-stream");
  const published = await fetch(`${server.baseUrl}/secure`, {
    client,
    method: "POST",
    headers: { "Content-Type": "text/plain" },
    body: "over https",
  });
  assert.equal(published.status, 202);
  await published.body?.cancel();
  assert.equal((await sub.nextEvent()).data, "over https");
  // A client that does not speak TLS: its handshake fails, logged.
  const plain = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.httpPort,
  });
  await plain.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  // A TLS alert may come first; then the server closes.
  const scratch = new Uint8Array(64);
  while ((await plain.read(scratch).catch(() => null)) !== null) {
    // Dropped.
  }
  plain.close();
  await server.waitForOutput(/TLS handshake failed/);
  // A slow body over TLS: 408 and the connection closed.
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.httpPort,
    caCerts: [CA],
  });
  await conn.write(
    encoder.encode(
      "POST /secure HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
        "Content-Length: 100\r\n\r\nshort",
    ),
  );
  let answer = "";
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    answer += new TextDecoder().decode(buffer.subarray(0, n));
  }
  conn.close();
  assert.match(answer, /^HTTP\/1\.1 408 /);
  // The stream went on through all of it.
  const again = await fetch(`${server.baseUrl}/secure?message=still`, {
    client,
  });
  await again.text();
  assert.equal((await sub.nextEvent()).data, "still");
});

/** One response read off a raw connection. */
interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/**
 * A raw client connection that sends hand-written requests and reads the
 * responses one at a time (by their Content-Length), so several requests can
 * go over it.
 */
class RawClient implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #changed = new Condition();
  readonly #reading: Promise<void>;
  /** Received and not yet taken, one character per byte. */
  #data = "";
  #ended = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  static async open(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder("latin1");
    const buffer = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buffer).catch(() => null);
        if (n === null) break;
        this.#data += decoder.decode(buffer.subarray(0, n));
        this.#changed.notify();
      }
    } finally {
      this.#ended = true;
      this.#changed.notify();
    }
  }

  /** Sends `text` (the whole of it). */
  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    let written = 0;
    while (written < bytes.length) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  /** Waits for the next whole response and takes it. */
  response(timeoutMs = 5000): Promise<RawResponse> {
    return this.#changed.wait(() => this.#take(), {
      timeoutMs,
      fail: () =>
        this.#ended
          ? new Error(
            `connection closed before a whole response; got ${
              JSON.stringify(this.#data)
            }`,
          )
          : undefined,
      timeout: () =>
        new Error(`no whole response; got ${JSON.stringify(this.#data)}`),
    });
  }

  #take(): RawResponse | undefined {
    const end = this.#data.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.#data.slice(0, end).split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length"));
    if (this.#data.length < end + 4 + length) return undefined;
    const body = this.#data.slice(end + 4, end + 4 + length);
    this.#data = this.#data.slice(end + 4 + length);
    return { status: Number(statusLine.split(" ")[1]), headers, body };
  }

  /** Waits until the received text matches `pattern` (for streams). */
  async waitFor(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    return await this.#changed.wait(
      () => pattern.test(this.#data) ? this.#data : undefined,
      {
        timeoutMs,
        timeout: () =>
          new Error(
            `${pattern} not received; got ${JSON.stringify(this.#data)}`,
          ),
      },
    );
  }

  /**
   * Waits until the server closes the connection; returns what it sent that
   * was not taken as a response.
   */
  closedByServer(timeoutMs = 5000): Promise<string> {
    return this.#changed.wait(
      () => this.#ended ? this.#data : undefined,
      {
        timeoutMs,
        timeout: () =>
          new Error(
            `the server did not close; got ${JSON.stringify(this.#data)}`,
          ),
      },
    );
  }

  get ended(): boolean {
    return this.#ended;
  }

  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    await this.#reading;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A text/plain POST publishing `data` to `channel`. */
function postRequest(channel: string, data: string, extra = ""): string {
  return `POST /${channel} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${encoder.encode(data).length}\r\n${extra}\r\n${data}`;
}

Deno.test("lean: many POST and GET publishes over one kept-alive connection are each answered and delivered", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using sub = await connect(`${server.baseUrl}/c`);
  await using client = await RawClient.open(server.httpPort);
  for (const data of ["one", "two"]) {
    await client.send(postRequest("c", data));
    const answer = await client.response();
    assert.equal(answer.status, 202);
    assert.equal(answer.headers.get("connection"), "keep-alive");
    assert.equal(JSON.parse(answer.body).clients, 1);
    assert.equal((await sub.nextEvent()).data, data);
  }
  // A GET publish and a HEAD go over the same connection too.
  await client.send("GET /c?message=by%20get HTTP/1.1\r\nHost: x\r\n\r\n");
  const byGet = await client.response();
  assert.equal(byGet.status, 200);
  assert.equal(byGet.headers.get("connection"), "keep-alive");
  assert.match(byGet.body, /^OK: 1 event sent to 1 client/);
  assert.equal((await sub.nextEvent()).data, "by get");
  await client.send("HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n");
  const head = await client.response();
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
  for (let i = 0; i < 100; i++) {
    await client.send(postRequest("c", `event ${i}`));
    const answer = await client.response();
    assert.equal(answer.status, 202, answer.body);
    assert.equal(answer.headers.get("connection"), "keep-alive");
  }
  const events = await take(sub, 100);
  assert.deepEqual(
    events.map((event) => event.data),
    Array.from({ length: 100 }, (_, i) => `event ${i}`),
  );
  assert.equal(client.ended, false);
});

Deno.test("lean: pipelined requests sent in one write are answered in order", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using sub = await connect(`${server.baseUrl}/c`);
  await using client = await RawClient.open(server.httpPort);
  await client.send(
    postRequest("c", "first") +
      "GET /c?message=second HTTP/1.1\r\nHost: x\r\n\r\n" +
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
      "Transfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n" +
      postRequest("c", "fourth", "Connection: close\r\n"),
  );
  const answers = [
    await client.response(),
    await client.response(),
    await client.response(),
    await client.response(),
  ];
  assert.deepEqual(answers.map((a) => a.status), [202, 200, 202, 202]);
  assert.deepEqual(answers.map((a) => a.headers.get("connection")), [
    "keep-alive",
    "keep-alive",
    "keep-alive",
    "close",
  ]);
  assert.deepEqual(
    (await take(sub, 4)).map((event) => event.data),
    ["first", "second", "third", "fourth"],
  );
  assert.equal(await client.closedByServer(), "");
});

Deno.test("lean: Connection: close is honoured after kept-alive requests", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using client = await RawClient.open(server.httpPort);
  await client.send(postRequest("c", "kept"));
  const kept = await client.response();
  assert.equal(kept.status, 202);
  assert.equal(kept.headers.get("connection"), "keep-alive");
  await client.send(postRequest("c", "last", "Connection: Close\r\n"));
  const last = await client.response();
  assert.equal(last.status, 202);
  assert.equal(last.headers.get("connection"), "close");
  assert.equal(await client.closedByServer(), "");
});

Deno.test("lean: HTTP/1.0 closes by default and is kept alive only when it asks", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using sub = await connect(`${server.baseUrl}/c`);
  {
    await using client = await RawClient.open(server.httpPort);
    await client.send("GET /c?message=plain HTTP/1.0\r\n\r\n");
    const answer = await client.response();
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("connection"), "close");
    assert.equal(await client.closedByServer(), "");
    assert.equal((await sub.nextEvent()).data, "plain");
  }
  await using client = await RawClient.open(server.httpPort);
  for (const data of ["kept", "again"]) {
    await client.send(
      `GET /c?message=${data} HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n`,
    );
    const answer = await client.response();
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("connection"), "keep-alive");
    assert.equal((await sub.nextEvent()).data, data);
  }
  await client.send("GET /c?message=done HTTP/1.0\r\n\r\n");
  assert.equal((await client.response()).headers.get("connection"), "close");
  assert.equal(await client.closedByServer(), "");
  assert.equal((await sub.nextEvent()).data, "done");
});

Deno.test("lean: a body left unread is never taken for a request", async () => {
  await using server = await startServer(["--max-body", "1024"], {
    engine: "lean",
  });
  await using sub = await connect(`${server.baseUrl}/c`);
  // Each body is itself a request that would publish "smuggled".
  const smuggled = "GET /c?message=smuggled HTTP/1.1\r\nHost: x\r\n" +
    `X-Pad: ${"p".repeat(1024)}\r\n\r\n`;
  {
    // Refused by its Content-Length (413) before being read: the body is
    // skipped and the connection goes on with the request after it. So does
    // a GET's body, which the handler never reads.
    await using client = await RawClient.open(server.httpPort);
    await client.send(
      postRequest("c", smuggled) +
        `GET /c?message=get HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}` +
        "GET /c?message=after HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const refused = await client.response();
    assert.equal(refused.status, 413);
    assert.equal(refused.headers.get("connection"), "keep-alive");
    const get = await client.response();
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("connection"), "keep-alive");
    const after = await client.response();
    assert.equal(after.status, 200);
    assert.deepEqual((await take(sub, 2)).map((e) => e.data), [
      "get",
      "after",
    ]);
  }
  {
    // Too much to skip (more than 64 KiB declared): the connection closes.
    await using client = await RawClient.open(server.httpPort);
    await client.send(
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
        `Content-Length: 100000\r\n\r\n${smuggled}`,
    );
    const refused = await client.response();
    assert.equal(refused.status, 413);
    assert.equal(refused.headers.get("connection"), "close");
    assert.equal(await client.closedByServer(), "");
  }
  {
    // A chunked body refused part way: its end is unknown, so it closes.
    await using client = await RawClient.open(server.httpPort);
    const chunk = smuggled.repeat(2);
    await client.send(
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
        "Transfer-Encoding: chunked\r\n\r\n" +
        `${chunk.length.toString(16)}\r\n${chunk}\r\n` +
        `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
    );
    const refused = await client.response();
    assert.equal(refused.status, 413);
    assert.equal(refused.headers.get("connection"), "close");
    assert.equal(await client.closedByServer(), "");
  }
  // Nothing published "smuggled": the next event is this one.
  await (await fetch(`${server.baseUrl}/c?message=check`)).text();
  assert.equal((await sub.nextEvent()).data, "check");
});

Deno.test("lean: an idle kept-alive connection is closed quietly after the head timeout; a partial head gets 408", async () => {
  await using server = await startServer(["--head-timeout", "0.3"], {
    engine: "lean",
  });
  {
    await using client = await RawClient.open(server.httpPort);
    await client.send(postRequest("c", "x"));
    const answer = await client.response();
    assert.equal(answer.headers.get("connection"), "keep-alive");
    // Nothing more is sent: the server closes without a word.
    assert.equal(await client.closedByServer(), "");
  }
  await using client = await RawClient.open(server.httpPort);
  await client.send(postRequest("c", "x"));
  assert.equal(
    (await client.response()).headers.get("connection"),
    "keep-alive",
  );
  await client.send("POST /c HT");
  const late = await client.response();
  assert.equal(late.status, 408);
  assert.equal(late.headers.get("connection"), "close");
  assert.equal(await client.closedByServer(), "");
});

Deno.test("lean: a stream requested after a publish on the same connection works", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using client = await RawClient.open(server.httpPort);
  await client.send(postRequest("c", "before"));
  const published = await client.response();
  assert.equal(published.status, 202);
  assert.equal(published.headers.get("connection"), "keep-alive");
  await client.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  const streamHead = await client.waitFor(/\r\n\r\n/);
  assert.match(streamHead, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(streamHead, /\r\ncontent-type: text\/event-stream\r\n/);
  assert.match(streamHead, /\r\nconnection: close\r\n/);
  assert.doesNotMatch(streamHead, /content-length/);
  await server.waitForOutput(/client \d+ connected/);
  await (await fetch(`${server.baseUrl}/c?message=later`)).text();
  await client.waitFor(/\r\n\r\n[^]*data: later\n\n/);
});

Deno.test("lean: shutting down closes idle kept-alive connections at once and lets a request under way finish", async () => {
  await using server = await startServer(["--head-timeout", "30"], {
    engine: "lean",
  });
  await using idle = await RawClient.open(server.httpPort);
  await idle.send(postRequest("c", "x"));
  assert.equal((await idle.response()).headers.get("connection"), "keep-alive");
  // A request whose body is still coming when the server is told to stop;
  // it follows a kept-alive one in the same write, so the server is in its
  // handler once the first answer is out.
  await using busy = await RawClient.open(server.httpPort);
  const body = "a body still coming";
  await busy.send(
    postRequest("c", "x") +
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
      `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
  );
  assert.equal((await busy.response()).headers.get("connection"), "keep-alive");
  const stopping = server.stop();
  await server.waitForOutput(/halting/);
  // Well within the 2-second grace after which every connection is cut.
  assert.equal(await idle.closedByServer(1500), "");
  assert.equal(busy.ended, false);
  await busy.send(body.slice(5));
  const last = await busy.response();
  assert.equal(last.headers.get("connection"), "close");
  assert.equal(await busy.closedByServer(), "");
  assert.equal(await stopping, 0);
});

Deno.test("lean: Expect: 100-continue gets 100 Continue before the body is read, none when refused", async () => {
  await using server = await startServer(["--max-body", "2000"], {
    engine: "lean",
  });
  await using sub = await connect(`${server.baseUrl}/c`);
  await using client = await RawClient.open(server.httpPort);
  const data = "waited for";
  // The head alone: the body follows only once the server says so.
  await client.send(
    "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
      `Content-Length: ${data.length}\r\nExpect: 100-continue\r\n\r\n`,
  );
  await client.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  const interim = await client.response(); // the 100 has no length: empty
  assert.equal(interim.status, 100);
  await client.send(data);
  const answer = await client.response();
  assert.equal(answer.status, 202, answer.body);
  assert.equal((await sub.nextEvent()).data, data);
  // Refused by its length: the final answer comes at once, without a 100.
  await client.send(
    "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
      "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
  );
  const refused = await client.response();
  assert.equal(refused.status, 413);
});

Deno.test("lean: a client that closes its sending side after its request still gets the answer", async () => {
  await using server = await startServer([], { engine: "lean" });
  await using sub = await connect(`${server.baseUrl}/c`);
  // Two pipelined requests: the second is answered after the server has
  // seen the end of the client's side.
  const answer = await exchange(
    server.httpPort,
    "GET /c?message=half HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /c?message=closed HTTP/1.1\r\nHost: x\r\n\r\n",
    { halfClose: true },
  );
  assert.equal(answer.match(/1 event sent to 1 client/g)?.length, 2, answer);
  assert.deepEqual(
    (await take(sub, 2)).map((event) => event.data),
    ["half", "closed"],
  );
});

Deno.test("lean: what a subscriber sends after its request is read and dropped, and its stream goes on", async () => {
  await using server = await startServer([], { engine: "lean" });
  const conn = await rawSubscribe(server.httpPort, "/c");
  try {
    // More than the kernel's socket buffers hold: unread, it would block.
    const noise = new Uint8Array(16 << 20).fill(65);
    for (let sent = 0; sent < noise.length;) {
      sent += await conn.write(noise.subarray(sent));
    }
    await (await fetch(`${server.baseUrl}/c?message=after`)).text();
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4096);
    let received = "";
    while (!received.includes("data: after\n")) {
      const n = await conn.read(buffer);
      assert.notEqual(n, null, `stream ended early: ${received}`);
      received += decoder.decode(buffer.subarray(0, n!));
    }
  } finally {
    conn.close();
  }
});
