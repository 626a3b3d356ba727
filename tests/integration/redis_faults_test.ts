// With --redis, when Redis is late, frozen, never there, or comes back
// without its data: the server waits (bounded) before serving, answers 503
// and sse-gap "unavailable" within the command timeout instead of hanging,
// exits 69 when Redis never comes, and tells a client whose id Redis no
// longer knows with sse-gap "unknown id".
import assert from "node:assert/strict";
import { startRedis } from "../helpers/redis_server.ts";
import {
  adminUrl,
  runProgram,
  startServer,
  waitForFile,
} from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";
import { pollUntil } from "../helpers/condition.ts";
import { jsonOf, post, type PostResult } from "../helpers/publishers.ts";

/** POSTs `data` to channel c, retrying while the server answers 503. */
async function publishWhenReady(baseUrl: string, data: string) {
  const deadline = Date.now() + 10_000;
  while (true) {
    const answer = await post(`${baseUrl}/c`, data, "text/plain");
    if (answer.status !== 503 || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Asks /readyz until it answers 200 (at most 10 s). */
async function pollUntilReady(admin: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const answer = await fetch(`${admin}/readyz`);
    await answer.body?.cancel();
    if (answer.status === 200) return;
    if (Date.now() > deadline) throw new Error("/readyz never said 200");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("redis: Redis never reached at start: the ports never open, exit 69 with the reason", async () => {
  const result = await runProgram([
    "-n",
    "--bind",
    "127.0.0.1",
    "-p",
    "0",
    "--redis",
    "redis://127.0.0.1:1/0",
    "--redis-start-timeout",
    "0.5",
  ]);
  assert.equal(result.code, 69, result.stderr);
  assert.match(result.stderr, /could not be reached within 0\.5 s/);
  assert.doesNotMatch(result.stdout, /listening for http/);
});

Deno.test("redis: a server started before Redis waits, then serves its first publish and replay without a gap", async () => {
  await using redis = await startRedis();
  await redis.stop();
  const dir = await Deno.makeTempDir();
  const log = `${dir}/sse.log`;
  try {
    const starting = startServer(
      ["--redis", redis.url, "-l", log, "--presence"],
      { logFile: log },
    );
    await waitForFile(log, /waiting for Redis at redis:\/\/127\.0\.0\.1/);
    // Longer than a presence interval (1 s): presence, which runs from the
    // start, must wait for the broker too, not fail to exchange counts.
    const waitingSince = Date.now();
    await pollUntil(() => Date.now() - waitingSince > 1500, {
      timeoutMs: 5000,
      timeout: () => new Error("the clock stopped"),
    });
    assert.doesNotMatch(await Deno.readTextFile(log), /listening for http/);
    await redis.restart();
    await using server = await starting;
    // The very first publish is accepted, not refused for a connection
    // still being made.
    const first = await post(`${server.baseUrl}/c`, "first", "text/plain");
    assert.equal(first.status, 202, first.body);
    const id = jsonOf<PostResult>(first).ids[0]!;
    await post(`${server.baseUrl}/c`, "second", "text/plain");
    await using sub = await connect(`${server.baseUrl}/c`, {
      headers: { "Last-Event-ID": id },
    });
    assert.equal((await sub.nextEvent()).data, "second");
    assert.doesNotMatch(
      await Deno.readTextFile(log),
      /presence: counts not exchanged/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('redis: a frozen Redis gets 503 and sse-gap "unavailable" within --redis-timeout, and service resumes when it thaws', async () => {
  await using redis = await startRedis();
  await using server = await startServer([
    "--redis",
    redis.url,
    "--redis-timeout",
    "0.5",
  ]);
  const before = await publishWhenReady(server.baseUrl, "before");
  assert.equal(before.status, 202);
  const id = jsonOf<PostResult>(before).ids[0]!;
  Deno.kill(redis.pid, "SIGSTOP");
  try {
    const started = Date.now();
    const frozen = await post(`${server.baseUrl}/c`, "frozen", "text/plain");
    assert.equal(frozen.status, 503, frozen.body);
    assert.match(frozen.body, /Redis did not answer within 0\.5 s/);
    // In flight, it may still land when Redis thaws: not "nothing".
    assert.match(frozen.body, /may still be published/);
    assert.ok(Date.now() - started < 3000, "the publish hung");
    await using sub = await connect(`${server.baseUrl}/c`, {
      headers: { "Last-Event-ID": id },
    });
    const gap = await sub.nextEvent(3000);
    assert.equal(gap.type, "sse-gap");
    assert.equal(JSON.parse(gap.data).reason, "unavailable");
  } finally {
    Deno.kill(redis.pid, "SIGCONT");
  }
  const after = await publishWhenReady(server.baseUrl, "after");
  assert.equal(after.status, 202);
});

Deno.test('redis: Redis restarted without its data: a client with an id from before gets sse-gap "unknown id"', async () => {
  await using redis = await startRedis();
  await using server = await startServer([
    "--redis",
    redis.url,
    "--admin-port",
    "0",
  ]);
  const admin = await adminUrl(server);
  const before = await publishWhenReady(server.baseUrl, "before");
  assert.equal(before.status, 202);
  const id = jsonOf<PostResult>(before).ids[0]!;
  await redis.stop();
  // Its data gone, as if it ran without persistence.
  for await (const entry of Deno.readDir(redis.dir)) {
    if (entry.name !== "redis.log") {
      await Deno.remove(`${redis.dir}/${entry.name}`, { recursive: true });
    }
  }
  await redis.restart();
  assert.equal(await redis.cli("DBSIZE"), "0");
  // Connected again (and nothing published since, which would make the
  // old id a position in the new stream).
  await pollUntilReady(admin);
  await using sub = await connect(`${server.baseUrl}/c`, {
    headers: { "Last-Event-ID": id },
  });
  const gap = await sub.nextEvent(5000);
  assert.equal(gap.type, "sse-gap");
  assert.deepEqual(JSON.parse(gap.data), {
    lastEventId: id,
    reason: "unknown id",
  });
});
