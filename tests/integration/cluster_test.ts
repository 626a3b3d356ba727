// Scale-out through Redis Streams (--redis), against the real program and a
// real redis-server: several instances share ids and history, a client that
// moves between instances resumes without loss or duplicate, history bounds
// are kept in Redis, a Redis outage refuses publishes (and only those) while
// streams stay open, and halt-all halts every instance.
import assert from "node:assert/strict";
import { Condition, within } from "../helpers/condition.ts";
import {
  connectedTo,
  type RedisServer,
  startRedis,
} from "../helpers/redis_server.ts";
import {
  adminUrl,
  type RunningServer,
  startServer,
} from "../helpers/server_process.ts";
import {
  connect,
  rawSubscribe,
  type ReceivedEvent,
  type SseConnection,
  take,
} from "../helpers/sse_client.ts";
import {
  get,
  jsonOf,
  openController,
  post,
  type PostResult,
  writeFifo,
} from "../helpers/publishers.ts";

/** Redis stream ids: `MILLISECONDS-SEQUENCE`. */
const STREAM_ID = /^(\d+)-(\d+)$/;

/** Orders two Redis stream ids. */
function compareIds(a: string, b: string): number {
  const [, am, as] = STREAM_ID.exec(a) ?? assert.fail(`not a stream id: ${a}`);
  const [, bm, bs] = STREAM_ID.exec(b) ?? assert.fail(`not a stream id: ${b}`);
  const [x, y] = am === bm
    ? [BigInt(as), BigInt(bs)]
    : [BigInt(am), BigInt(bm)];
  return x < y ? -1 : x > y ? 1 : 0;
}

function assertIncreasing(ids: readonly (string | undefined)[]): void {
  for (const id of ids) {
    assert.ok(id !== undefined && STREAM_ID.test(id), `bad id ${id}`);
  }
  for (let i = 1; i < ids.length; i++) {
    assert.ok(
      compareIds(ids[i - 1]!, ids[i]!) < 0,
      `ids not strictly increasing: ${ids.join(" ")}`,
    );
  }
}

/** The event as a plain object, id included, for deepEqual. */
const full = (e: ReceivedEvent) => ({ type: e.type, data: e.data, id: e.id });

/** POSTs JSON events and returns their ids; fails unless 202. */
async function postJson(url: string, body: unknown): Promise<string[]> {
  const answer = await post(url, JSON.stringify(body), "application/json");
  assert.equal(answer.status, 202, `POST ${url}: ${answer.body}`);
  const { ids } = jsonOf<PostResult>(answer);
  assertIncreasing(ids as string[]);
  return ids as string[];
}

/** Publishes by GET query; fails unless 200 OK. */
async function publishGet(url: string): Promise<string> {
  const answer = await get(url);
  assert.equal(answer.status, 200, `GET ${url}: ${answer.body}`);
  assert.match(answer.body, /^OK: /);
  return answer.body;
}

/**
 * Starts an instance on `redis` with a control port, and waits until it
 * follows the global stream (before that it would not see new events).
 */
async function startInstance(
  redis: RedisServer,
  args: readonly string[] = [],
): Promise<RunningServer> {
  const server = await startServer(
    ["--redis", redis.url, "-P", "0", ...args],
    { control: true },
  );
  try {
    await server.waitForOutput(/Redis: following sse:events after \S+/);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** Several instances, stopped together. */
interface Instances extends AsyncDisposable {
  readonly all: RunningServer[];
}

async function startInstances(
  redis: RedisServer,
  argsList: readonly (readonly string[])[],
): Promise<Instances> {
  const started = await Promise.allSettled(
    argsList.map((args) => startInstance(redis, args)),
  );
  const all = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const stopAll = async () => {
    await Promise.all(all.map((server) => server.stop()));
  };
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  return { all, [Symbol.asyncDispose]: stopAll };
}

/** A temporary directory removed on disposal. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "sse-cluster-" });
  return {
    path,
    [Symbol.asyncDispose]: () =>
      Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/**
 * The id of the only Redis connection blocked in XREAD (the reader of the
 * only instance), once it is there: an instance logs that it follows the
 * stream just before its first XREAD.
 */
async function xreadClient(redis: RedisServer): Promise<string> {
  const deadline = Date.now() + 5000;
  while (true) {
    const list = await redis.cli("CLIENT", "LIST");
    const readers = list.split("\n").filter((line) =>
      /\bcmd=xread\b/.test(line)
    );
    assert.ok(readers.length <= 1, list);
    if (readers.length === 1) return /\bid=(\d+)/.exec(readers[0])![1];
    assert.ok(Date.now() < deadline, `no reader in XREAD:\n${list}`);
    // Polling Redis: nothing tells when the reader's XREAD has arrived.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The events a subscriber should get for acknowledged publishes. */
function expectedOf(
  acked: readonly { n: number; id: string }[],
): { type: string; data: string; id: string }[] {
  return acked.map(({ n, id }) => ({ type: "message", data: String(n), id }));
}

/** Tracks whether a promise has settled, without waiting for it. */
function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false;
  const set = () => settled = true;
  promise.then(set, set);
  return () => settled;
}

Deno.test("cluster: an event published on A by GET, POST or the control port reaches A, B and C once, with the same id", async () => {
  await using redis = await startRedis();
  await using instances = await startInstances(redis, [[], [], []]);
  const [a, b, c] = instances.all;
  const servers = [a, b, c];
  const news: SseConnection[] = [];
  const both: SseConnection[] = [];
  try {
    for (const server of servers) {
      news.push(await connect(`${server.baseUrl}/news`));
      both.push(await connect(`${server.baseUrl}/a/b`));
    }
    await using everything = await connect(`${c.baseUrl}/`);
    await using ctl = await openController(a.controlPort!);

    // This instance's clients only: A has one on news.
    assert.equal(
      await publishGet(`${a.baseUrl}/news?message=via-get`),
      "OK: 1 event sent to 1 client\n",
    );
    const postIds = await postJson(`${a.baseUrl}/news`, [
      { event: "upd", data: "via-post-1" },
      { data: "via-post-2" },
    ]);
    assert.equal(postIds.length, 2);
    // A publisher cannot choose ids: refused, nothing published.
    const withId = await post(
      `${a.baseUrl}/news`,
      JSON.stringify({ data: "own-id", id: "mine-1" }),
      "application/json",
    );
    assert.equal(withId.status, 400, withId.body);
    assert.match(withId.body, /ids come from Redis/);
    // Not acknowledged: read below before anything else is published.
    await ctl.send("news/ctl = via-control\n");

    const expected = [
      { type: "message", data: "via-get" },
      { type: "upd", data: "via-post-1" },
      { type: "message", data: "via-post-2" },
      { type: "ctl", data: "via-control" },
    ];
    const seen = await Promise.all(news.map((sub) => take(sub, 4)));
    for (const events of seen) {
      assert.deepEqual(
        events.map((e) => ({ type: e.type, data: e.data })),
        expected,
      );
      // The same ids on every instance.
      assert.deepEqual(events.map(full), seen[0].map(full));
    }
    const newsIds = seen[0].map((e) => e.id);
    assertIncreasing(newsIds);
    assert.deepEqual(newsIds.slice(1, 3), postIds);
    // An event on two channels.
    const [abId] = await postJson(`${a.baseUrl}/a/b`, { data: "to-a-and-b" });
    for (const sub of both) {
      assert.deepEqual(full(await sub.nextEvent()), {
        type: "message",
        data: "to-a-and-b",
        id: abId,
      });
    }
    // A client of every channel gets all of them, in order.
    const all = await take(everything, 5);
    assert.deepEqual(all.map(full), [
      ...seen[0].map(full),
      { type: "message", data: "to-a-and-b", id: abId },
    ]);
    assertIncreasing(all.map((e) => e.id));

    // Exactly once: the next event everyone gets is the marker (published on
    // B to all three channels), nothing repeated before it.
    const [markerId] = await postJson(`${b.baseUrl}/news/a/b`, {
      event: "marker",
      data: "end",
    });
    for (const sub of [...news, ...both, everything]) {
      assert.deepEqual(full(await sub.nextEvent()), {
        type: "marker",
        data: "end",
        id: markerId,
      });
    }
    assert.doesNotMatch(everything.raw(), /own-id|sse-gap/);
    assert.deepEqual(ctl.received(), [], "the control port reported errors");

    // Redis holds each event once per channel, and once in the global stream.
    assert.equal(await redis.cli("XLEN", "sse:c:news"), "5");
    assert.equal(await redis.cli("XLEN", "sse:c:a"), "2");
    assert.equal(await redis.cli("XLEN", "sse:c:b"), "2");
    assert.equal(await redis.cli("XLEN", "sse:events"), "6");
    const [lastNews] = (await redis.cli(
      "XREVRANGE",
      "sse:c:news",
      "+",
      "-",
      "COUNT",
      "1",
    )).split("\n");
    assert.equal(lastNews, markerId);
  } finally {
    await Promise.all([...news, ...both].map((sub) => sub.close()));
  }
});

Deno.test("cluster: a client that moves from A to C with Last-Event-ID gets exactly the missed events, then live ones", async () => {
  await using redis = await startRedis();
  await using instances = await startInstances(redis, [[], [], []]);
  const [a, b, c] = instances.all;
  await using ctlB = await openController(b.controlPort!);

  const first = await connect(`${a.baseUrl}/m`);
  await postJson(`${b.baseUrl}/m`, [{ data: "1" }, { data: "2" }, {
    data: "3",
  }]);
  const seen = await take(first, 3);
  assert.deepEqual(seen.map((e) => e.data), ["1", "2", "3"]);
  await first.close();

  // Missed while away, published on B through every input.
  const missedIds = [
    ...await postJson(`${b.baseUrl}/m`, { data: "4" }),
    ...await postJson(`${b.baseUrl}/other`, { data: "not-for-m" }),
  ];
  await publishGet(`${b.baseUrl}/m?message=5`);
  await ctlB.send("m = 6\n");
  // A client of B that last saw 3 shows when all of them are in.
  await using witness = await connect(`${b.baseUrl}/m`, {
    headers: { "Last-Event-ID": seen[2].id! },
  });
  const missed = await take(witness, 3);
  assert.deepEqual(missed.map((e) => e.data), ["4", "5", "6"]);
  assert.equal(missed[0].id, missedIds[0]);
  assertIncreasing([...seen, ...missed].map((e) => e.id));

  await using moved = await connect(`${c.baseUrl}/m`, {
    headers: { "Last-Event-ID": seen[2].id! },
  });
  assert.equal(moved.response.status, 200);
  assert.deepEqual((await take(moved, 3)).map(full), missed.map(full));
  // Then live events, from any instance, and nothing in between.
  const [liveId] = await postJson(`${a.baseUrl}/m`, { data: "7" });
  assert.deepEqual(full(await moved.nextEvent()), {
    type: "message",
    data: "7",
    id: liveId,
  });
  await ctlB.send("m/marker = end\n");
  assert.equal((await moved.nextEvent()).type, "marker");
  assert.doesNotMatch(moved.raw(), /sse-gap|not-for-m/);
  assert.deepEqual(ctlB.received(), []);
});

Deno.test("cluster: a client that keeps moving between A and C while B publishes 300 events gets each once, in order", async () => {
  const total = 300;
  const lead = 40;
  const deadline = Date.now() + 25_000;
  await using redis = await startRedis();
  await using instances = await startInstances(redis, [[], [], []]);
  const [a, b, c] = instances.all;
  await using ctl = await openController(b.controlPort!);
  // On B, connected all along: it paces the publisher.
  await using monitor = await connect(`${b.baseUrl}/seam`);
  const changed = new Condition();
  /** Events the monitor has received, hence in Redis. */
  let published = 0;
  const received: number[] = [];
  let publisherError: unknown;
  const waitUntil = (ready: () => boolean, what: string) =>
    changed.wait(() => ready() || undefined, {
      timeoutMs: 10_000,
      fail: () =>
        publisherError === undefined
          ? undefined
          : new Error(`publisher failed: ${publisherError}`),
      timeout: () =>
        new Error(
          `timed out waiting for ${what}: ${published} published, ${received.length} received`,
        ),
    });

  // Batches of 1 to 9 lines on B's control port, each as soon as the monitor
  // got the previous one, but never more than `lead` events ahead of the
  // moving client: so its reconnections happen while events are published.
  const publisher = (async () => {
    for (let batch = 0; published < total; batch++) {
      assert.ok(Date.now() < deadline, "publisher took longer than 25 s");
      await waitUntil(
        () => published - received.length < lead,
        "the moving client",
      );
      const size = Math.min(total - published, 1 + (batch * 7) % 9);
      let text = "";
      for (let i = published; i < published + size; i++) {
        text += `seam = ${i}\n`;
      }
      await ctl.send(text);
      for (let i = published; i < published + size; i++) {
        const event = await monitor.nextEvent(10_000);
        assert.equal(event.data, String(i), "the monitor saw a wrong event");
      }
      published += size;
      changed.notify();
    }
  })().catch((error) => {
    publisherError = error;
    changed.notify();
  });

  const targets = [a, c];
  let sub = await connect(`${a.baseUrl}/seam`);
  let lastId: string | undefined;
  let reconnections = 0;
  let whilePublishing = 0;
  try {
    for (let round = 0; received.length < total; round++) {
      assert.ok(round < 100, "too many rounds");
      assert.ok(Date.now() < deadline, "took longer than 25 s");
      const quota = 15 + (round * 29) % 40;
      for (let k = 0; k < quota && received.length < total; k++) {
        const event = await sub.nextEvent(10_000);
        assert.equal(event.type, "message", `unexpected ${event.type} event`);
        assert.ok(event.id !== undefined, "event without id");
        if (lastId !== undefined) assertIncreasing([lastId, event.id]);
        received.push(Number(event.data));
        lastId = event.id;
        changed.notify();
      }
      if (received.length === total) break;
      await sub.close();
      // Something this client has not read is in Redis: the replay is never
      // empty (unless everything was already read).
      await waitUntil(
        () => published > received.length,
        "an event published while away",
      );
      if (published < total) whilePublishing++;
      reconnections++;
      sub = await connect(`${targets[reconnections % 2].baseUrl}/seam`, {
        headers: { "Last-Event-ID": lastId! },
      });
      assert.equal(sub.response.status, 200);
    }
    await publisher;
    if (publisherError) throw publisherError;
    // Nothing more is queued: the next event is a marker.
    await ctl.send("seam/marker = end\n");
    const marker = await sub.nextEvent(10_000);
    assert.deepEqual([marker.type, marker.data], ["marker", "end"]);
  } finally {
    await sub.close();
    await publisher;
  }
  assert.deepEqual(received, Array.from({ length: total }, (_, i) => i));
  assert.ok(reconnections >= 4, `only ${reconnections} reconnections`);
  assert.ok(
    whilePublishing >= 3,
    `only ${whilePublishing} of ${reconnections} reconnections while publishing`,
  );
  assert.deepEqual(ctl.received(), [], "the control port reported errors");
  assert.equal(await redis.cli("XLEN", "sse:c:seam"), String(total + 1));
  console.log(
    `${reconnections} reconnections, ${whilePublishing} while publishing`,
  );
});

Deno.test("cluster: --history 3 is enforced in Redis; an expired id gets sse-gap 'expired', a garbage id 'unknown id'", async () => {
  await using redis = await startRedis();
  await using instances = await startInstances(redis, [
    ["--history", "3"],
    ["--history", "3"],
  ]);
  const [a, b] = instances.all;
  await using witness = await connect(`${a.baseUrl}/h`);
  const ids = await postJson(
    `${a.baseUrl}/h`,
    ["1", "2", "3", "4", "5"].map((data) => ({ data })),
  );
  assert.equal(ids.length, 5);
  assert.equal(await redis.cli("XLEN", "sse:c:h"), "3");
  const all = await take(witness, 5);
  assert.deepEqual(all.map((e) => e.id), ids);
  // Every event stays in the global stream (trimmed by age only).
  assert.equal(await redis.cli("XLEN", "sse:events"), "5");

  // Events 1 and 2 are gone: a client that last saw 1 missed 2.
  {
    await using sub = await connect(`${b.baseUrl}/h`, {
      headers: { "Last-Event-ID": ids[0] },
    });
    const gap = await sub.nextEvent();
    assert.equal(gap.type, "sse-gap");
    assert.deepEqual(JSON.parse(gap.data), {
      lastEventId: ids[0],
      reason: "expired",
    });
    assert.deepEqual((await take(sub, 3)).map(full), all.slice(2).map(full));
    // Then live.
    const [six] = await postJson(`${b.baseUrl}/h`, { data: "6" });
    assert.deepEqual(full(await sub.nextEvent()), {
      type: "message",
      data: "6",
      id: six,
    });
    all.push(await witness.nextEvent());
    assert.equal(all[5].id, six);
  }
  assert.equal(await redis.cli("XLEN", "sse:c:h"), "3");
  for (let i = 7; i <= 9; i++) {
    await publishGet(`${b.baseUrl}/h?message=${i}`);
    assert.equal(await redis.cli("XLEN", "sse:c:h"), "3");
  }
  all.push(...await take(witness, 3));
  const kept = all.slice(-3);
  assert.deepEqual(kept.map((e) => e.data), ["7", "8", "9"]);

  // The last event trimmed away is 6: from it, nothing is missing.
  {
    await using sub = await connect(`${a.baseUrl}/h`, {
      headers: { "Last-Event-ID": all[5].id! },
    });
    assert.deepEqual((await take(sub, 3)).map(full), kept.map(full));
    await postJson(`${a.baseUrl}/h`, { event: "marker", data: "a" });
    assert.equal((await sub.nextEvent()).type, "marker");
    assert.doesNotMatch(sub.raw(), /sse-gap/);
  }
  const afterMarker = [...kept.slice(1), await witness.nextEvent()];
  // From 5 (older than everything kept), on either instance: expired.
  for (const server of [a, b]) {
    await using sub = await connect(`${server.baseUrl}/h`, {
      headers: { "Last-Event-ID": all[4].id! },
    });
    const gap = await sub.nextEvent();
    assert.equal(gap.type, "sse-gap");
    assert.deepEqual(JSON.parse(gap.data), {
      lastEventId: all[4].id,
      reason: "expired",
    });
    assert.deepEqual((await take(sub, 3)).map(full), afterMarker.map(full));
  }
  // An id that is no Redis id at all: unknown, then everything kept.
  for (const server of [a, b]) {
    await using sub = await connect(`${server.baseUrl}/h`, {
      headers: { "Last-Event-ID": "garbage" },
    });
    const gap = await sub.nextEvent();
    assert.equal(gap.type, "sse-gap");
    assert.deepEqual(JSON.parse(gap.data), {
      lastEventId: "garbage",
      reason: "unknown id",
    });
    assert.deepEqual((await take(sub, 3)).map(full), afterMarker.map(full));
    await postJson(`${server.baseUrl}/h`, { event: "marker", data: "b" });
    assert.equal((await sub.nextEvent()).data, "b");
    afterMarker.shift();
    afterMarker.push(await witness.nextEvent());
  }
});

Deno.test("cluster: a Redis outage mid-stream refuses publishes (503, error line, log) and only those; streams stay open; every acknowledged event arrives once, in order, on two instances", async () => {
  const deadline = Date.now() + 25_000;
  await using redis = await startRedis();
  await using dir = await tempDir();
  const fifo = `${dir.path}/sse.fifo`;
  await using instances = await startInstances(redis, [["-F", fifo], []]);
  const [a, b] = instances.all;
  const subs = [
    await connect(`${a.baseUrl}/o`),
    await connect(`${b.baseUrl}/o`),
  ];
  try {
    const endedEarly = subs.map((sub) => settledFlag(sub.ended));
    await using ctl = await openController(a.controlPort!);

    // The publisher: events 0, 1, 2, … by POST on A, one at a time, each
    // number tried once, until told to stop.
    const changed = new Condition();
    const acked: { n: number; id: string }[] = [];
    const refused: number[] = [];
    let stop = false;
    let publisherError: unknown;
    const publisher = (async () => {
      for (let n = 0; !stop; n++) {
        assert.ok(Date.now() < deadline, "publisher took longer than 25 s");
        const answer = await post(
          `${a.baseUrl}/o`,
          JSON.stringify({ data: String(n) }),
          "application/json",
        );
        if (answer.status === 202) {
          const { ids } = jsonOf<PostResult>(answer);
          acked.push({ n, id: ids[0]! });
        } else {
          assert.equal(answer.status, 503, answer.body);
          assert.match(
            jsonOf<{ error: string }>(answer).error,
            /Redis did not accept the event.*nothing was published/,
          );
          refused.push(n);
        }
        changed.notify();
        // Pacing while refused, so the outage is not thousands of requests.
        if (answer.status !== 202) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    })().catch((error) => {
      publisherError = error;
      changed.notify();
    });
    const waitUntil = (ready: () => boolean, what: string) =>
      changed.wait(() => ready() || undefined, {
        timeoutMs: 15_000,
        fail: () =>
          publisherError === undefined
            ? undefined
            : new Error(`publisher failed: ${publisherError}`),
        timeout: () =>
          new Error(
            `timed out waiting for ${what}: ${acked.length} acknowledged, ${refused.length} refused`,
          ),
      });

    // Subscribes during the outage; see below.
    let late: SseConnection | undefined;
    let ackedBefore = 0;
    let outageMs = 0;
    try {
      await waitUntil(() => acked.length >= 30, "30 acknowledged events");
      // Writes are paused first, so the publish in flight is not executed:
      // otherwise Redis could run it, persist it and die before answering,
      // and an event the publisher was refused would be delivered (an
      // ambiguity no server can avoid).
      assert.equal(await redis.cli("CLIENT", "PAUSE", "5000", "WRITE"), "OK");
      const [logA, logB] = [a.output().length, b.output().length];
      await redis.stop();
      const stoppedAt = Date.now();
      await waitUntil(() => refused.length >= 5, "5 refused events");
      // Both readers are backing off (0.1 s, 0.2 s, 0.4 s, …).
      await a.waitForOutput(
        /reading sse:events failed.*retrying in 400 ms/,
        10_000,
        logA,
      );
      await b.waitForOutput(
        /reading sse:events failed.*retrying in 400 ms/,
        10_000,
        logB,
      );
      // The publisher is sequential: every answer before a refusal is in.
      ackedBefore = acked.length;

      // The other inputs are refused too.
      await ctl.send("o = via-control-during-outage\n");
      const [line] = await ctl.waitForLines(1);
      assert.match(line, /^error: Redis did not accept the event/);
      const viaGet = await get(`${a.baseUrl}/o?message=via-get-during-outage`);
      assert.equal(viaGet.status, 503, viaGet.body);
      assert.match(viaGet.body, /nothing was published/);
      const logged = a.output().length;
      await writeFifo(fifo, "o = via-fifo-during-outage\n");
      await a.waitForOutput(
        /fifo \S+: Redis did not accept the event/,
        10_000,
        logged,
      );
      // Open streams stay open, and have everything acknowledged so far.
      assert.deepEqual(endedEarly.map((ended) => ended()), [false, false]);
      const beforeOutage = expectedOf(acked.slice(0, ackedBefore));
      for (const sub of subs) {
        assert.deepEqual(
          (await take(sub, ackedBefore, 10_000)).map(full),
          beforeOutage,
        );
      }
      // A client that reconnects now (to B, which has delivered everything
      // acknowledged) hears that its replay is unavailable, then gets the
      // live events.
      const lastSeen = beforeOutage[ackedBefore - 1].id;
      late = await connect(`${b.baseUrl}/o`, {
        headers: { "Last-Event-ID": lastSeen },
      });
      const gap = await late.nextEvent();
      assert.equal(gap.type, "sse-gap");
      assert.deepEqual(JSON.parse(gap.data), {
        lastEventId: lastSeen,
        reason: "unavailable",
      });

      await redis.restart();
      outageMs = Date.now() - stoppedAt;
      await waitUntil(
        () => acked.length >= ackedBefore + 30,
        "30 acknowledged events after the restart",
      );
    } catch (error) {
      await late?.close();
      throw error;
    } finally {
      stop = true;
      await publisher;
    }
    await using lateSub = late;
    if (publisherError) throw publisherError;
    const lastRefused = refused[refused.length - 1];
    assert.ok(
      acked[0].n < refused[0] && lastRefused < acked[acked.length - 1].n,
      "the outage was in the middle of the stream",
    );
    assert.ok(
      refused.every((n) => n > acked[ackedBefore - 1].n) &&
        refused.every((n) => n < acked[ackedBefore].n),
      "one outage",
    );

    // Every acknowledged event, once, in order, on both instances, on the
    // streams opened before the outage; the late client gets those after.
    const afterOutage = expectedOf(acked.slice(ackedBefore));
    for (const sub of [...subs, lateSub]) {
      assert.deepEqual(
        (await take(sub, afterOutage.length, 15_000)).map(full),
        afterOutage,
      );
    }
    assertIncreasing(acked.map((e) => e.id));
    // Nothing else is queued: the next event is the marker.
    const [markerId] = await postJson(`${b.baseUrl}/o`, {
      event: "marker",
      data: "end",
    });
    for (const sub of [...subs, lateSub]) {
      assert.deepEqual(full(await sub.nextEvent(10_000)), {
        type: "marker",
        data: "end",
        id: markerId,
      });
      assert.doesNotMatch(sub.raw(), /during-outage/);
    }
    for (const sub of subs) assert.doesNotMatch(sub.raw(), /sse-gap/);
    assert.deepEqual(endedEarly.map((ended) => ended()), [false, false]);
    // The acknowledged events survived the restart in Redis, and only they.
    assert.equal(
      await redis.cli("XLEN", "sse:c:o"),
      String(acked.length + 1),
    );
    assert.equal(ctl.received().length, 1);
    assert.match(a.output(), /Redis: connected again/);
    console.log(
      `${acked.length} events acknowledged, ${refused.length} refused; Redis down for ${outageMs} ms`,
    );
  } finally {
    await Promise.all(subs.map((sub) => sub.close()));
  }
});

/** What {@linkcode withLaggingB} sets up. */
interface LaggingB extends AsyncDisposable {
  readonly a: RunningServer;
  readonly b: RunningServer;
  /** Subscribers on /d of A and of B; both have had `first`. */
  readonly subA: SseConnection;
  readonly subB: SseConnection;
  readonly first: string;
  /** `redis-cli` arguments that log in while the password is set. */
  readonly auth: readonly string[];
}

/**
 * Instances A and B with a subscriber on /d each that got the event
 * `first`; then B's reader loses its connection and cannot log in again
 * (connections already open, B's publishing one included, keep theirs): B
 * falls behind while A goes on.
 */
async function withLaggingB(redis: RedisServer): Promise<LaggingB> {
  await using stack = new AsyncDisposableStack();
  // B first, alone, to tell its reader (blocked in XREAD) from A's.
  const b = stack.use(await startInstance(redis));
  const readerB = await xreadClient(redis);
  const a = stack.use(await startInstance(redis));
  const subA = stack.use(await connect(`${a.baseUrl}/d`));
  const subB = stack.use(await connect(`${b.baseUrl}/d`));
  const [first] = await postJson(`${a.baseUrl}/d`, { data: "first" });
  assert.equal((await subA.nextEvent()).id, first);
  assert.equal((await subB.nextEvent()).id, first);

  const auth = ["-a", "secret", "--no-auth-warning"];
  assert.equal(
    await redis.cli("CONFIG", "SET", "requirepass", "secret"),
    "OK",
  );
  const logB = b.output().length;
  assert.equal(await redis.cli(...auth, "CLIENT", "KILL", "ID", readerB), "1");
  await b.waitForOutput(/reading sse:events failed/, 10_000, logB);
  const owned = stack.move();
  return {
    a,
    b,
    subA,
    subB,
    first,
    auth,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

Deno.test("cluster: a client that moves to an instance whose reader lags behind gets the missed events once", async () => {
  await using redis = await startRedis();
  await using lag = await withLaggingB(redis);
  const { a, b, subA, subB, first, auth } = lag;
  const [second] = await postJson(`${a.baseUrl}/d`, { data: "second" });
  assert.equal((await subA.nextEvent()).id, second);
  // A client that saw "first" moves to B: the replay, read from Redis, has
  // "second".
  await using moved = await connect(`${b.baseUrl}/d`, {
    headers: { "Last-Event-ID": first },
  });
  assert.deepEqual(full(await moved.nextEvent()), {
    type: "message",
    data: "second",
    id: second,
  });
  // B's reader gets in again and catches up.
  assert.equal(
    await redis.cli(...auth, "CONFIG", "SET", "requirepass", ""),
    "OK",
  );
  assert.equal((await subB.nextEvent(15_000)).id, second);
  const [third] = await postJson(`${a.baseUrl}/d`, { data: "third" });
  assert.equal((await subB.nextEvent(15_000)).id, third);
  // The moved client already has "second": the next event is "third".
  assert.deepEqual(full(await moved.nextEvent(15_000)), {
    type: "message",
    data: "third",
    id: third,
  });
});

Deno.test("cluster: a client that reconnects during an outage to an instance that lags behind does not get again the events it had", async () => {
  await using redis = await startRedis();
  await using lag = await withLaggingB(redis);
  const { a, b, subA, subB, auth } = lag;
  const [second] = await postJson(`${a.baseUrl}/d`, { data: "second" });
  // A client reads it from A…
  assert.deepEqual(full(await subA.nextEvent()), {
    type: "message",
    data: "second",
    id: second,
  });
  // …then Redis goes down (the restart forgets the password), and the client
  // reconnects to B.
  assert.equal(
    await redis.cli(...auth, "CLIENT", "PAUSE", "5000", "WRITE"),
    "OK",
  );
  await redis.stop();
  await using moved = await connect(`${b.baseUrl}/d`, {
    headers: { "Last-Event-ID": second },
  });
  const gap = await moved.nextEvent();
  assert.deepEqual(
    [gap.type, JSON.parse(gap.data)],
    ["sse-gap", { lastEventId: second, reason: "unavailable" }],
  );
  await redis.restart();
  // B catches up: its old client gets "second" once.
  assert.deepEqual(full(await subB.nextEvent(15_000)), {
    type: "message",
    data: "second",
    id: second,
  });
  // Publish until A has Redis again.
  let third: string | undefined;
  for (let attempt = 0; third === undefined; attempt++) {
    assert.ok(attempt < 200, "A never got Redis back");
    const answer = await post(
      `${a.baseUrl}/d`,
      JSON.stringify({ data: "third" }),
      "application/json",
    );
    if (answer.status === 202) third = jsonOf<PostResult>(answer).ids[0]!;
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal((await subB.nextEvent(15_000)).id, third);
  // The moved client said it had "second": the next event is "third".
  assert.deepEqual(full(await moved.nextEvent(15_000)), {
    type: "message",
    data: "third",
    id: third,
  });
});

Deno.test("cluster: an instance whose subscribers owe too much pauses its Redis reader; its reader still gets every event", async () => {
  await using redis = await startRedis();
  // On B each subscriber counts for at most 64 KiB of the backlog: the two
  // that never read would hold it over 100,000 bytes for ever if stalled
  // clients kept counting.
  await using cluster = await startInstances(redis, [
    [],
    [
      "--max-backlog",
      "100000",
      "--max-client-buffer",
      String(64 << 20),
      "--admin-port",
      "0",
    ],
  ]);
  const [a, b] = cluster.all;
  const admin = await adminUrl(b);
  const stalled = [
    await rawSubscribe(b.httpPort, "/c"),
    await rawSubscribe(b.httpPort, "/c"),
  ];
  try {
    await using reader = await connect(`${b.baseUrl}/c`);
    await using ctl = await openController(a.controlPort!);
    // ~12 MB: more than the kernel's buffers for the two stalled sockets
    // take, so they do stall.
    const COUNT = 12_000;
    const payload = "r".repeat(1000);
    for (let i = 0; i < COUNT; i += 100) {
      let batch = "";
      for (let j = i; j < i + 100; j++) batch += `c = ${j} ${payload}\n`;
      await ctl.send(batch);
    }
    const events = await take(reader, COUNT, 20_000);
    assert.deepEqual(
      events.map((event) => event.data),
      Array.from({ length: COUNT }, (_, i) => `${i} ${payload}`),
    );
    const metrics = await (await fetch(`${admin}/metrics`))
      .text();
    const pushbacks = Number(
      /^sse_server_pushbacks_total (\d+)$/m.exec(metrics)?.[1],
    );
    assert.ok(pushbacks > 0, `B's reader never waited:\n${metrics}`);
  } finally {
    for (const conn of stalled) conn.close();
  }
});

Deno.test("cluster: halt-all on the control port (-a) halts every instance, each exits 0", async () => {
  await using redis = await startRedis();
  await using instances = await startInstances(redis, [["-a"], ["-a"], [
    "-a",
  ]]);
  const servers = instances.all;
  const subs = await Promise.all(
    servers.map((server) => connect(`${server.baseUrl}/x`)),
  );
  try {
    await using ctl = await openController(servers[1].controlPort!);
    await ctl.send("halt-all\n");
    const codes = await within(
      Promise.all(servers.map((server) => server.exited)),
      15_000,
      "every instance to exit",
    );
    assert.deepEqual(codes, [0, 0, 0]);
    await within(
      Promise.all(subs.map((sub) => sub.ended)),
      5000,
      "every stream to end",
    );
    for (const server of servers) {
      assert.match(server.output(), /cluster: command halt\n[^]*halted/);
    }
    assert.deepEqual(ctl.received(), []);
  } finally {
    await Promise.all(subs.map((sub) => sub.close()));
  }
});

Deno.test("cluster: halt-all through the FIFO halts every instance; on a control port without -a it is refused", async () => {
  await using redis = await startRedis();
  await using dir = await tempDir();
  const fifo = `${dir.path}/sse.fifo`;
  await using instances = await startInstances(redis, [[], [], ["-F", fifo]]);
  const servers = instances.all;
  const [a, b, c] = servers;
  const exited = servers.map((server) => settledFlag(server.exited));
  await using sub = await connect(`${c.baseUrl}/x`);

  await using ctl = await openController(a.controlPort!);
  await ctl.send("halt-all\n");
  const [line] = await ctl.waitForLines(1);
  assert.match(line, /^error: command "halt-all" refused/);
  // Had it been sent, every instance would have read it before this event.
  await publishGet(`${b.baseUrl}/x?message=still-here`);
  assert.equal((await sub.nextEvent()).data, "still-here");
  assert.deepEqual(exited.map((done) => done()), [false, false, false]);

  await writeFifo(fifo, "halt-all\n");
  const codes = await within(
    Promise.all(servers.map((server) => server.exited)),
    15_000,
    "every instance to exit",
  );
  assert.deepEqual(codes, [0, 0, 0]);
  await within(sub.ended, 5000, "the stream to end");
});

Deno.test("cluster: plain halt halts only the instance that got it", async () => {
  await using redis = await startRedis();
  await using instances = await startInstances(redis, [["-a"], ["-a"], [
    "-a",
  ]]);
  const [a, b, c] = instances.all;
  const exited = instances.all.map((server) => settledFlag(server.exited));
  const subs = await Promise.all(
    instances.all.map((server) => connect(`${server.baseUrl}/x`)),
  );
  try {
    await using ctl = await openController(a.controlPort!);
    await ctl.send("halt\n");
    assert.equal(await within(a.exited, 10_000, "A to exit"), 0);
    await within(subs[0].ended, 5000, "A's stream to end");
    // A halt sent to the others would come before this event in the stream.
    await publishGet(`${b.baseUrl}/x?message=after-halt`);
    for (const sub of subs.slice(1)) {
      assert.equal((await sub.nextEvent()).data, "after-halt");
    }
    await publishGet(`${c.baseUrl}/x?message=again`);
    for (const sub of subs.slice(1)) {
      assert.equal((await sub.nextEvent()).data, "again");
    }
    assert.deepEqual(exited.map((done) => done()), [true, false, false]);
    assert.doesNotMatch(b.output() + c.output(), /cluster: command|halting/);
  } finally {
    await Promise.all(subs.map((sub) => sub.close()));
  }
});

Deno.test("cluster: without --redis nothing touches Redis", async () => {
  // On the default port when it is free, so a default would be noticed.
  await using redis = await startRedis({ preferPort: 6379 });
  assert.equal(await redis.cli("DBSIZE"), "0");

  await using dir = await tempDir();
  const fifo = `${dir.path}/sse.fifo`;
  const server = await startServer(["-P", "0", "-a", "-F", fifo], {
    control: true,
  });
  try {
    await using sub = await connect(`${server.baseUrl}/n`);
    await publishGet(`${server.baseUrl}/n?message=one`);
    const answer = await post(
      `${server.baseUrl}/n`,
      JSON.stringify({ data: "two" }),
      "application/json",
    );
    assert.equal(answer.status, 202, answer.body);
    await writeFifo(fifo, "n = three\n");
    const events = await take(sub, 3);
    assert.deepEqual(events.map((e) => e.data), ["one", "two", "three"]);
    for (const { id } of events) {
      assert.ok(id !== undefined && !STREAM_ID.test(id), `id ${id}`);
    }
    await using again = await connect(`${server.baseUrl}/n`, {
      headers: { "Last-Event-ID": events[0].id! },
    });
    assert.deepEqual(
      (await take(again, 2)).map(full),
      events.slice(1).map(full),
    );
    // After all that, the server holds no connection to Redis's port (read
    // from /proc: a count of Redis's connections would also see other
    // programs that use the default port).
    assert.equal(connectedTo(server.process.pid, redis.port), false);
    // halt-all without Redis is halt.
    await using ctl = await openController(server.controlPort!);
    await ctl.send("halt-all\n");
    assert.equal(await within(server.exited, 10_000, "the exit"), 0);
  } finally {
    await server.stop();
  }
  assert.equal(await redis.cli("DBSIZE"), "0");
  assert.doesNotMatch(server.output() + server.errors(), /redis/i);
});
