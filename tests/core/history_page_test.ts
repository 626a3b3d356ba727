// The shape of history on demand: which position an answer gives to
// resume a stream from, whatever broker read the events.
import assert from "node:assert/strict";
import { historyPage, NO_HISTORY } from "../../lib/core/history_page.ts";

const entry = (id: string) => ({ id, bytes: new Uint8Array() });

Deno.test("historyPage: the newest entry's id is where to resume", () => {
  const page = historyPage({ entries: [entry("a-1"), entry("a-2")] }, "a-0");
  assert.equal(page.lastEventId, "a-2");
  assert.equal(page.gap, undefined);
  assert.deepEqual(page.entries.map((e) => e.id), ["a-1", "a-2"]);
});

Deno.test("historyPage: with nothing newer, the asked id is still the position", () => {
  assert.equal(historyPage({ entries: [] }, "a-5").lastEventId, "a-5");
});

Deno.test("historyPage: no position without an asked id, with earliest, or after a gap", () => {
  assert.equal(historyPage({ entries: [] }, undefined).lastEventId, null);
  assert.equal(historyPage({ entries: [] }, "earliest").lastEventId, null);
  const expired = historyPage({ entries: [], gap: "expired" }, "a-1");
  assert.equal(expired.lastEventId, null);
  assert.equal(expired.gap, "expired");
  const unknown = historyPage(
    { entries: [entry("b-3")], gap: "unknown id" },
    "zz",
  );
  assert.deepEqual(
    { last: unknown.lastEventId, gap: unknown.gap },
    { last: "b-3", gap: "unknown id" },
  );
  assert.deepEqual(NO_HISTORY, { entries: [], lastEventId: null });
});
