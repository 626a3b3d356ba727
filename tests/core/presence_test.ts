import assert from "node:assert/strict";
import { Hub } from "../../lib/core/hub.ts";
import { Presence } from "../../lib/core/presence.ts";
import type { Subscriber } from "../../lib/core/subscriber.ts";
import { BIG, NO_KEEPALIVE, text } from "../helpers/hub_bytes.ts";
import { pollUntil, within } from "../helpers/condition.ts";

/** The presence events in what `sub` has queued, as [channel, count]. */
function told(sub: Subscriber): [string, number][] {
  const chunk = sub.take();
  if (chunk === undefined) return [];
  const blocks = text(chunk).split("\n\n").filter((b) => b !== "");
  return blocks.map((block) => {
    assert.match(block, /^event: sse-presence\ndata: /);
    assert.doesNotMatch(block, /^id:/m);
    const { channel, subscribers } = JSON.parse(block.split("data: ")[1]);
    return [channel, subscribers];
  });
}

/**
 * A presence whose updates each wait for the test: `step(others)` lets one
 * update run with `others` as the other instances' counts, and resolves
 * once it has told what changed.
 */
function gated(): {
  presence: Presence;
  hub: Hub;
  step: (others?: Record<string, number>) => Promise<void>;
  reported: () => ReadonlyMap<string, number>;
} & Disposable {
  let release: ((others: ReadonlyMap<string, number>) => void) | null = null;
  let asked: (() => void) | null = null;
  let reported: ReadonlyMap<string, number> = new Map();
  const presence = new Presence({
    events: true,
    intervalMs: 1,
    exchange: (local) => {
      reported = local;
      asked?.();
      return new Promise((resolve) => release = resolve);
    },
  });
  const hub = new Hub({
    maxQueuedBytes: BIG,
    keepAliveMs: NO_KEEPALIVE,
    onMembership: presence.onMembership,
  });
  const waitAsked = () =>
    new Promise<void>((resolve) => {
      if (release) resolve();
      else asked = resolve;
    });
  return {
    presence,
    hub,
    async step(others = {}) {
      await within(waitAsked(), 2000, "an update");
      const go = release!;
      release = null;
      asked = null;
      go(new Map(Object.entries(others)));
      // The update tells, then asks for the next exchange.
      await within(waitAsked(), 2000, "the next update");
    },
    reported: () => reported,
    [Symbol.dispose]() {
      hub.close();
      presence.close();
      release?.(new Map());
    },
  };
}

Deno.test("Presence: a new stream is told each channel's count, itself included; all-channel streams are not", () => {
  using presence = new Presence({ events: true, intervalMs: 60_000 });
  using hub = new Hub({
    maxQueuedBytes: BIG,
    keepAliveMs: NO_KEEPALIVE,
    onMembership: presence.onMembership,
  });
  const first = hub.subscribe(["news"], "a:1");
  assert.deepEqual(told(first), [["news", 1]]);
  const second = hub.subscribe(["news", "sport"], "b:2");
  assert.deepEqual(told(second), [["news", 2], ["sport", 1]]);
  const all = hub.subscribe([], "c:3");
  assert.deepEqual(told(all), []);
  assert.equal(presence.count("news"), 2);
});

Deno.test("Presence: many joins between two updates are told once, with the final count", async () => {
  using subject = gated();
  const { hub, step } = subject;
  const watcher = hub.subscribe(["room"], "w:1");
  assert.deepEqual(told(watcher), [["room", 1]]);
  await step();
  assert.deepEqual(told(watcher), [], "nothing changed since its greeting");
  const joiners = Array.from(
    { length: 50 },
    (_, i) => hub.subscribe(["room"], `j:${i}`),
  );
  joiners.forEach((joiner, i) =>
    assert.deepEqual(told(joiner), [["room", i + 2]])
  );
  await step();
  assert.deepEqual(told(watcher), [["room", 51]]);
  // The last joiner was greeted with 51 already; the others get 51 once.
  assert.deepEqual(told(joiners[49]), []);
  assert.deepEqual(told(joiners[0]), [["room", 51]]);
  await step();
  assert.deepEqual(told(watcher), [], "no change, no event");
  // Leaving: the count goes down at the next update.
  for (const joiner of joiners) joiner.close("client disconnected");
  await step();
  assert.deepEqual(told(watcher), [["room", 1]]);
});

Deno.test("Presence: this instance's counts are shared and the others' added", async () => {
  using subject = gated();
  const { hub, presence, step } = subject;
  const here = hub.subscribe(["news"], "h:1");
  hub.subscribe([], "all:1");
  assert.deepEqual(told(here), [["news", 1]]);
  await step({ news: 4, sport: 2 });
  assert.deepEqual(Object.fromEntries(subject.reported()), { news: 1 });
  assert.deepEqual(told(here), [["news", 5]]);
  assert.deepEqual(Object.fromEntries(presence.otherCounts()), {
    news: 4,
    sport: 2,
  });
  // A newcomer counts the others at once.
  const late = hub.subscribe(["sport"], "l:2");
  assert.deepEqual(told(late), [["sport", 3]]);
});

Deno.test("Presence: a count that changes and changes back within an update tells only those greeted otherwise", async () => {
  using subject = gated();
  const { hub, step } = subject;
  const watcher = hub.subscribe(["room"], "w:1");
  await step();
  told(watcher);
  const passing = hub.subscribe(["room"], "p:2");
  const staying = hub.subscribe(["room"], "s:3");
  assert.deepEqual(told(staying), [["room", 3]]);
  passing.close("client disconnected");
  await step();
  assert.deepEqual(told(watcher), [["room", 2]]);
  assert.deepEqual(told(staying), [["room", 2]]);
  await step();
  assert.deepEqual(told(watcher), []);
});

Deno.test("Presence: the others' counts are dropped once stale, while exchanges fail", async () => {
  let calls = 0;
  using presence = new Presence({
    events: false,
    intervalMs: 5,
    staleMs: 500,
    exchange: () =>
      ++calls === 1
        ? Promise.resolve(new Map([["news", 4]]))
        : Promise.reject(new Error("Redis is away")),
  });
  await pollUntil(() => calls >= 2, {
    timeoutMs: 2000,
    timeout: () => new Error("no second exchange"),
  });
  assert.equal(presence.others("news"), 4);
  await pollUntil(() => presence.others("news") === 0, {
    timeoutMs: 2000,
    timeout: () => new Error("the stale count stayed"),
  });
});
