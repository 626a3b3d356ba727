// Bad clients against the real program: a subscriber that stops reading, one
// that vanishes, and malformed or oversize requests. None may disturb others.
import assert from "node:assert/strict";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect, rawSubscribe } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();

/** Sends raw bytes and returns whatever the server answers before closing. */
async function rawExchange(port: number, request: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(request).catch(() => 0);
    let answer = "";
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      answer += new TextDecoder().decode(buf.subarray(0, n));
      if (/\r\n\r\n/.test(answer)) break;
    }
    return answer;
  } finally {
    conn.close();
  }
}

testBothEngines(
  "slow consumer: dropped past its buffer limit, logged, and the others get everything",
  async (engine) => {
    await using server = await startServer(
      ["-P", "0", "--max-client-buffer", "262144"],
      { control: true, engine },
    );
    const stalled = await rawSubscribe(server.httpPort, "/c");
    await using reader = await connect(`${server.baseUrl}/c`);
    const ctl = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.controlPort!,
    });
    const payload = "x".repeat(32 * 1024);
    let sent = 0;
    try {
      // Publish until the server gives up on the stalled client; the kernel's
      // socket buffers absorb some megabytes first. Bounded at 64 MiB.
      const deadline = Date.now() + 30_000;
      while (
        !/dropped: slow consumer/.test(server.output()) &&
        Date.now() < deadline
      ) {
        let batch = "";
        for (let i = 0; i < 4; i++) batch += `c = ${sent++} ${payload}\n`;
        await ctl.write(encoder.encode(batch));
        // Keep the healthy reader in step so only the stalled one falls behind.
        for (let i = sent - 4; i < sent; i++) {
          assert.equal((await reader.nextEvent()).data, `${i} ${payload}`);
        }
      }
      await server.waitForOutput(
        /client 1 at 127\.0\.0\.1:\d+ dropped: slow consumer, took nothing for 1 s with more than 262144 bytes queued/,
      );
      await ctl.write(encoder.encode("c = after\n"));
      assert.equal((await reader.nextEvent()).data, "after");
    } finally {
      ctl.close();
      stalled.close();
    }
  },
);

testBothEngines(
  "vanishing client: an abrupt disconnect is noticed once and costs nothing",
  async (engine) => {
    await using server = await startServer([], { engine });
    const gone = await rawSubscribe(server.httpPort, "/c");
    await using stays = await connect(`${server.baseUrl}/c`);
    gone.close();
    // The disconnect shows when the server next writes to it.
    await (await fetch(`${server.baseUrl}/c?message=one`)).text();
    assert.equal((await stays.nextEvent()).data, "one");
    await server.waitForOutput(
      /client 1 at 127\.0\.0\.1:\d+ closed \(client disconnected\)/,
    );
    for (let i = 0; i < 5; i++) {
      await (await fetch(`${server.baseUrl}/c?message=more${i}`)).text();
      assert.equal((await stays.nextEvent()).data, `more${i}`);
    }
    const lines = server.output().split("\n").filter((l) =>
      /client 1\b/.test(l)
    );
    assert.equal(lines.length, 2, lines.join("\n")); // connected, closed
  },
);

testBothEngines(
  "malformed and oversize requests get an error, the server goes on",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using sub = await connect(`${server.baseUrl}/c`);
    const garbage = await rawExchange(
      server.httpPort,
      encoder.encode("NOT AN HTTP REQUEST\r\n\r\n"),
    );
    assert.match(garbage, /^(HTTP\/1\.1 400|)/);
    const hugeHeader = await rawExchange(
      server.httpPort,
      encoder.encode(
        `GET /c HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(1 << 20)}\r\n\r\n`,
      ),
    );
    assert.doesNotMatch(hugeHeader, /^HTTP\/1\.1 200/);
    const injected = await rawExchange(
      server.httpPort,
      encoder.encode(
        "GET /c?message=a%0D%0Aevent:%20evil HTTP/1.1\r\nHost: x\r\n\r\n",
      ),
    );
    assert.match(injected, /^HTTP\/1\.1 200/);
    const event = await sub.nextEvent();
    assert.equal(event.type, "message");
    assert.equal(event.data, "a\nevent: evil");
    assert.match(sub.raw(), /^id: \S+\ndata: a\ndata: event: evil\n\n$/);
    await (await fetch(`${server.baseUrl}/c?message=alive`)).text();
    assert.equal((await sub.nextEvent()).data, "alive");
  },
);
