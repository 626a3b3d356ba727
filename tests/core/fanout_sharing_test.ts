/**
 * Shared chunks (one queue entry and one join per burst for every
 * subscriber) and the backlog push-back, on the hub directly.
 */
import assert from "node:assert/strict";
import { within } from "../helpers/condition.ts";
import { Hub, WAKE_SLICE } from "../../lib/core/hub.ts";
import { BACKLOG_SHARE_MAX, STALL_MS } from "../../lib/core/backlog.ts";
import { KEEP_ALIVE, type SseEvent } from "../../lib/core/sse_format.ts";
import { BIG, NO_KEEPALIVE, text, wire } from "../helpers/hub_bytes.ts";

function event(n: number, size = 10): SseEvent {
  return { type: "message", data: `${n}:`.padEnd(size, "x") };
}

/** A hub whose publishers wait past 1,000 bytes owed. */
function backlogHub(keepAliveMs = NO_KEEPALIVE): Hub {
  return new Hub({ maxQueuedBytes: BIG, keepAliveMs, maxBacklogBytes: 1000 });
}

Deno.test("Hub: a burst reaches every subscriber as the same joined bytes", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const subs = [1, 2, 3].map((n) => hub.subscribe(["a"], `10.0.0.${n}:1`));
  for (let i = 0; i < 5; i++) hub.publish(["a"], [event(i)]);
  const chunks = await Promise.all(subs.map((sub) => sub.next()));
  const expected = wire(...[0, 1, 2, 3, 4].map((i) => event(i)));
  for (const chunk of chunks) assert.equal(text(chunk), expected);
  // One join for all: the very same array, not a copy each.
  assert.equal(chunks[1], chunks[0]);
  assert.equal(chunks[2], chunks[0]);
});

Deno.test("Hub: readers holding the same run of bursts write one joined array", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const first = hub.subscribe(["a"], "x:1");
  const later = [2, 3].map((n) => hub.subscribe(["a"], `x:${n}`));
  hub.publish(["a"], [event(1)]);
  // Taken by one reader, the first burst is closed; the next is another.
  assert.equal(text(await first.next()), wire(event(1)));
  hub.publish(["a"], [event(2)]);
  const [one, two] = await Promise.all(later.map((sub) => sub.next()));
  assert.equal(text(one), wire(event(1), event(2)));
  assert.equal(two, one);
});

/**
 * Subscribers whose readers wait, and the order they are woken in: when
 * the first is woken, a microtask notes how many were woken in that turn.
 */
function waitingReaders(hub: Hub, count: number) {
  const subs = Array.from(
    { length: count },
    (_, i) => hub.subscribe(["a"], `x:${i}`),
  );
  const woken: number[] = [];
  const firstTurn = Promise.withResolvers<number>();
  const all = Promise.withResolvers<void>();
  subs.forEach((sub, i) => {
    assert.equal(sub.take(), undefined);
    sub.whenReadable(() => {
      if (woken.length === 0) {
        queueMicrotask(() => firstTurn.resolve(woken.length));
      }
      woken.push(i);
      if (woken.length === count) all.resolve();
    });
  });
  return { subs, woken, firstTurn: firstTurn.promise, all: all.promise };
}

Deno.test("Hub: one publish wakes every waiting reader in one turn", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const { firstTurn } = waitingReaders(hub, WAKE_SLICE + 500);
  hub.publish(["a"], [event(1)]);
  assert.equal(await firstTurn, WAKE_SLICE + 500);
});

Deno.test("Hub: a burst of publishes wakes readers a slice per turn, and input between slices joins the later readers' writes", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const { subs, woken, firstTurn, all } = waitingReaders(
    hub,
    WAKE_SLICE + 500,
  );
  hub.publish(["a"], [event(1)]);
  hub.publish(["a"], [event(2)]);
  assert.equal(await firstTurn, WAKE_SLICE);
  assert.deepEqual(woken, [...Array(WAKE_SLICE).keys()]);
  // The first slice takes its bytes, as a transport would when woken.
  for (const i of woken) {
    assert.equal(text(subs[i].take()), wire(event(1), event(2)));
  }
  hub.publish(["a"], [event(3)]);
  await within(all, 1000, "the other readers woken");
  const rest = subs.slice(WAKE_SLICE).map((sub) => sub.take());
  assert.equal(text(rest[0]), wire(event(1), event(2), event(3)));
  for (const bytes of rest) assert.equal(bytes, rest[0]);
});

Deno.test("Hub: a subscriber joining in the middle of a burst gets only what follows", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const early = hub.subscribe(["a"], "x:1");
  hub.publish(["a"], [event(1)]);
  const late = hub.subscribe(["a"], "x:2");
  hub.publish(["a"], [event(2)]);
  assert.equal(text(await early.next()), wire(event(1), event(2)));
  assert.equal(text(await late.next()), wire(event(2)));
});

Deno.test("Hub: bytes of one subscriber between shared parts keep order, none twice", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const one = hub.subscribe(["a"], "x:1");
  const two = hub.subscribe(["a"], "x:2");
  hub.publish(["a"], [event(1)]);
  one.enqueue(KEEP_ALIVE, 0, Date.now());
  hub.publish(["a"], [event(2)]);
  assert.equal(
    text(await one.next()),
    wire(event(1)) + new TextDecoder().decode(KEEP_ALIVE) + wire(event(2)),
  );
  assert.equal(text(await two.next()), wire(event(1), event(2)));
});

Deno.test("Hub: a reader taking a burst half-way gets the rest next time", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const fast = hub.subscribe(["a"], "x:1");
  const slow = hub.subscribe(["a"], "x:2");
  hub.publish(["a"], [event(1)]);
  assert.equal(text(await fast.next()), wire(event(1)));
  hub.publish(["a"], [event(2)]);
  hub.publish(["a"], [event(3)]);
  assert.equal(text(await fast.next()), wire(event(2), event(3)));
  assert.equal(text(await slow.next()), wire(event(1), event(2), event(3)));
});

Deno.test("Hub: publishes to other channels do not leak through a shared burst", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const a = hub.subscribe(["a"], "x:1");
  const b = hub.subscribe(["b"], "x:2");
  const both = hub.subscribe(["a", "b"], "x:3");
  hub.publish(["a"], [event(1)]);
  hub.publish(["a", "b"], [event(2)]);
  hub.publish(["b"], [event(3)]);
  hub.publish(["a"], [event(4)]);
  assert.equal(text(await a.next()), wire(event(1), event(2), event(4)));
  assert.equal(text(await b.next()), wire(event(2), event(3)));
  assert.equal(
    text(await both.next()),
    wire(event(1), event(2), event(3), event(4)),
  );
});

Deno.test("Hub: a stream ending gracefully gets nothing published after its end", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const leaving = hub.subscribe(["a"], "x:1");
  const staying = hub.subscribe(["a"], "x:2");
  hub.publish(["a"], [event(1)]);
  leaving.close("token expired");
  hub.publish(["a"], [event(2)]);
  assert.equal(text(await leaving.next()), wire(event(1)));
  assert.equal(await leaving.next(), null);
  assert.equal(text(await staying.next()), wire(event(1), event(2)));
});

Deno.test("Subscriber: a lagging queue leaves in pieces of at most 64 KiB, in order", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe([], "x:1");
  const events: SseEvent[] = [];
  // Alternating channels: every publish its own chunk, 300 of ~1 KiB.
  for (let i = 0; i < 300; i++) {
    events.push(event(i, 1000));
    hub.publish([i % 2 === 0 ? "a" : "b"], [events[i]]);
  }
  let received = "";
  const sizes: number[] = [];
  while (received.length < wire(...events).length) {
    const chunk = await sub.next();
    sizes.push(chunk!.length);
    received += text(chunk);
  }
  assert.equal(received, wire(...events));
  assert.ok(sizes.length > 1, "the queue leaves in several pieces");
  assert.ok(Math.max(...sizes) <= 64 * 1024, `pieces: ${sizes}`);
});

Deno.test("Hub: past maxBacklogBytes publishers wait until readers take the backlog down", async () => {
  using hub = backlogHub();
  const one = hub.subscribe(["a"], "x:1");
  const two = hub.subscribe(["a"], "x:2");
  assert.equal(hub.ready(), undefined);
  hub.publish(["a"], [event(1, 400)]); // 2 × ~420 bytes owed
  assert.equal(hub.ready(), undefined);
  hub.publish(["a"], [event(2, 400)]);
  const waiting = hub.ready();
  assert.ok(waiting, "over the limit: publishers must wait");
  let released = false;
  waiting.then(() => released = true);
  // Taken but not yet written (the next call says it was): still owed.
  await one.next();
  await two.next();
  await Promise.resolve();
  assert.equal(released, false);
  assert.ok(hub.backlog.bytes > 0);
  // Coming back for more means the previous write is done.
  const more = [one.next(), two.next()];
  await within(waiting, 1000, "publishers released");
  assert.equal(hub.backlog.bytes, 0);
  assert.equal(hub.backlog.pushbacks, 1);
  assert.equal(hub.ready(), undefined);
  hub.close();
  assert.deepEqual(await Promise.all(more), [null, null]);
});

Deno.test("Hub: a subscriber that does not read stops holding publishers back", async () => {
  // The timer that finds stalled readers runs every 50 ms.
  using hub = backlogHub(200);
  const stuck = hub.subscribe(["a"], "x:1");
  const started = Date.now();
  hub.publish(["a"], [event(1, 2000)]);
  const waiting = hub.ready();
  assert.ok(waiting);
  await within(waiting, STALL_MS + 2000, "released once the reader stalls");
  assert.ok(Date.now() - started >= STALL_MS, "not before it stalled");
  assert.equal(hub.backlog.bytes, 0);
  // It still has its events, and counts again once it reads.
  assert.equal(stuck.open, true);
  assert.match(text(await stuck.next()), /^data: 1:x/);
});

Deno.test("Hub: a subscriber that leaves takes its backlog with it", async () => {
  using hub = backlogHub();
  const sub = hub.subscribe(["a"], "x:1");
  hub.publish(["a"], [event(1, 2000)]);
  const waiting = hub.ready();
  assert.ok(waiting);
  sub.close("client disconnected");
  await within(waiting, 1000, "released when the subscriber left");
  assert.equal(hub.backlog.bytes, 0);
});

Deno.test("Hub: close() lets waiting publishers go", async () => {
  const hub = backlogHub();
  hub.subscribe(["a"], "x:1");
  hub.publish(["a"], [event(1, 2000)]);
  const waiting = hub.ready();
  assert.ok(waiting);
  hub.close();
  await within(waiting, 1000, "released at close");
});

Deno.test("Hub: without maxBacklogBytes publishers never wait", () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  for (let n = 0; n < 20; n++) hub.subscribe(["a"], `x:${n}`);
  for (let i = 0; i < 100; i++) hub.publish(["a"], [event(i, 5000)]);
  assert.equal(hub.ready(), undefined);
  assert.equal(hub.backlog.bytes, 20 * BACKLOG_SHARE_MAX);
});

Deno.test("Hub: a subscriber far behind counts for at most 64 KiB of the backlog", async () => {
  using hub = new Hub({
    maxQueuedBytes: BIG,
    keepAliveMs: NO_KEEPALIVE,
    maxBacklogBytes: 100 * 1024,
  });
  const slow = hub.subscribe(["a"], "x:1");
  // 200 KiB owed by one subscriber that still reads: over the limit, but it
  // is its own limit's business, not the publishers'.
  for (let i = 0; i < 200; i++) hub.publish(["a"], [event(i, 1000)]);
  assert.ok(slow.queuedBytes > 200 * 1000);
  assert.equal(hub.backlog.bytes, BACKLOG_SHARE_MAX);
  assert.equal(hub.ready(), undefined);
  // Two such subscribers do hold publishers back.
  const second = hub.subscribe(["a"], "x:2");
  for (let i = 0; i < 200; i++) hub.publish(["a"], [event(i, 1000)]);
  assert.equal(hub.backlog.bytes, 2 * BACKLOG_SHARE_MAX);
  const waiting = hub.ready();
  assert.ok(waiting, "over the limit: publishers must wait");
  // Only taking it down to half of the limit lets them go.
  let released = false;
  waiting.then(() => released = true);
  while (second.queuedBytes > 0) second.take();
  second.take(); // the last piece is written
  await Promise.resolve();
  assert.equal(released, false, "64 KiB still owed: more than half the limit");
  while (slow.queuedBytes > 0) slow.take();
  slow.take();
  await within(waiting, 1000, "publishers released");
  assert.equal(hub.backlog.bytes, 0);
});
