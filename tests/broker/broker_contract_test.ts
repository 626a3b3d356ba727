// The broker contract, run against every implementation: ids given on
// publish, live delivery, replay after a last event id (each event once,
// then live ones), a gap event for an id no longer known, and commands
// broadcast to this instance too. The Redis broker runs against a real
// redis-server.
import assert from "node:assert/strict";
import type { Broker, ClusterCommand } from "../../lib/broker/broker.ts";
import { MemoryBroker } from "../../lib/broker/memory_broker.ts";
import { RedisBroker } from "../../lib/broker/redis_broker.ts";
import { Hub } from "../../lib/core/hub.ts";
import { parseEvent, type SseEvent } from "../../lib/core/sse_format.ts";
import type { HistoryPage } from "../../lib/core/history_page.ts";
import type { Subscriber } from "../../lib/core/subscriber.ts";
import { startRedis } from "../helpers/redis_server.ts";
import { BIG, NO_KEEPALIVE, text } from "../helpers/hub_bytes.ts";
import { pollUntil, within } from "../helpers/condition.ts";

/** A broker under test, its commands as received, and how to end it. */
interface Subject extends AsyncDisposable {
  readonly broker: Broker;
  readonly commands: ClusterCommand[];
}

type Make = () => Promise<Subject>;

const CLOSE_NEWS: ClusterCommand = { kind: "close-channel", channel: "news" };

const IMPLEMENTATIONS: Readonly<Record<string, Make>> = {
  memory: () => {
    const hub = new Hub({
      maxQueuedBytes: BIG,
      keepAliveMs: NO_KEEPALIVE,
      history: { maxPerChannel: 100, maxAgeMs: 3_600_000 },
    });
    const commands: ClusterCommand[] = [];
    const broker = new MemoryBroker(hub, (command) => commands.push(command));
    return Promise.resolve({
      broker,
      commands,
      async [Symbol.asyncDispose]() {
        await broker.close();
        hub.close();
      },
    });
  },
  redis: async () => {
    const redis = await startRedis();
    const hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
    const commands: ClusterCommand[] = [];
    const broker = RedisBroker.start({
      url: redis.url,
      history: 100,
      historyAgeMs: 3_600_000,
      onCommand: (command) => commands.push(command),
    }, hub);
    return {
      broker,
      commands,
      async [Symbol.asyncDispose]() {
        await broker.close();
        hub.close();
        await redis[Symbol.asyncDispose]();
      },
    };
  },
};

/** Publishes, waiting (up to 5 s) for a broker still connecting. */
async function publish(
  broker: Broker,
  channels: string[],
  events: SseEvent[],
): Promise<(string | undefined)[]> {
  const deadline = Date.now() + 5000;
  while (true) {
    try {
      return [...(await broker.publish(channels, events)).ids];
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** The events of the next chunks of `sub`, until `count` have come. */
async function events(sub: Subscriber, count: number): Promise<string[]> {
  const lines: string[] = [];
  while (lines.length < count) {
    const chunk = await within(sub.next(), 5000, "next event");
    for (const block of text(chunk).split("\n\n")) {
      const data = /^data: (.*)$/m.exec(block)?.[1];
      const type = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      if (data !== undefined) lines.push(`${type}=${data}`);
    }
  }
  return lines;
}

for (const [name, make] of Object.entries(IMPLEMENTATIONS)) {
  Deno.test(`broker contract (${name}): publish gives ids and reaches live subscribers`, async () => {
    await using subject = await make();
    const { broker } = subject;
    const sub = await broker.subscribe(["news"], "t", {});
    const other = await broker.subscribe(["sport"], "t", {});
    const ids = await publish(broker, ["news"], [
      { type: "message", data: "one" },
      { type: "flash", data: "two" },
    ]);
    assert.equal(ids.length, 2);
    assert.ok(ids.every((id) => typeof id === "string" && id !== ""));
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual(await events(sub, 2), ["message=one", "flash=two"]);
    assert.equal(other.queuedBytes, 0);
  });

  Deno.test(`broker contract (${name}): a subscriber with a last event id gets what came after it once, then live events`, async () => {
    await using subject = await make();
    const { broker } = subject;
    const watcher = await broker.subscribe(["c"], "w", {});
    const [first] = await publish(broker, ["c"], [{
      type: "message",
      data: "1",
    }]);
    await publish(broker, ["c"], [{ type: "message", data: "2" }]);
    await publish(broker, ["c"], [{ type: "message", data: "3" }]);
    // The watcher has them all: every instance has delivered them.
    assert.deepEqual(await events(watcher, 3), [
      "message=1",
      "message=2",
      "message=3",
    ]);
    const back = await broker.subscribe(["c"], "r", { lastEventId: first });
    await publish(broker, ["c"], [{ type: "message", data: "4" }]);
    assert.deepEqual(await events(back, 3), [
      "message=2",
      "message=3",
      "message=4",
    ]);
  });

  Deno.test(`broker contract (${name}): an id the broker does not know gets a gap event, then live events`, async () => {
    await using subject = await make();
    const { broker } = subject;
    await publish(broker, ["c"], [{ type: "message", data: "kept" }]);
    // Not an id of ours at all, and one shaped like a Redis id from the
    // future (which must not hide the live events that follow).
    for (const unknown of ["no-such-id", "99999999999999-0"]) {
      const sub = await broker.subscribe(["c"], "g", {
        lastEventId: unknown,
      });
      await publish(broker, ["c"], [{ type: "message", data: "live" }]);
      // The gap first, then whatever is kept, then the live event.
      const got = await events(sub, 1);
      while (!got.includes("message=live")) got.push(...await events(sub, 1));
      assert.match(
        got[0],
        new RegExp(
          `^sse-gap=\\{"lastEventId":"${unknown}","reason":"unknown id"`,
        ),
      );
      sub.close("client disconnected");
    }
  });

  Deno.test(`broker contract (${name}): "earliest" replays everything kept, oldest first, with no gap, then live events`, async () => {
    await using subject = await make();
    const { broker } = subject;
    await publish(broker, ["c"], [{ type: "message", data: "1" }]);
    await publish(broker, ["d"], [{ type: "other", data: "elsewhere" }]);
    await publish(broker, ["c"], [{ type: "note", data: "2" }]);
    const sub = await broker.subscribe(["c"], "e", { lastEventId: "earliest" });
    await publish(broker, ["c"], [{ type: "message", data: "live" }]);
    const got = await events(sub, 1);
    while (!got.includes("message=live")) got.push(...await events(sub, 1));
    assert.deepEqual(got, ["message=1", "note=2", "message=live"]);
  });

  Deno.test(`broker contract (${name}): history answers what is kept, oldest first, each once, decoded`, async () => {
    await using subject = await make();
    const { broker } = subject;
    const [both] = await publish(broker, ["c", "d"], [
      { type: "message", data: "to both" },
    ]);
    const [onC, onD] = [
      ...await publish(broker, ["c"], [{ type: "note", data: "one\ntwo" }]),
      ...await publish(broker, ["d"], [{ type: "message", data: "on d" }]),
    ];
    await publish(broker, ["e"], [{ type: "message", data: "elsewhere" }]);
    const decode = (page: HistoryPage) =>
      page.entries.map(({ id, bytes }) => ({
        id,
        ...parseEvent(new TextDecoder().decode(bytes)),
      }));
    const all = await broker.history(["c", "d", "c"], undefined);
    assert.deepEqual(decode(all), [
      { id: both, type: "message", data: "to both" },
      { id: onC, type: "note", data: "one\ntwo" },
      { id: onD, type: "message", data: "on d" },
    ]);
    assert.equal(all.lastEventId, onD);
    assert.equal(all.gap, undefined);
    const after = await broker.history(["c"], both);
    assert.deepEqual(decode(after).map((e) => e.id), [onC]);
    assert.equal(after.lastEventId, onC);
    const none = await broker.history(["c"], onC);
    assert.deepEqual({ entries: none.entries, last: none.lastEventId }, {
      entries: [],
      last: onC,
    });
    const earliest = await broker.history(["d"], "earliest");
    assert.deepEqual(decode(earliest).map((e) => e.id), [both, onD]);
    assert.equal(earliest.gap, undefined);
    const empty = await broker.history(["nothing-here"], undefined);
    assert.deepEqual(empty, { entries: [], lastEventId: null });
  });

  Deno.test(`broker contract (${name}): history after an id no longer kept, or unknown, says why`, async () => {
    await using subject = await make();
    const { broker } = subject;
    // One more than the 100 kept per channel, and one to miss.
    const ids = await publish(
      broker,
      ["c"],
      Array.from({ length: 102 }, (_, i) => ({
        type: "message",
        data: `${i}`,
      })),
    );
    const expired = await broker.history(["c"], ids[0]);
    assert.equal(expired.gap, "expired");
    assert.deepEqual(expired.entries.map((e) => e.id), ids.slice(2));
    assert.equal(expired.lastEventId, ids[101]);
    const unknown = await broker.history(["c"], "not-an-id-1");
    assert.equal(unknown.gap, "unknown id");
    assert.deepEqual(unknown.entries.map((e) => e.id), ids.slice(2));
    const kept = await broker.history(["c"], ids[50]);
    assert.equal(kept.gap, undefined);
    assert.equal(kept.entries.length, 51);
  });

  Deno.test(`broker contract (${name}): a broadcast command reaches this instance`, async () => {
    await using subject = await make();
    const deadline = Date.now() + 5000;
    while (true) {
      try {
        await subject.broker.broadcast(CLOSE_NEWS);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // Redis hands it back through the stream: wait for it to come.
    await pollUntil(() => subject.commands.length > 0, {
      timeoutMs: 5000,
      timeout: () => new Error("the command never came back"),
    });
    assert.deepEqual(subject.commands, [CLOSE_NEWS]);
  });

  Deno.test(`broker contract (${name}): channel history is listed and forgotten`, async () => {
    await using subject = await make();
    assert.ok(await subject.broker.waitReady(5000));
    const first = await subject.broker.publish(["news", "sport"], [
      { type: "message", data: "1" },
    ]);
    const second = await subject.broker.publish(["news"], [
      { type: "message", data: "2" },
    ]);
    const kept = await subject.broker.channelHistory();
    assert.deepEqual(
      kept.sort((a, b) => a.name.localeCompare(b.name)),
      [
        { name: "news", events: 2, lastEventId: second.ids[0] },
        { name: "sport", events: 1, lastEventId: first.ids[0] },
      ],
    );
    assert.deepEqual(await subject.broker.channelHistory("sport"), [
      { name: "sport", events: 1, lastEventId: first.ids[0] },
    ]);
    assert.equal(await subject.broker.forgetHistory("news"), 2);
    assert.deepEqual(await subject.broker.channelHistory("news"), []);
    assert.deepEqual(
      (await subject.broker.channelHistory()).map((c) => c.name),
      ["sport"],
    );
    // A client that saw the first event is told the rest is gone.
    const sub = await subject.broker.subscribe(["news"], "test", {
      lastEventId: first.ids[0],
    });
    try {
      const [gap] = await events(sub, 1);
      assert.match(gap, /^sse-gap=/);
    } finally {
      sub.close("client disconnected");
    }
  });
}

Deno.test("memory broker: there are no other instances' counts", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const broker = new MemoryBroker(hub, () => {});
  const others = await broker.exchangeCounts(new Map([["news", 3]]));
  assert.equal(others.size, 0);
});

Deno.test("redis broker: instances exchange their counts and a clean stop withdraws them", async () => {
  await using redis = await startRedis();
  using hubA = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  using hubB = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const options = {
    url: redis.url,
    history: 100,
    historyAgeMs: 3_600_000,
    onCommand: () => {},
  };
  const a = RedisBroker.start(options, hubA);
  const b = RedisBroker.start(options, hubB);
  try {
    assert.ok(await a.waitReady(5000));
    assert.ok(await b.waitReady(5000));
    // Nobody else has reported yet.
    assert.deepEqual(
      [...await a.exchangeCounts(new Map([["news", 2], ["sport", 1]]))],
      [],
    );
    const seenByB = await b.exchangeCounts(new Map([["news", 5]]));
    assert.deepEqual(Object.fromEntries(seenByB), { news: 2, sport: 1 });
    const seenByA = await a.exchangeCounts(new Map([["news", 2]]));
    assert.deepEqual(Object.fromEntries(seenByA), { news: 5 });
    await a.close();
    assert.deepEqual([...await b.exchangeCounts(new Map())], []);
  } finally {
    await a.close();
    await b.close();
  }
});
