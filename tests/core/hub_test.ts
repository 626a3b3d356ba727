import assert from "node:assert/strict";
import { within } from "../helpers/condition.ts";
import { describe, Hub } from "../../lib/core/hub.ts";
import { encodeEvent, type SseEvent } from "../../lib/core/sse_format.ts";
import {
  BIG,
  counts,
  e1,
  e2,
  e3,
  NO_KEEPALIVE,
  stopReading,
  text,
  wire,
} from "../helpers/hub_bytes.ts";
import { WRITE_MAX } from "../../lib/core/bytes.ts";
import { CATCH_UP_MS } from "../../lib/core/backlog.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("Hub: publish reaches the channel's subscribers and not others", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const a1 = hub.subscribe(["a"], "10.0.0.1:1");
  const a2 = hub.subscribe(["a"], "10.0.0.2:2");
  const b = hub.subscribe(["b"], "10.0.0.3:3");
  const result = hub.publish(["a"], [e1]);
  assert.deepEqual(counts(result), { events: 1, clients: 2 });
  assert.equal(text(await a1.next()), wire(e1));
  assert.equal(text(await a2.next()), wire(e1));
  assert.equal(b.queuedBytes, 0);
  assert.equal(b.eventsQueued, 0);
  // The next thing b gets is b's own event, not a's.
  assert.deepEqual(counts(hub.publish(["b"], [e2])), { events: 1, clients: 1 });
  assert.equal(text(await b.next()), wire(e2));
  assert.equal(a1.queuedBytes, 0);
});

Deno.test("Hub: publish to a channel nobody is on reaches nobody", () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const a = hub.subscribe(["a"], "x");
  assert.deepEqual(counts(hub.publish(["zzz"], [e1])), {
    events: 1,
    clients: 0,
  });
  assert.equal(a.queuedBytes, 0);
});

Deno.test("Hub: subscribers with no channels get events of every channel", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const all = hub.subscribe([], "x");
  assert.deepEqual(all.channels, []);
  const a = hub.subscribe(["a"], "y");
  assert.equal(hub.publish(["a"], [e1]).clients, 2);
  assert.equal(hub.publish(["b"], [e2]).clients, 1);
  assert.equal(hub.publish(["nobody-here"], [e3]).clients, 1);
  assert.equal(text(await all.next()), wire(e1, e2, e3));
  assert.equal(text(await a.next()), wire(e1));
});

Deno.test("Hub: a publish with no channels reaches only all-channel subscribers", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const all1 = hub.subscribe([], "x");
  const all2 = hub.subscribe([], "y");
  const a = hub.subscribe(["a"], "z");
  assert.deepEqual(counts(hub.publish([], [e1])), { events: 1, clients: 2 });
  assert.equal(text(await all1.next()), wire(e1));
  assert.equal(text(await all2.next()), wire(e1));
  assert.equal(a.queuedBytes, 0);
});

Deno.test("Hub: a subscriber on two channels gets an event for both once", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const ab = hub.subscribe(["a", "b"], "x");
  const b = hub.subscribe(["b"], "y");
  const all = hub.subscribe([], "z");
  assert.deepEqual(counts(hub.publish(["a", "b"], [e1])), {
    events: 1,
    clients: 3,
  });
  // Listing a channel twice does not deliver twice either.
  assert.deepEqual(counts(hub.publish(["b", "a", "b"], [e2])), {
    events: 1,
    clients: 3,
  });
  assert.equal(text(await ab.next()), wire(e1, e2));
  assert.equal(text(await b.next()), wire(e1, e2));
  assert.equal(text(await all.next()), wire(e1, e2));
  assert.equal(ab.eventsQueued, 2);
  // And each later publish is delivered again (the dedup is per publish).
  assert.equal(hub.publish(["a", "b"], [e3]).clients, 3);
  assert.equal(text(await ab.next()), wire(e3));
});

Deno.test("Hub: subscribing to the same channel twice counts once", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a", "a", "b"], "x");
  assert.deepEqual(sub.channels, ["a", "b"]);
  assert.equal(hub.publish(["a"], [e1]).clients, 1);
  assert.equal(text(await sub.next()), wire(e1));
});

Deno.test("Hub: multi-event publish delivers all events in order in one chunk", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  const result = hub.publish(["a"], [e1, e2, e3]);
  assert.deepEqual(counts(result), { events: 3, clients: 1 });
  assert.equal(sub.eventsQueued, 3);
  assert.equal(
    sub.queuedBytes,
    new TextEncoder().encode(wire(e1, e2, e3)).length,
  );
  assert.equal(text(await sub.next()), wire(e1, e2, e3));
  assert.equal(sub.queuedBytes, 0);
});

Deno.test("Hub: publish with no events does nothing", () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe([], "x");
  assert.deepEqual(counts(hub.publish(["a"], [])), { events: 0, clients: 0 });
  assert.equal(sub.queuedBytes, 0);
});

Deno.test("Subscriber: next() coalesces several publishes into one chunk", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  hub.publish(["a"], [e1]);
  hub.publish(["a"], [e2]);
  hub.publish(["a"], [e3]);
  assert.equal(sub.eventsQueued, 3);
  assert.equal(text(await sub.next()), wire(e1, e2, e3));
  assert.equal(sub.queuedBytes, 0);
  // Nothing left behind: the next chunk holds only what comes after.
  hub.publish(["a"], [e1]);
  assert.equal(text(await sub.next()), wire(e1));
});

Deno.test("Subscriber: next() waits for a publish", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  const pending = sub.next();
  hub.publish(["a"], [e1]);
  assert.equal(text(await within(pending, 1000, "next()")), wire(e1));
});

Deno.test("Hub: events are encoded once; subscribers share the same bytes", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const s1 = hub.subscribe(["a"], "x");
  const s2 = hub.subscribe(["a", "b"], "y");
  const s3 = hub.subscribe([], "z");
  hub.publish(["a", "b"], [e1, e2]);
  const c1 = await s1.next();
  const c2 = await s2.next();
  const c3 = await s3.next();
  assert.ok(c1 !== null);
  assert.ok(c1 === c2, "s1 and s2 got different Uint8Array objects");
  assert.ok(c1 === c3, "s1 and s3 got different Uint8Array objects");
  assert.equal(text(c1), wire(e1, e2));
});

Deno.test("Hub: slow consumer is dropped past its limit; others get everything", async () => {
  const events = Array.from(
    { length: 6 },
    (_, i): SseEvent => ({ type: "message", data: `event ${i}` }),
  );
  const size = encodeEvent(events[0]).length;
  using hub = new Hub({ maxQueuedBytes: 3 * size, keepAliveMs: NO_KEEPALIVE });
  const slow = hub.subscribe(["a"], "slow");
  const fast = hub.subscribe(["a"], "fast");
  // The slow one has not read for a while: past its limit it is dropped.
  stopReading(slow);
  const received: string[] = [];
  for (const [i, event] of events.entries()) {
    assert.equal(encodeEvent(event).length, size);
    const result = hub.publish(["a"], [event]);
    // Three events fit in the slow queue; the fourth is one too many.
    assert.equal(result.clients, i < 3 ? 2 : 1, `publish ${i}`);
    assert.equal(slow.open, i < 3, `publish ${i}`);
    received.push(text(await fast.next()));
  }
  assert.deepEqual(received, events.map((event) => wire(event)));
  assert.equal(slow.closeReason, "slow consumer");
  assert.equal(fast.closeReason, null);
  assert.equal(hub.size, 1);
  assert.deepEqual([...hub.subscribers()], [fast]);
  // What the slow one had queued is dropped: its stream just ends.
  assert.equal(slow.queuedBytes, 0);
  assert.equal(await slow.next(), null);
});

Deno.test("Hub: a queue exactly at the limit is accepted; anything more is not", async () => {
  const event: SseEvent = { type: "news", data: "exactly" };
  const size = encodeEvent(event).length;
  using hub = new Hub({ maxQueuedBytes: 2 * size, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  assert.equal(hub.publish(["a"], [event]).clients, 1);
  assert.equal(hub.publish(["a"], [event]).clients, 1);
  assert.equal(sub.queuedBytes, 2 * size);
  assert.equal(sub.open, true);
  assert.equal(hub.size, 1);
  // Drained, it takes the same amount again.
  assert.equal(text(await sub.next()), wire(event, event));
  assert.equal(hub.publish(["a"], [event, event]).clients, 1);
  assert.equal(sub.open, true);
  // Now full, and not reading: even the smallest event is too much.
  stopReading(sub);
  assert.equal(
    hub.publish(["a"], [{ type: "message", data: "" }]).clients,
    0,
  );
  assert.equal(sub.open, false);
  assert.equal(sub.closeReason, "slow consumer");
  assert.equal(hub.size, 0);
});

Deno.test("Hub: a publish bigger than the hard limit drops even an empty queue", () => {
  // The hard limit: the limit, the backlog (none here) and one write.
  const event: SseEvent = { type: "message", data: "x".repeat(WRITE_MAX) };
  const size = encodeEvent(event).length;
  using hub = new Hub({
    maxQueuedBytes: size - WRITE_MAX - 1,
    keepAliveMs: NO_KEEPALIVE,
  });
  const sub = hub.subscribe(["a"], "x");
  assert.equal(hub.publish(["a"], [event]).clients, 0);
  assert.equal(sub.closeReason, "slow consumer");
  assert.equal(hub.size, 0);
});

Deno.test("Hub: keep-alive reaches an idle subscriber after about keepAliveMs", async () => {
  const keepAliveMs = 50;
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs });
  const start = performance.now();
  const sub = hub.subscribe(["a"], "x");
  const first = await within(sub.next(), 2000, "first keep-alive");
  const firstAt = performance.now() - start;
  assert.equal(text(first), ":\n\n");
  // Date.now() has millisecond steps, hence the small allowance.
  assert.ok(firstAt >= keepAliveMs - 5, `keep-alive after ${firstAt} ms`);
  assert.ok(firstAt < 1000, `keep-alive after ${firstAt} ms`);
  assert.equal(sub.eventsQueued, 0);
  // And again after the next silence.
  const second = await within(sub.next(), 2000, "second keep-alive");
  const secondAt = performance.now() - start;
  assert.equal(text(second), ":\n\n");
  assert.ok(
    secondAt - firstAt >= keepAliveMs - 5,
    `second keep-alive ${secondAt - firstAt} ms after the first`,
  );
});

Deno.test("Hub: no keep-alive for a subscriber that keeps receiving events", async () => {
  const keepAliveMs = 50;
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs });
  const busy = hub.subscribe(["busy"], "x");
  const idle = hub.subscribe(["idle"], "y");
  const start = performance.now();
  let count = 0;
  // Four keep-alive periods, with an event every 10 ms.
  while (performance.now() - start < 4 * keepAliveMs) {
    const event: SseEvent = { type: "tick", data: String(count++) };
    hub.publish(["busy"], [event]);
    const chunk = text(await within(busy.next(), 1000, "event"));
    assert.equal(chunk, wire(event));
    await delay(10);
  }
  assert.ok(count >= 5);
  assert.equal(busy.queuedBytes, 0, "something other than events was queued");
  // The keep-alive timer was running all along: the idle one got them.
  const idleChunk = text(await within(idle.next(), 1000, "idle keep-alive"));
  assert.match(idleChunk, /^(:\n\n)+$/);
});

Deno.test("Hub: close() ends every stream gracefully", async () => {
  const hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const a = hub.subscribe(["a"], "x");
  const all = hub.subscribe([], "y");
  const idle = hub.subscribe(["quiet"], "z");
  const waiting = idle.next();
  hub.publish(["a"], [e1]);
  hub.publish(["a"], [e2]);
  hub.close();
  assert.equal(hub.size, 0);
  for (const sub of [a, all, idle]) {
    assert.equal(sub.open, false);
    assert.equal(sub.closeReason, "server halting");
  }
  // Queued events are still handed out, then the end.
  assert.equal(text(await a.next()), wire(e1, e2));
  assert.equal(await a.next(), null);
  assert.equal(text(await all.next()), wire(e1, e2));
  assert.equal(await all.next(), null);
  // A reader that was waiting is woken with the end.
  assert.equal(await within(waiting, 1000, "woken by close"), null);
  // A closed hub takes no more.
  assert.deepEqual(counts(hub.publish(["a"], [e3])), { events: 0, clients: 0 });
  assert.throws(() => hub.subscribe(["a"], "late"));
  hub.close(); // A second close is harmless.
});

Deno.test("Hub: a subscriber closed as 'client disconnected' leaves the hub", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const gone = hub.subscribe(["a", "b"], "x");
  const stays = hub.subscribe(["a"], "y");
  hub.publish(["a"], [e1]);
  assert.equal(hub.size, 2);
  gone.close("client disconnected");
  assert.equal(hub.size, 1);
  assert.deepEqual([...hub.subscribers()], [stays]);
  assert.equal(gone.closeReason, "client disconnected");
  // Its channels no longer count it.
  assert.deepEqual(counts(hub.publish(["a"], [e2])), { events: 1, clients: 1 });
  assert.deepEqual(counts(hub.publish(["b"], [e2])), { events: 1, clients: 0 });
  // What was queued for it is dropped.
  assert.equal(await gone.next(), null);
  assert.equal(text(await stays.next()), wire(e1, e2));
  // Only the first close counts.
  gone.close("slow consumer");
  assert.equal(gone.closeReason, "client disconnected");
  assert.equal(hub.size, 1);
});

Deno.test("Hub: an all-channel subscriber that disconnects leaves the hub", () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const all = hub.subscribe([], "x");
  all.close("client disconnected");
  assert.equal(hub.size, 0);
  assert.deepEqual(counts(hub.publish([], [e1])), { events: 1, clients: 0 });
  assert.deepEqual(counts(hub.publish(["a"], [e1])), { events: 1, clients: 0 });
});

Deno.test("Subscriber: abort() after a graceful close makes next() return null at once", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  hub.publish(["a"], [e1, e2]);
  hub.close();
  assert.ok(sub.queuedBytes > 0);
  sub.abort();
  assert.equal(sub.queuedBytes, 0);
  assert.equal(await within(sub.next(), 1000, "next() after abort"), null);
  assert.equal(sub.closeReason, "server halting");
  // Its stream is dropped rather than ended normally (a body errors).
  assert.equal(sub.endedGracefully, false);
});

Deno.test("Subscriber: abort() wakes a waiting next()", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  const waiting = sub.next();
  sub.abort();
  assert.equal(await within(waiting, 1000, "woken by abort"), null);
  assert.equal(hub.size, 0);
});

Deno.test("Subscriber: reports its address, channels and counts", () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a", "b"], "192.0.2.1:4000");
  hub.publish(["a"], [e1, e2]);
  const info = sub;
  assert.equal(info.remoteAddr, "192.0.2.1:4000");
  assert.deepEqual(info.channels, ["a", "b"]);
  assert.equal(info.eventsQueued, 2);
  assert.equal(
    info.bytesQueued,
    new TextEncoder().encode(wire(e1, e2)).length,
  );
  assert.ok(Math.abs(info.connectedAt - Date.now()) < 60_000);
  // Ids are distinct.
  assert.notEqual(hub.subscribe([], "y").id, sub.id);
});

Deno.test("describe: channel list for logs", () => {
  assert.equal(describe([]), "(all)");
  assert.equal(describe(["a", "b"]), "a,b");
});

Deno.test("Hub: a client that reads is not dropped for a burst past its limit; the excess pushes back on publishers", async () => {
  const event: SseEvent = { type: "message", data: "burst" };
  const size = encodeEvent(event).length;
  using hub = new Hub({
    maxQueuedBytes: 3 * size,
    maxBacklogBytes: 8 * size,
    keepAliveMs: NO_KEEPALIVE,
  });
  const reader = hub.subscribe(["a"], "reader");
  // A burst of ten events before the reader's turn: past its limit, but it
  // has not stopped reading, so it stays.
  for (let i = 0; i < 10; i++) hub.publish(["a"], [event]);
  assert.equal(reader.open, true);
  assert.equal(reader.queuedBytes, 10 * size);
  // Three within the limit count, and all seven past it: publishers wait.
  assert.notEqual(hub.ready(), undefined);
  const received = text(await reader.next());
  assert.equal(received, wire(...Array(10).fill(event)));
  assert.equal(reader.open, true);
  // Coming back for more says the write is done: publishers go on.
  assert.equal(reader.take(), undefined);
  assert.equal(hub.ready(), undefined);
});

Deno.test("Hub: a client that reads but stays past its limit for CATCH_UP_MS is dropped, with the reason logged", () => {
  const event: SseEvent = { type: "message", data: "behind" };
  const size = encodeEvent(event).length;
  using hub = new Hub({
    maxQueuedBytes: 2 * size,
    maxBacklogBytes: 100 * size,
    keepAliveMs: NO_KEEPALIVE,
  });
  const slow = hub.subscribe(["a"], "slow");
  for (let i = 0; i < 4; i++) hub.publish(["a"], [event]);
  const now = Date.now();
  slow.lastPull = now + CATCH_UP_MS; // it reads, just not enough
  assert.equal(slow.dropIfBehind(now + CATCH_UP_MS - 1), false);
  assert.equal(slow.open, true);
  assert.equal(slow.dropIfBehind(now + CATCH_UP_MS), true);
  assert.equal(slow.closeReason, "slow consumer");
  assert.match(slow.slowReason!, /for 10 s/);
});

Deno.test("Hub: past the hard limit (limit + backlog + a write) a client is dropped even while it reads", () => {
  const event: SseEvent = { type: "message", data: "x".repeat(1000) };
  const size = encodeEvent(event).length;
  using hub = new Hub({
    maxQueuedBytes: 2 * size,
    maxBacklogBytes: 2 * size,
    keepAliveMs: NO_KEEPALIVE,
  });
  const sub = hub.subscribe(["a"], "x");
  let published = 0;
  while (sub.open && published < 1000) {
    hub.publish(["a"], [event]);
    published++;
  }
  assert.equal(sub.closeReason, "slow consumer");
  assert.ok(published * size > 4 * size + WRITE_MAX, `${published} events`);
  assert.ok((published - 1) * size <= 4 * size + WRITE_MAX);
  assert.match(sub.slowReason!, /bytes queued$/);
});

Deno.test("Hub: the user a subscription names is kept on its subscriber", () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const named = hub.subscribe(["a"], "10.0.0.1:1", { user: "alice" });
  const anonymous = hub.subscribe(["a"], "10.0.0.2:2");
  assert.equal(named.user, "alice");
  assert.equal(anonymous.user, undefined);
});
