import assert from "node:assert/strict";
import {
  History,
  type HistoryEntry,
  type Replay,
} from "../../lib/core/history.ts";
import { Hub, type HubOptions } from "../../lib/core/hub.ts";
import { GAP_EVENT } from "../../lib/core/notices.ts";
import { stopReading } from "../helpers/hub_bytes.ts";
import {
  encodeEvent,
  formatEvent,
  type SseEvent,
} from "../../lib/core/sse_format.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const BIG = 1 << 20;
/** Long enough that no keep-alive interferes with these tests. */
const NO_KEEPALIVE = 60_000;
const HOUR = 3_600_000;

function historyHub(
  maxPerChannel: number,
  options: Partial<HubOptions> & { maxAgeMs?: number } = {},
): Hub {
  return new Hub({
    maxQueuedBytes: options.maxQueuedBytes ?? BIG,
    keepAliveMs: NO_KEEPALIVE,
    history: { maxPerChannel, maxAgeMs: options.maxAgeMs ?? HOUR },
  });
}

function text(chunk: Uint8Array | null): string {
  assert.ok(chunk !== null, "expected bytes, got the end of the stream");
  return decoder.decode(chunk);
}

/** Event number `n`: all have the same encoded length for one-digit `n`. */
function ev(n: number, type = "message"): SseEvent {
  return { type, data: `event ${n}` };
}

/** Publishes one event and returns the id the hub gave it. */
function publish(hub: Hub, channels: string[], event: SseEvent): string {
  const result = hub.publish(channels, [event]);
  assert.equal(result.ids.length, 1);
  const id = result.ids[0];
  assert.ok(id !== undefined, "the event got no id");
  return id;
}

/** The exact text of `event` as sent with `id`. */
function withId(event: SseEvent, id: string): string {
  return formatEvent({ ...event, id });
}

/** The text of the replayed entries, one string per entry. */
function replayed(replay: Replay): string[] {
  return replay.entries.map((entry) => decoder.decode(entry.bytes));
}

/** The exact text of the gap event a reconnecting client is sent first. */
function gapText(lastEventId: string, reason: string): string {
  return `event: ${GAP_EVENT}\ndata: ${
    JSON.stringify({ lastEventId, reason })
  }\n\n`;
}

/** A hub publishing `events` in order to `channels[i]`; returns the ids and texts. */
function publishAll(
  hub: Hub,
  plan: [channels: string[], event: SseEvent][],
): { ids: string[]; wires: string[] } {
  const ids: string[] = [];
  const wires: string[] = [];
  for (const [channels, event] of plan) {
    const id = publish(hub, channels, event);
    ids.push(id);
    wires.push(withId(event, id));
  }
  return { ids, wires };
}

/** Records an entry directly in a History, at an explicit time. */
function record(
  history: History,
  channels: string[],
  label: string,
  time: number,
  id?: string,
): HistoryEntry {
  const seq = history.nextSeq();
  const entry: HistoryEntry = {
    seq,
    id: id ?? history.idFor(seq),
    bytes: encoder.encode(label),
    time,
  };
  history.record(channels, entry);
  return entry;
}

// ---------------------------------------------------------------------------
// Ids

Deno.test("History: ids are <instance>-<seq>, strictly increasing, and idFor(seq) is what publish returns", async () => {
  using hub = historyHub(100);
  const sub = hub.subscribe(["a"], "x");
  const ids: string[] = [];
  const expected: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const result = hub.publish(["a"], [ev(i)]);
    assert.equal(result.ids.length, 1);
    ids.push(result.ids[0]!);
    expected.push(withId(ev(i), result.ids[0]!));
  }
  // A multi-event publish gives one id per event.
  const multi = hub.publish(["a"], [ev(4, "news"), ev(5)]);
  assert.equal(multi.ids.length, 2);
  for (const [i, id] of multi.ids.entries()) {
    ids.push(id!);
    expected.push(withId(ev(4 + i, i === 0 ? "news" : "message"), id!));
  }
  let instance: string | undefined;
  let previous = 0;
  for (const [i, id] of ids.entries()) {
    // Sequence numbers start at 1 and there is one per event.
    assert.equal(id, hub.history.idFor(i + 1));
    const match = /^([0-9a-z]+)-([1-9][0-9]*)$/.exec(id);
    assert.ok(match, `id ${JSON.stringify(id)} is not <instance>-<seq>`);
    instance ??= match[1];
    assert.equal(match[1], instance, "the instance part changed");
    const seq = Number(match[2]);
    assert.ok(seq > previous, `ids not increasing: ${ids.join(", ")}`);
    previous = seq;
  }
  assert.equal(new Set(ids).size, ids.length);
  // The ids are sent as id: lines.
  assert.equal(text(await sub.next()), expected.join(""));
  assert.equal(hub.history.size, 5);
});

Deno.test("Hub: with history disabled no ids are made, but a publisher's id is sent", async () => {
  for (
    const options of [
      { maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE },
      {
        maxQueuedBytes: BIG,
        keepAliveMs: NO_KEEPALIVE,
        history: { maxPerChannel: 0, maxAgeMs: HOUR },
      },
    ]
  ) {
    using hub = new Hub(options);
    assert.equal(hub.history.enabled, false);
    const sub = hub.subscribe(["a"], "x");
    const plain = hub.publish(["a"], [ev(1)]);
    assert.deepEqual(plain.ids, [undefined]);
    const plainText = text(await sub.next());
    assert.equal(plainText, "data: event 1\n\n");
    assert.ok(!plainText.includes("id:"));
    // A publisher-set id is still sent as it is.
    const own = hub.publish(["a"], [{ type: "news", data: "x", id: "pub-7" }]);
    assert.deepEqual(own.ids, ["pub-7"]);
    assert.equal(text(await sub.next()), "event: news\nid: pub-7\ndata: x\n\n");
    // Nothing is kept, and a reconnecting client gets no replay and no gap.
    assert.equal(hub.history.size, 0);
    const again = hub.subscribe(["a"], "y", { lastEventId: "pub-7" });
    assert.equal(again.queuedBytes, 0);
    assert.equal(again.eventsQueued, 0);
  }
});

// ---------------------------------------------------------------------------
// Replay after a known id

Deno.test("History: replay after a known id gives the later events of the channels, in order, once", () => {
  using hub = historyHub(100);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)], // 0
    [["b"], ev(2)], // 1
    [["a", "b"], ev(3, "both")], // 2: on two channels
    [["c"], ev(4)], // 3: another channel
    [["b"], ev(5)], // 4
    [["a"], ev(6)], // 5
    [[], ev(7)], // 6: no channel
    [["b", "a"], ev(8, "both")], // 7
  ]);
  const history = hub.history;
  // a and b interleaved, in publishing order; events on both come once.
  const ab = history.replay(["a", "b"], ids[0]);
  assert.equal(ab.gap, undefined);
  assert.deepEqual(replayed(ab), [1, 2, 4, 5, 7].map((i) => wires[i]));
  // The order of the subscribed channels does not matter, nor repeats.
  assert.deepEqual(replayed(history.replay(["b", "a"], ids[0])), replayed(ab));
  assert.deepEqual(
    replayed(history.replay(["a", "b", "a", "b"], ids[0])),
    replayed(ab),
  );
  // The last id may be from a channel the client is not on.
  const a = history.replay(["a"], ids[1]);
  assert.equal(a.gap, undefined);
  assert.deepEqual(replayed(a), [2, 5, 7].map((i) => wires[i]));
  const fromC = history.replay(["b"], ids[3]);
  assert.deepEqual(replayed(fromC), [4, 7].map((i) => wires[i]));
  // Up to date: nothing, and no gap.
  const latest = history.replay(["a", "b"], ids[7]);
  assert.deepEqual(latest, { entries: [] });
  // Entries carry their ids and sequence numbers, strictly increasing.
  const seqs = ab.entries.map((entry) => entry.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal(new Set(seqs).size, seqs.length);
  assert.deepEqual(ab.entries.map((entry) => entry.id), [
    ids[1],
    ids[2],
    ids[4],
    ids[5],
    ids[7],
  ]);
  // An event on two channels is kept once.
  assert.equal(history.size, 8);
});

Deno.test("Hub: a subscriber on two channels gets an event published to both once in its replay", async () => {
  using hub = historyHub(100);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)],
    [["a", "b"], ev(2)],
    [["b"], ev(3)],
    [["a"], ev(4)],
  ]);
  const sub = hub.subscribe(["a", "b"], "x", { lastEventId: ids[0] });
  assert.equal(sub.eventsQueued, 3);
  assert.equal(text(await sub.next()), wires.slice(1).join(""));
});

Deno.test("History: an all-channels subscriber replays every channel and channel-less publishes", async () => {
  using hub = historyHub(100);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)],
    [["b"], ev(2)],
    [[], ev(3)],
    [["c", "a"], ev(4)],
    [[], ev(5)],
    [["d"], ev(6)],
  ]);
  const all = hub.history.replay([], ids[0]);
  assert.equal(all.gap, undefined);
  assert.deepEqual(replayed(all), wires.slice(1));
  // A subscriber on a channel does not get channel-less events.
  assert.deepEqual(replayed(hub.history.replay(["a"], ids[0])), [wires[3]]);
  // Through the hub.
  const sub = hub.subscribe([], "x", { lastEventId: ids[1] });
  assert.equal(text(await sub.next()), wires.slice(2).join(""));
});

// ---------------------------------------------------------------------------
// Ids that cannot be positioned, or whose successors are gone

Deno.test("History: an unknown id gives the gap 'unknown id' and every kept event", () => {
  using hub = historyHub(3);
  const { ids, wires } = publishAll(
    hub,
    [1, 2, 3, 4, 5].map((i): [string[], SseEvent] => [["a"], ev(i)]),
  );
  publish(hub, ["b"], ev(6));
  const instance = ids[0].slice(0, ids[0].lastIndexOf("-"));
  const otherInstance = (parseInt(instance, 36) - 1).toString(36);
  assert.notEqual(otherInstance, instance);
  for (
    const unknown of [
      "nonsense",
      "42",
      `${otherInstance}-2`, // an earlier run's id
      `zz${instance}-2`,
      `${instance}-999`, // ours, but not made yet
      `${instance}-2.5`,
      `${instance}-abc`,
      `${instance}-2-x`,
    ]
  ) {
    const replay = hub.history.replay(["a"], unknown);
    assert.equal(replay.gap, "unknown id", unknown);
    // The kept events of the channel: the last 3.
    assert.deepEqual(replayed(replay), wires.slice(2), unknown);
  }
});

Deno.test("History: an id older than what is kept gives the gap 'expired' and the kept events", () => {
  using hub = historyHub(3);
  const { ids, wires } = publishAll(
    hub,
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i): [string[], SseEvent] => [
      ["a"],
      ev(i),
    ]),
  );
  // A tenth event with a two-digit sequence number.
  const id10 = publish(hub, ["a"], ev(10));
  const kept = [...wires.slice(7), withId(ev(10), id10)];
  const replay = hub.history.replay(["a"], ids[1]);
  assert.equal(replay.gap, "expired");
  assert.deepEqual(replayed(replay), kept);
  assert.equal(hub.history.size, 3);
});

Deno.test("History: an id whose entry was dropped but whose successors are kept is positioned exactly", () => {
  using hub = historyHub(3);
  const { ids, wires } = publishAll(
    hub,
    [1, 2, 3, 4, 5].map((i): [string[], SseEvent] => [["a"], ev(i)]),
  );
  assert.equal(hub.history.size, 3);
  // Event 2 is no longer kept, but nothing after it was dropped.
  const from2 = hub.history.replay(["a"], ids[1]);
  assert.equal(from2.gap, undefined);
  assert.deepEqual(replayed(from2), wires.slice(2));
  // Event 2 itself was dropped after event 1: a client at 1 missed it.
  const from1 = hub.history.replay(["a"], ids[0]);
  assert.equal(from1.gap, "expired");
  assert.deepEqual(replayed(from1), wires.slice(2));
  // Kept ids work as usual.
  assert.deepEqual(replayed(hub.history.replay(["a"], ids[2])), wires.slice(3));
  assert.deepEqual(hub.history.replay(["a"], ids[4]), { entries: [] });
});

Deno.test("History: what was dropped on another channel is no gap for this one", () => {
  using hub = historyHub(2);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)],
    [["a"], ev(2)],
    [["b"], ev(3)],
    [["b"], ev(4)],
    [["b"], ev(5)], // drops 3 from b
  ]);
  // a lost nothing: a client on a that saw 1 misses only 2.
  assert.equal(hub.history.replay(["a"], ids[0]).gap, undefined);
  assert.deepEqual(replayed(hub.history.replay(["a"], ids[0])), [wires[1]]);
  // A client on a and b that saw 3 (dropped) misses 4 and 5, both kept.
  const ab = hub.history.replay(["a", "b"], ids[2]);
  assert.equal(ab.gap, undefined);
  assert.deepEqual(replayed(ab), [wires[3], wires[4]]);
  // A client on b that saw 2 missed 3, which is gone.
  const b = hub.history.replay(["b"], ids[1]);
  assert.equal(b.gap, "expired");
  assert.deepEqual(replayed(b), [wires[3], wires[4]]);
});

Deno.test("History: a channel listed twice in one publish takes one place in its history", () => {
  // A POST to /a/a/ publishes to ["a", "a"] (parseChannels keeps repeats).
  using hub = historyHub(2);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)],
    [["a"], ev(2)],
    [["a", "a"], ev(3)],
  ]);
  // Two events per channel are kept: 2 and 3. A client that saw 1 missed
  // only those, so it is owed no gap.
  const replay = hub.history.replay(["a"], ids[0]);
  assert.deepEqual(replayed(replay), [wires[1], wires[2]]);
  assert.equal(replay.gap, undefined);
  assert.equal(hub.history.size, 2);
});

// ---------------------------------------------------------------------------
// Age limit

Deno.test("History: entries older than maxAgeMs are not replayed after expire(now), with a gap", () => {
  const history = new History({ maxPerChannel: 100, maxAgeMs: 1000 });
  const e1 = record(history, ["a"], "one", 1000);
  const e2 = record(history, ["a"], "two", 1500);
  const e3 = record(history, ["a"], "three", 2000);
  assert.deepEqual(replayed(history.replay(["a"], e1.id)), ["two", "three"]);
  // Nothing is old enough yet.
  history.expire(2000);
  assert.equal(history.size, 3);
  // 1 is too old at 2400; a client that saw 1 lost nothing.
  history.expire(2400);
  assert.equal(history.size, 2);
  assert.deepEqual(history.replay(["a"], e1.id).gap, undefined);
  assert.deepEqual(replayed(history.replay(["a"], e1.id)), ["two", "three"]);
  // 2 is too old at 2600: a client that saw 1 missed it.
  history.expire(2600);
  assert.equal(history.size, 1);
  const from1 = history.replay(["a"], e1.id);
  assert.equal(from1.gap, "expired");
  assert.deepEqual(replayed(from1), ["three"]);
  const from2 = history.replay(["a"], e2.id);
  assert.equal(from2.gap, undefined);
  assert.deepEqual(replayed(from2), ["three"]);
  // Everything gone.
  history.expire(10_000);
  assert.equal(history.size, 0);
  assert.deepEqual(history.replay(["a"], e3.id), { entries: [] });
  assert.deepEqual(history.replay(["a"], e2.id), {
    entries: [],
    gap: "expired",
  });
  assert.deepEqual(history.replay([], e2.id), { entries: [], gap: "expired" });
});

Deno.test("History: recording prunes the channel's entries older than the age limit", () => {
  const history = new History({ maxPerChannel: 100, maxAgeMs: 1000 });
  const e1 = record(history, ["a"], "one", 1000);
  record(history, ["b"], "b-one", 1000);
  record(history, ["a"], "two", 3000);
  // a's old entry went when a was published to; b was not touched.
  assert.equal(history.size, 2);
  const a = history.replay(["a"], e1.id);
  assert.equal(a.gap, undefined, "a client that saw 1 missed nothing dropped");
  assert.deepEqual(replayed(a), ["two"]);
  assert.deepEqual(replayed(history.replay(["b"], "unknown")), ["b-one"]);
});

Deno.test("Hub: the age limit, with real publish times and expire(now)", async () => {
  using hub = historyHub(100, { maxAgeMs: 1000 });
  const { ids } = publishAll(hub, [
    [["a"], ev(1)],
    [["a"], ev(2)],
    [["a"], ev(3)],
  ]);
  hub.history.expire(Date.now() + 5000);
  assert.equal(hub.history.size, 0);
  const behind = hub.subscribe(["a"], "x", { lastEventId: ids[0] });
  assert.equal(text(await behind.next()), gapText(ids[0], "expired"));
  const upToDate = hub.subscribe(["a"], "y", { lastEventId: ids[2] });
  assert.equal(upToDate.queuedBytes, 0);
  const all = hub.subscribe([], "z", { lastEventId: ids[1] });
  assert.equal(text(await all.next()), gapText(ids[1], "expired"));
});

Deno.test("History: a channel forgotten by expire() and published to again still reports the gap", () => {
  const history = new History({ maxPerChannel: 100, maxAgeMs: 1000 });
  const t0 = Date.now();
  const e1 = record(history, ["a"], "one", t0);
  record(history, ["a"], "two", t0);
  record(history, ["a"], "three", t0);
  // Long after: a kept nothing for longer than the age limit.
  history.expire(t0 + 5000);
  assert.equal(history.size, 0);
  assert.equal(history.replay(["a"], e1.id).gap, "expired");
  // Then a is published to again.
  record(history, ["a"], "four", t0 + 5000);
  const replay = history.replay(["a"], e1.id);
  assert.deepEqual(replayed(replay), ["four"]);
  // The client that saw 1 still missed 2 and 3.
  assert.equal(replay.gap, "expired");
});

// ---------------------------------------------------------------------------
// Publisher-set ids

Deno.test("History: a publisher-set id is a lastEventId; reusing it does not corrupt the index", () => {
  using hub = historyHub(3);
  const x1: SseEvent = { type: "message", data: "x one", id: "x" };
  const x3: SseEvent = { type: "message", data: "x three", id: "x" };
  assert.deepEqual(hub.publish(["a"], [x1]).ids, ["x"]);
  const id2 = publish(hub, ["a"], ev(2));
  assert.deepEqual(replayed(hub.history.replay(["a"], "x")), [
    withId(ev(2), id2),
  ]);
  assert.deepEqual(hub.publish(["a"], [x3]).ids, ["x"]);
  const id4 = publish(hub, ["a"], ev(4)); // drops x1 (3 per channel)
  // "x" now stands for the second event with that id.
  const fromX = hub.history.replay(["a"], "x");
  assert.equal(fromX.gap, undefined);
  assert.deepEqual(replayed(fromX), [withId(ev(4), id4)]);
  assert.equal(
    decoder.decode(hub.history.replay(["a"], id2).entries[0].bytes),
    formatEvent(x3),
  );
  // Once the second x is dropped too, its position is unknown.
  const id5 = publish(hub, ["a"], ev(5));
  const id6 = publish(hub, ["a"], ev(6)); // drops x3
  const gone = hub.history.replay(["a"], "x");
  assert.equal(gone.gap, "unknown id");
  assert.deepEqual(replayed(gone), [
    withId(ev(4), id4),
    withId(ev(5), id5),
    withId(ev(6), id6),
  ]);
});

Deno.test("History: an event with the same publisher id on another channel does not lose the index", () => {
  using hub = historyHub(1);
  hub.publish(["a"], [{ type: "message", data: "a", id: "x" }]);
  hub.publish(["b"], [{ type: "message", data: "b", id: "x" }]);
  const id3 = publish(hub, ["a"], ev(3)); // drops the first x from a
  // "x" is the event on b, still kept.
  const replay = hub.history.replay(["a", "b"], "x");
  assert.equal(replay.gap, undefined);
  assert.deepEqual(replayed(replay), [withId(ev(3), id3)]);
});

// ---------------------------------------------------------------------------
// Hub.subscribe with lastEventId and retryMs

Deno.test("Hub: a stream with lastEventId starts with the replay, exact bytes, then live events", async () => {
  using hub = historyHub(100);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)],
    [["a"], { type: "news", data: "two\nlines" }],
    [["b"], ev(3)],
    [["a"], ev(4)],
  ]);
  const sub = hub.subscribe(["a"], "x", { lastEventId: ids[0] });
  const expected = `event: news\nid: ${ids[1]}\ndata: two\ndata: lines\n\n` +
    `id: ${ids[3]}\ndata: event 4\n\n`;
  assert.equal(wires[1] + wires[3], expected);
  assert.equal(sub.eventsQueued, 2);
  assert.equal(text(await sub.next()), expected);
  const id5 = publish(hub, ["a"], ev(5));
  assert.equal(text(await sub.next()), `id: ${id5}\ndata: event 5\n\n`);
});

Deno.test("Hub: with a gap the stream starts with an sse-gap event", async () => {
  using hub = historyHub(2);
  const { ids, wires } = publishAll(hub, [
    [["a"], ev(1)],
    [["a"], ev(2)],
    [["a"], ev(3)],
    [["a"], ev(4)],
  ]);
  const expired = hub.subscribe(["a"], "x", { lastEventId: ids[0] });
  const expiredText = text(await expired.next());
  assert.equal(
    expiredText,
    `event: sse-gap\ndata: {"lastEventId":"${ids[0]}","reason":"expired"}\n\n` +
      wires[2] + wires[3],
  );
  assert.equal(expired.eventsQueued, 3);
  // The data is JSON with both fields.
  const data = /^event: sse-gap\ndata: (.*)\n\n/.exec(expiredText)?.[1];
  assert.deepEqual(JSON.parse(data!), {
    lastEventId: ids[0],
    reason: "expired",
  });
  // An unknown id, with characters that need escaping in JSON.
  const odd = 'old "run" \\ 7';
  const unknown = hub.subscribe(["a"], "y", { lastEventId: odd });
  const unknownText = text(await unknown.next());
  assert.equal(
    unknownText,
    gapText(odd, "unknown id") + wires[2] + wires[3],
  );
  assert.deepEqual(
    JSON.parse(/^event: sse-gap\ndata: (.*)\n\n/.exec(unknownText)![1]),
    { lastEventId: odd, reason: "unknown id" },
  );
  // Without a lastEventId there is no replay at all.
  assert.equal(hub.subscribe(["a"], "z").queuedBytes, 0);
});

Deno.test("Hub: with retryMs the stream starts with retry: N", async () => {
  using hub = historyHub(100);
  const plain = hub.subscribe(["a"], "x", { retryMs: 3000 });
  assert.equal(plain.eventsQueued, 0, "retry: is not an event");
  const { ids, wires } = publishAll(hub, [[["a"], ev(1)], [["a"], ev(2)]]);
  assert.equal(text(await plain.next()), "retry: 3000\n\n" + wires.join(""));
  // With a replay and a gap, retry: comes first.
  const replaying = hub.subscribe(["a"], "y", {
    retryMs: 2500,
    lastEventId: ids[0],
  });
  assert.equal(text(await replaying.next()), "retry: 2500\n\n" + wires[1]);
  const gap = hub.subscribe(["a"], "z", { retryMs: 10, lastEventId: "?" });
  assert.equal(
    text(await gap.next()),
    "retry: 10\n\n" + gapText("?", "unknown id") + wires.join(""),
  );
});

Deno.test("Hub: replay and live events meet without loss or repeat", async () => {
  using hub = historyHub(100);
  const ids: string[] = [];
  const wires: string[] = [];
  const send = (i: number) => {
    const id = publish(hub, ["a"], ev(i));
    ids.push(id);
    wires.push(withId(ev(i), id));
  };
  // One synchronous step: publish, subscribe from 3, publish again.
  for (let i = 1; i <= 5; i++) send(i);
  const sub = hub.subscribe(["a"], "x", { lastEventId: ids[2] });
  for (let i = 6; i <= 8; i++) send(i);
  assert.equal(sub.eventsQueued, 5);
  assert.equal(text(await sub.next()), wires.slice(3).join(""));
  assert.equal(sub.queuedBytes, 0);
});

// ---------------------------------------------------------------------------
// Replay and the queue limit

Deno.test("Hub: a replay bigger than maxQueuedBytes does not evict; live bytes past limit + replay do", () => {
  // Ids are <instance>-<seq>, the instance being the start time in base 36:
  // measure one to size the limit at exactly two events.
  const probe = new History({ maxPerChannel: 1, maxAgeMs: HOUR }).idFor(1);
  const eventSize = encodeEvent({ ...ev(1), id: probe }).length;
  using small = historyHub(100, { maxQueuedBytes: 2 * eventSize });
  const { ids: smallIds } = publishAll(
    small,
    [1, 2, 3, 4, 5].map((i): [string[], SseEvent] => [["a"], ev(i)]),
  );
  for (const [i, id] of smallIds.entries()) {
    assert.equal(
      encodeEvent({ ...ev(i + 1), id }).length,
      eventSize,
      "events of this test must all have the same size",
    );
  }
  const sub = small.subscribe(["a"], "x", { lastEventId: smallIds[0] });
  // Four events replayed: twice the limit, yet still open.
  assert.equal(sub.queuedBytes, 4 * eventSize);
  assert.equal(sub.open, true);
  assert.equal(small.size, 1);
  // The limit is on top of the replay: two more live events fit...
  assert.equal(small.publish(["a"], [ev(6)]).clients, 1);
  assert.equal(small.publish(["a"], [ev(7)]).clients, 1);
  assert.equal(sub.open, true);
  assert.equal(sub.queuedBytes, 6 * eventSize);
  // ...and, from a client that does not read, one more is one too many.
  stopReading(sub);
  assert.equal(small.publish(["a"], [ev(8)]).clients, 0);
  assert.equal(sub.open, false);
  assert.equal(sub.closeReason, "slow consumer");
  assert.equal(small.size, 0);
});

Deno.test("Hub: retry: and the gap event also come on top of maxQueuedBytes", () => {
  using hub = historyHub(100, { maxQueuedBytes: 1 });
  hub.publish(["a"], [ev(1), ev(2)]);
  const sub = hub.subscribe(["a"], "x", {
    retryMs: 1000,
    lastEventId: "unknown",
  });
  assert.equal(sub.open, true);
  assert.ok(sub.queuedBytes > 1);
  assert.equal(sub.eventsQueued, 3);
  // Any live event is past the limit, for a client that does not read.
  stopReading(sub);
  assert.equal(hub.publish(["a"], [ev(3)]).clients, 0);
  assert.equal(sub.closeReason, "slow consumer");
});

Deno.test("History: maxBytes bounds every channel together; the oldest go first and a client that missed them gets a gap", () => {
  const bytes = (n: number) => encoder.encode(`data: ${"x".repeat(n)}\n\n`);
  const history = new History({
    maxPerChannel: 1000,
    maxAgeMs: HOUR,
    maxBytes: 1000,
  });
  const ids: string[] = [];
  // 20 events of about 100 bytes, each to its own channel, one to two.
  for (let i = 0; i < 20; i++) {
    const seq = history.nextSeq();
    const id = history.idFor(seq);
    ids.push(id);
    history.record(i === 19 ? ["c19", "c18"] : [`c${i}`], {
      seq,
      id,
      bytes: bytes(90),
      time: 1000 + i,
    });
    assert.ok(history.bytes <= 1000, `${history.bytes} bytes kept`);
  }
  // About ten fit: the newest ones, whatever their channel.
  assert.equal(history.size, 10);
  assert.equal(history.bytes, 10 * bytes(90).length);
  // A client that saw the first event missed c1's, dropped for the bound.
  assert.deepEqual(history.replay(["c1"], ids[0]).gap, "expired");
  assert.deepEqual(history.replay(["c9"], ids[8]).gap, "expired");
  // Nothing was missed on c0 by a client that saw its one event.
  assert.equal(history.replay(["c0"], ids[0]).gap, undefined);
  const recent = history.replay(["c18"], ids[17]);
  assert.equal(recent.gap, undefined);
  assert.deepEqual(recent.entries.map((entry) => entry.id), [ids[18], ids[19]]);
});

Deno.test("History: without maxBytes nothing but the per-channel bounds drop events", () => {
  const history = new History({ maxPerChannel: 5, maxAgeMs: HOUR });
  for (let i = 0; i < 100; i++) {
    const seq = history.nextSeq();
    history.record([`c${i}`], {
      seq,
      id: history.idFor(seq),
      bytes: encoder.encode("data: x\n\n"),
      time: i,
    });
  }
  assert.equal(history.size, 100);
  assert.equal(history.bytes, 100 * 9);
});

Deno.test("History: maxBytes still bounds, and never loops, when a publisher reuses an id", () => {
  const history = new History({
    maxPerChannel: 1000,
    maxAgeMs: HOUR,
    maxBytes: 100,
  });
  const record = (id: string, size: number) => {
    const seq = history.nextSeq();
    history.record(["a"], {
      seq,
      id,
      bytes: encoder.encode("x".repeat(size)),
      time: seq,
    });
  };
  record("x", 10);
  record("x", 10); // the same id again: the first is replaced
  for (let i = 0; i < 20; i++) record(`n${i}`, 30);
  assert.ok(history.bytes <= 100, `${history.bytes} bytes kept`);
  assert.ok(history.size <= 4);
  // The newest are kept.
  assert.deepEqual(
    history.replay(["a"], "n16").entries.map((entry) => entry.id),
    ["n17", "n18", "n19"],
  );
});
