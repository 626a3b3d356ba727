// The lean HTTP/1.1 engine's own limits on request heads and bodies, against
// the real program. (Everything else it shares with Deno.serve is tested on
// both engines in the HTTP, POST, replay and robustness tests.)
import assert from "node:assert/strict";
import { runProgram, startServer } from "./helpers/server_process.ts";
import { connect } from "./helpers/sse_client.ts";

const encoder = new TextEncoder();
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** Sends raw bytes and reads the answer until the server closes. */
async function exchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(request)).catch(() => 0);
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
      "POST /c HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ),
    /^HTTP\/1\.1 400 .*\r\n[\s\S]*both Content-Length and Transfer-Encoding/,
  );
  // 16 KiB is the most a head may hold; one more and it is refused.
  const big = `GET /c HTTP/1.1\r\nX-Big: ${"a".repeat(16384)}\r\n\r\n`;
  assert.match(await exchange(port, big), /^HTTP\/1\.1 431 /);
  await server.waitForOutput(/request head larger than 16384 bytes/);
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
    "POST /c HTTP/1.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  );
  assert.match(ok, /^HTTP\/1\.1 202 /);
  assert.equal((await sub.nextEvent()).data, "hello world");
  const bad = await exchange(
    server.httpPort,
    "POST /c HTTP/1.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  );
  assert.match(bad, /^HTTP\/1\.1 400 /);
  assert.match(bad, /the body could not be read/);
});

Deno.test("lean: refused with TLS, since it speaks plain HTTP/1.1", async () => {
  const result = await runProgram([
    "-n",
    "-p",
    "0",
    "--http-engine",
    "lean",
    "-c",
    `${FIXTURES}cert.pem`,
    "-k",
    `${FIXTURES}key.pem`,
  ]);
  assert.equal(result.code, 64);
  assert.match(result.stderr, /--http-engine lean speaks plain HTTP\/1\.1/);
});
