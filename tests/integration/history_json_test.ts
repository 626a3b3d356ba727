// History on demand as JSON, against the real program on both HTTP engines,
// with the memory history and with --redis (a real redis-server): a
// subscription URL asked with Accept: application/json answers the events
// kept, oldest first, each once, decoded as EventSource would deliver them;
// after an id only what followed, with the gap reason when some is gone;
// the same subscribe authorisation as a stream; EventSource's and curl's
// Accept headers still get a stream.
import assert from "node:assert/strict";
import * as jose from "jose";
import { type RedisServer, startRedis } from "../helpers/redis_server.ts";
import {
  type HttpEngine,
  type RunningServer,
  startServer,
  testBothEngines,
} from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";
import { get, jsonOf, post, type PostResult } from "../helpers/publishers.ts";

const JSON_ACCEPT = { Accept: "application/json" };

/** The answer's document. */
interface HistoryDoc {
  events: { id: string; event: string; data: string }[];
  lastEventId: string | null;
  gap?: string;
}

/** A running program, with the redis-server behind it when there is one. */
interface Setup extends AsyncDisposable {
  readonly server: RunningServer;
  readonly redis?: RedisServer;
}

type Kind = "memory" | "redis";

/** Starts the program with `args`, on Redis for `kind` "redis". */
async function start(
  kind: Kind,
  engine: HttpEngine,
  args: readonly string[] = [],
): Promise<Setup> {
  if (kind === "memory") {
    const server = await startServer(args, { engine });
    return {
      server,
      [Symbol.asyncDispose]: () => server.stop().then(() => {}),
    };
  }
  const redis = await startRedis();
  let server: RunningServer;
  try {
    server = await startServer(["--redis", redis.url, ...args], { engine });
  } catch (error) {
    await redis[Symbol.asyncDispose]();
    throw error;
  }
  const setup = {
    server,
    redis,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await redis[Symbol.asyncDispose]();
    },
  };
  try {
    // Before it follows the stream, a publish would still be refused.
    await server.waitForOutput(/Redis: following sse:events after \S+/);
  } catch (error) {
    await setup[Symbol.asyncDispose]();
    throw error;
  }
  return setup;
}

/** POSTs JSON events to `path` and returns their ids. */
async function publish(
  server: RunningServer,
  path: string,
  events: { event?: string; data: string }[],
): Promise<string[]> {
  const answer = await post(
    server.baseUrl + path,
    JSON.stringify(events),
    "application/json",
  );
  assert.equal(answer.status, 202, `POST ${path}: ${answer.body}`);
  return jsonOf<PostResult>(answer).ids as string[];
}

/** GETs `path` as JSON; fails unless 200 with a JSON body. */
async function history(
  server: RunningServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<HistoryDoc> {
  const answer = await get(server.baseUrl + path, {
    headers: { ...JSON_ACCEPT, ...headers },
  });
  assert.equal(answer.status, 200, `GET ${path}: ${answer.body}`);
  assert.equal(answer.headers.get("content-type"), "application/json");
  assert.equal(answer.headers.get("vary"), "Accept");
  return jsonOf<HistoryDoc>(answer);
}

for (const kind of ["memory", "redis"] as const) {
  testBothEngines(
    `history JSON (${kind}): the events kept, oldest first, each once, with types and whole multi-line data`,
    async (engine) => {
      await using setup = await start(kind, engine);
      const { server } = setup;
      const [both] = await publish(server, "/a/b", [{ data: "to both" }]);
      const [onA, lines] = await publish(server, "/a", [
        { event: "flash", data: "on a" },
        { data: "one\ntwo\r\nthree" },
      ]);
      const [onB] = await publish(server, "/b", [{ data: "on b" }]);
      await publish(server, "/c", [{ data: "not asked for" }]);

      const all = await history(server, "/a/b");
      assert.deepEqual(all, {
        events: [
          { id: both, event: "message", data: "to both" },
          { id: onA, event: "flash", data: "on a" },
          { id: lines, event: "message", data: "one\ntwo\nthree" },
          { id: onB, event: "message", data: "on b" },
        ],
        lastEventId: onB,
      });
      // After an id, by query or header (the header wins, as for streams).
      const afterQuery = await history(
        server,
        `/a/b?lastEventId=${encodeURIComponent(lines)}`,
      );
      assert.deepEqual(afterQuery.events.map((e) => e.id), [onB]);
      assert.equal(afterQuery.gap, undefined);
      const afterHeader = await history(
        server,
        `/a/b?lastEventId=${encodeURIComponent(lines)}`,
        { "Last-Event-ID": onA },
      );
      assert.deepEqual(afterHeader.events.map((e) => e.id), [lines, onB]);
      // Nothing newer: the asked id is still where to resume.
      assert.deepEqual(
        await history(server, "/a", { "Last-Event-ID": lines }),
        { events: [], lastEventId: lines },
      );
      const earliest = await history(server, "/b?lastEventId=earliest");
      assert.deepEqual(earliest.events.map((e) => e.data), [
        "to both",
        "on b",
      ]);
      // A channel with nothing kept: no events, no position.
      assert.deepEqual(await history(server, "/empty"), {
        events: [],
        lastEventId: null,
      });

      // A stream resumed from the answer's lastEventId misses nothing.
      await using stream = await connect(
        `${server.baseUrl}/a/b?lastEventId=${
          encodeURIComponent(all.lastEventId!)
        }`,
      );
      const [live] = await publish(server, "/a", [{ data: "live" }]);
      const next = await stream.nextEvent();
      assert.deepEqual({ id: next.id, data: next.data }, {
        id: live,
        data: "live",
      });
      assert.doesNotMatch(stream.raw(), /to both|on b|sse-gap/);
    },
  );

  testBothEngines(
    `history JSON (${kind}): after an id no longer kept, or unknown, the gap says why`,
    async (engine) => {
      await using setup = await start(kind, engine, ["--history", "2"]);
      const { server } = setup;
      const ids = await publish(server, "/n", [
        { data: "1" },
        { data: "2" },
        { data: "3" },
        { data: "4" },
      ]);
      const expired = await history(server, `/n?lastEventId=${ids[0]}`);
      assert.deepEqual(expired, {
        events: [
          { id: ids[2], event: "message", data: "3" },
          { id: ids[3], event: "message", data: "4" },
        ],
        lastEventId: ids[3],
        gap: "expired",
      });
      const unknown = await history(server, "/n", {
        "Last-Event-ID": "no-such-id",
      });
      assert.equal(unknown.gap, "unknown id");
      assert.deepEqual(unknown.events.map((e) => e.data), ["3", "4"]);
      // Still kept: no gap.
      const kept = await history(server, `/n?lastEventId=${ids[2]}`);
      assert.deepEqual(kept, {
        events: [{ id: ids[3], event: "message", data: "4" }],
        lastEventId: ids[3],
      });
    },
  );

  testBothEngines(
    `history JSON (${kind}): with --history 0 nothing is kept, so no events and no position`,
    async (engine) => {
      await using setup = await start(kind, engine, ["--history", "0"]);
      const { server } = setup;
      await publish(server, "/n", [{ data: "1" }]);
      assert.deepEqual(await history(server, "/n"), {
        events: [],
        lastEventId: null,
      });
      assert.deepEqual(await history(server, "/"), {
        events: [],
        lastEventId: null,
      });
    },
  );

  testBothEngines(
    `history JSON (${kind}): the all-channels URL answers every event kept, each once`,
    async (engine) => {
      await using setup = await start(kind, engine);
      const { server } = setup;
      const [x] = await publish(server, "/x/y", [{ data: "x and y" }]);
      const [y] = await publish(server, "/y", [{ event: "t", data: "y" }]);
      const all = await history(server, "/");
      assert.deepEqual(all.events, [
        { id: x, event: "message", data: "x and y" },
        { id: y, event: "t", data: "y" },
      ]);
    },
  );
}

testBothEngines(
  "history JSON: HEAD has the JSON headers and no body; EventSource's and curl's Accept still stream",
  async (engine) => {
    await using server = await startServer([], { engine });
    await publish(server, "/n", [{ data: "kept" }]);
    const head = await fetch(`${server.baseUrl}/n`, {
      method: "HEAD",
      headers: JSON_ACCEPT,
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "application/json");
    assert.equal(head.headers.get("vary"), "Accept");
    assert.equal(await head.text(), "");
    const streamHead = await fetch(`${server.baseUrl}/n`, { method: "HEAD" });
    assert.equal(streamHead.headers.get("content-type"), "text/event-stream");
    await streamHead.body?.cancel();

    for (
      const accept of [
        "text/event-stream", // EventSource
        "*/*", // curl
        "application/json, text/event-stream",
      ]
    ) {
      await using stream = await connect(`${server.baseUrl}/n`, {
        headers: { Accept: accept, "Last-Event-ID": "earliest" },
      });
      assert.equal(
        stream.response.headers.get("content-type"),
        "text/event-stream",
        accept,
      );
      assert.equal((await stream.nextEvent()).data, "kept");
    }
    // Publishing parameters publish, whatever Accept says.
    const published = await get(`${server.baseUrl}/n?message=more`, {
      headers: JSON_ACCEPT,
    });
    assert.match(published.body, /^OK: 1 event/);
    const doc = await history(server, "/n");
    assert.deepEqual(doc.events.map((e) => e.data), ["kept", "more"]);
  },
);

testBothEngines(
  "history JSON (redis): while Redis is down the answer is 503 in JSON, and history is answered again once it is back",
  async (engine) => {
    await using setup = await start("redis", engine);
    const { server, redis } = setup;
    const [kept] = await publish(server, "/n", [{ data: "kept" }]);
    await redis!.stop();
    const down = await get(`${server.baseUrl}/n`, { headers: JSON_ACCEPT });
    assert.equal(down.status, 503);
    assert.equal(down.headers.get("content-type"), "application/json");
    assert.match(jsonOf<{ error: string }>(down).error, /Redis/);
    await redis!.restart();
    // The instance reconnects with backoff (at most 5 s between attempts);
    // then the answer comes back, polled as its second connection follows.
    await server.waitForOutput(/Redis: connected again/, 15_000);
    const deadline = Date.now() + 10_000;
    let answer = await get(`${server.baseUrl}/n`, { headers: JSON_ACCEPT });
    while (answer.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await get(`${server.baseUrl}/n`, { headers: JSON_ACCEPT });
    }
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(jsonOf<HistoryDoc>(answer).events.map((e) => e.id), [
      kept,
    ]);
  },
);

const SECRET = "history-json-SECRET-5d1c";

/** An HS256 JWT with `claims`, valid for five minutes. */
function token(claims: jose.JWTPayload): Promise<string> {
  return new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 300)
    .sign(new TextEncoder().encode(SECRET));
}

testBothEngines(
  "history JSON: --subscribe-auth refuses it as it refuses a stream (401 without a token, 403 outside the claim)",
  async (engine) => {
    await using server = await startServer(
      ["--jwt-secret", SECRET, "--subscribe-auth"],
      { engine },
    );
    const publisher = await token({ publish: ["*"] });
    const reader = await token({ subscribe: ["news"] });
    const posted = await fetch(`${server.baseUrl}/news`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${publisher}`,
        "Content-Type": "text/plain",
      },
      body: "secret news",
    });
    assert.equal(posted.status, 202, await posted.text());

    const none = await get(`${server.baseUrl}/news`, { headers: JSON_ACCEPT });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), "Bearer");
    assert.doesNotMatch(none.body, /secret news/);
    const outside = await get(`${server.baseUrl}/news/weather`, {
      headers: { ...JSON_ACCEPT, Authorization: `Bearer ${reader}` },
    });
    assert.equal(outside.status, 403);
    assert.doesNotMatch(outside.body, /secret news/);
    const noClaim = await get(`${server.baseUrl}/news`, {
      headers: { ...JSON_ACCEPT, Authorization: `Bearer ${publisher}` },
    });
    assert.equal(noClaim.status, 403);
    const allowed = await history(server, `/news?access_token=${reader}`);
    assert.deepEqual(allowed.events.map((e) => e.data), ["secret news"]);
  },
);
