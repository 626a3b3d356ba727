// Presence (--presence) against the real program: a subscriber is told its
// channels' counts when its stream opens and whenever they change, at most
// once a second per channel; presence events have no id, are not kept and
// not replayed; subscribers of every channel get none; it is off by
// default. With --redis the count is every instance's, and an instance
// killed with SIGKILL stops counting within a bounded time.
import assert from "node:assert/strict";
import { startRedis } from "../helpers/redis_server.ts";
import {
  type RunningServer,
  startServer,
  testBothEngines,
} from "../helpers/server_process.ts";
import {
  connect,
  type ReceivedEvent,
  type SseConnection,
} from "../helpers/sse_client.ts";
import { get } from "../helpers/publishers.ts";

/** A presence event's fields, checked to be one. */
function presence(event: ReceivedEvent): { channel: string; n: number } {
  assert.equal(event.type, "sse-presence", `not presence: ${event.data}`);
  assert.equal(event.id, undefined, "a presence event has no id");
  const { channel, subscribers } = JSON.parse(event.data);
  return { channel, n: subscribers };
}

/**
 * Reads events until `channel`'s presence count is `n`; returns the
 * presence events read on the way (that one included).
 */
async function untilCount(
  conn: SseConnection,
  channel: string,
  n: number,
  timeoutMs = 5000,
): Promise<{ channel: string; n: number }[]> {
  const deadline = Date.now() + timeoutMs;
  const seen: { channel: string; n: number }[] = [];
  while (true) {
    const left = deadline - Date.now();
    if (left <= 0) {
      assert.fail(
        `no count ${n} for ${channel} in time; saw ${JSON.stringify(seen)}`,
      );
    }
    const event = await conn.nextEvent(left);
    if (event.type !== "sse-presence") continue;
    const got = presence(event);
    seen.push(got);
    if (got.channel === channel && got.n === n) return seen;
  }
}

async function publish(server: RunningServer, query: string): Promise<void> {
  const answer = await get(`${server.baseUrl}/news?${query}`);
  assert.equal(answer.status, 200, answer.body);
}

testBothEngines(
  "presence: counts at open, on join and on leave",
  async (engine) => {
    await using server = await startServer(["--presence"], { engine });
    await using first = await connect(`${server.baseUrl}/news`);
    assert.deepEqual(presence(await first.nextEvent()), {
      channel: "news",
      n: 1,
    });
    // One event per channel, each counting the newcomer.
    const second = await connect(`${server.baseUrl}/news/sport`);
    const opening = [await second.nextEvent(), await second.nextEvent()]
      .map(presence);
    assert.deepEqual(opening, [
      { channel: "news", n: 2 },
      { channel: "sport", n: 1 },
    ]);
    assert.deepEqual(await untilCount(first, "news", 2), [
      { channel: "news", n: 2 },
    ]);
    await second.close();
    assert.deepEqual(await untilCount(first, "news", 1), [
      { channel: "news", n: 1 },
    ]);
    // Live events still come as before.
    await publish(server, "message=hello");
    const next = await first.nextEvent();
    assert.deepEqual([next.type, next.data], ["message", "hello"]);
  },
);

testBothEngines(
  "presence: many joins within a second cost a few events with the final count",
  async (engine) => {
    await using server = await startServer(["--presence"], { engine });
    await using watcher = await connect(`${server.baseUrl}/room`);
    assert.deepEqual(presence(await watcher.nextEvent()), {
      channel: "room",
      n: 1,
    });
    const JOINERS = 40;
    const joiners = await Promise.all(
      Array.from({ length: JOINERS }, () => connect(`${server.baseUrl}/room`)),
    );
    try {
      // Each joiner was told a count that includes itself.
      for (const joiner of joiners) {
        const { n } = presence(await joiner.nextEvent());
        assert.ok(n >= 2 && n <= JOINERS + 1, `count ${n}`);
      }
      const seen = await untilCount(watcher, "room", JOINERS + 1, 15_000);
      // One event a second at most, not one per join: the joins take a few
      // seconds at most, so a handful of events.
      assert.ok(
        seen.length <= 8,
        `${seen.length} presence events for ${JOINERS} joins`,
      );
      // The counts only grow while clients only join.
      for (let i = 1; i < seen.length; i++) {
        assert.ok(seen[i].n > seen[i - 1].n, JSON.stringify(seen));
      }
    } finally {
      await Promise.all(joiners.map((joiner) => joiner.close()));
    }
    assert.deepEqual((await untilCount(watcher, "room", 1)).at(-1), {
      channel: "room",
      n: 1,
    });
  },
);

testBothEngines("presence: no id, not kept, not replayed", async (engine) => {
  await using server = await startServer(["--presence"], { engine });
  await using first = await connect(`${server.baseUrl}/news`);
  presence(await first.nextEvent());
  await publish(server, "message=kept");
  const kept = await first.nextEvent();
  assert.equal(kept.data, "kept");
  assert.ok(kept.id !== undefined, "a published event has an id");
  // A client replaying everything kept gets the event, not the presence
  // event the first client got before it, then its own count.
  await using replayed = await connect(
    `${server.baseUrl}/news?lastEventId=earliest`,
  );
  const [replay, own] = [
    await replayed.nextEvent(),
    await replayed.nextEvent(),
  ];
  assert.deepEqual([replay.type, replay.data, replay.id], [
    "message",
    "kept",
    kept.id,
  ]);
  assert.deepEqual(presence(own), { channel: "news", n: 2 });
  assert.doesNotMatch(
    replayed.raw(),
    /event: sse-presence\nid:/,
    "no id line in a presence event",
  );
});

testBothEngines(
  "presence: none for subscribers of every channel, none without --presence",
  async (engine) => {
    await using server = await startServer(["--presence"], { engine });
    await using all = await connect(`${server.baseUrl}/`);
    await using news = await connect(`${server.baseUrl}/news`);
    presence(await news.nextEvent());
    await publish(server, "message=first");
    const event = await all.nextEvent();
    assert.deepEqual([event.type, event.data], ["message", "first"]);

    await using plain = await startServer([], { engine });
    await using client = await connect(`${plain.baseUrl}/news`);
    const answer = await get(`${plain.baseUrl}/news?message=only`);
    assert.equal(answer.status, 200, answer.body);
    const only = await client.nextEvent();
    assert.deepEqual([only.type, only.data], ["message", "only"]);
    assert.doesNotMatch(client.raw(), /sse-presence/);
  },
);

/** An instance on `redisUrl` with presence, following the stream. */
async function instance(
  redisUrl: string,
  args: readonly string[] = [],
): Promise<RunningServer> {
  const server = await startServer([
    "--redis",
    redisUrl,
    "--presence",
    ...args,
  ]);
  try {
    await server.waitForOutput(/Redis: following sse:events after \S+/);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

Deno.test("presence with --redis: counts every instance; a killed instance stops counting within 6 s", async () => {
  await using redis = await startRedis();
  await using one = await instance(redis.url);
  await using two = await instance(redis.url);
  await using here = await connect(`${one.baseUrl}/news`);
  assert.deepEqual(presence(await here.nextEvent()), {
    channel: "news",
    n: 1,
  });
  const there = await connect(`${two.baseUrl}/news`);
  try {
    // Each instance exchanges its counts once a second: about 2 s.
    await untilCount(here, "news", 2, 4000);
    await untilCount(there, "news", 2, 4000);
    // A newcomer on the second instance counts both (the second instance
    // knows the first one's count: it told it to its own client).
    await using late = await connect(`${two.baseUrl}/news/sport`);
    assert.deepEqual(
      [await late.nextEvent(), await late.nextEvent()].map(presence),
      [{ channel: "news", n: 3 }, { channel: "sport", n: 1 }],
    );
    await untilCount(here, "news", 3, 4000);
    // Killed: its counts expire after 3 s (COUNTS_TTL_MS), then the others
    // learn it within their next exchange and tell it within a second.
    const killed = Date.now();
    two.process.kill("SIGKILL");
    await two.exited;
    await untilCount(here, "news", 1, 8000);
    const took = Date.now() - killed;
    assert.ok(took <= 6000, `the count dropped after ${took} ms`);
  } finally {
    await there.close();
  }
});
