// Readiness probes on the admin port: /healthz while the process serves,
// /readyz while it accepts subscribers and publishes (Redis connected when
// --redis, not halting), both without a token.
import assert from "node:assert/strict";
import { within } from "../helpers/condition.ts";
import { connectedTo, startRedis } from "../helpers/redis_server.ts";
import { adminUrl, startServer } from "../helpers/server_process.ts";
import { bytes, exchange, writeAll } from "../helpers/raw_http.ts";

/** Status and body of a GET on the admin port. */
async function probe(
  url: string,
): Promise<{ status: number; body: string } | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return null; // the port is closed
  }
}

Deno.test("probes: /healthz and /readyz answer 200 without a token, where /status needs one", async () => {
  await using server = await startServer([
    "--admin-port",
    "0",
    "--publish-token",
    "probe-secret",
  ]);
  const admin = await adminUrl(server);
  assert.deepEqual(await probe(`${admin}/healthz`), {
    status: 200,
    body: "ok\n",
  });
  assert.deepEqual(await probe(`${admin}/readyz`), {
    status: 200,
    body: "ready\n",
  });
  assert.equal((await probe(`${admin}/status`))?.status, 401);
});

Deno.test("probes: /readyz is 503 while the server halts and its streams drain", async () => {
  // A client that never reads, allowed a large queue so that it is not
  // dropped, holds the drain until the 2-second grace.
  await using server = await startServer([
    "--admin-port",
    "0",
    "--max-client-buffer",
    String(64 << 20),
  ]);
  const admin = await adminUrl(server);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.httpPort,
  });
  try {
    await writeAll(
      conn,
      new TextEncoder().encode("GET /c HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    await server.waitForOutput(/client 1 connected/);
    // More than the kernel's socket buffers take: bytes stay queued.
    const body = "x".repeat(1_000_000);
    for (let i = 0; i < 20; i++) {
      const answer = await fetch(`${server.baseUrl}/c`, {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body,
      });
      await answer.body?.cancel();
    }
    server.process.kill("SIGTERM");
    await server.waitForOutput(/halting/);
    // Asked until it answers 503 or the port closes after the drain.
    let seen: { status: number; body: string } | null = null;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      seen = await probe(`${admin}/readyz`);
      if (seen === null || seen.status === 503) break;
    }
    assert.deepEqual(seen, { status: 503, body: "not ready: halting\n" });
    // It exits even though a client never reads (after the grace, twice).
    assert.equal(await within(server.exited, 15_000, "the exit"), 0);
  } finally {
    conn.close();
  }
});

Deno.test("probes: with --redis, /readyz is 503 while Redis is down and 200 again when it is back", async () => {
  await using redis = await startRedis();
  await using server = await startServer([
    "--admin-port",
    "0",
    "--redis",
    redis.url,
  ]);
  const admin = await adminUrl(server);
  const readyz = () => probe(`${admin}/readyz`);
  let last: { status: number; body: string } | null = null;
  const until = async (status: number) => {
    const deadline = Date.now() + 10_000;
    while (true) {
      last = await readyz();
      if (last?.status === status) return;
      if (Date.now() > deadline) {
        throw new Error(
          `/readyz never said ${status}: ${JSON.stringify(last)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  await until(200);
  // (The check the cluster test relies on sees this connection.)
  assert.equal(connectedTo(server.process.pid, redis.port), true);
  await redis.stop();
  await until(503);
  assert.deepEqual(last, {
    status: 503,
    body: "not ready: Redis is not connected\n",
  });
  await redis.restart();
  await until(200);
});

Deno.test("admin: a malformed Host or target gets 400, and its token never reaches the log", async () => {
  await using server = await startServer([
    "--admin-port",
    "0",
    "--publish-token",
    "admin-secret",
  ]);
  const admin = await adminUrl(server);
  const port = Number(new URL(admin).port);
  const token = "tok-4f1c9e2a7b";
  for (
    const request of [
      `GET /events?access_token=${token} HTTP/1.1\r\nHost: a%zz\r\n\r\n`,
      `GET /status/../events?access_token=${token} HTTP/1.1\r\nHost: x\r\n\r\n`,
    ]
  ) {
    const answer = await exchange(port, bytes(request));
    assert.equal(answer.status, 400, request);
  }
  assert.equal((await probe(`${admin}/healthz`))?.status, 200);
  assert.ok(!(server.output() + server.errors()).includes(token));
});
