// The Deno.serve engine's stream body: a subscriber's bytes read as the
// engine asks for them, ended cleanly by a halt, errored by a drop.
import assert from "node:assert/strict";
import { within } from "../helpers/condition.ts";
import { Hub } from "../../lib/core/hub.ts";
import { encodeEvent, type SseEvent } from "../../lib/core/sse_format.ts";
import { streamBody } from "../../lib/http/serve_engine.ts";
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

Deno.test("serve engine: streamBody() yields the bytes; cancel() removes the subscriber", async () => {
  using hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  const reader = streamBody(sub).getReader();
  hub.publish(["a"], [e1]);
  const first = await reader.read();
  assert.equal(first.done, false);
  assert.equal(text(first.value ?? null), wire(e1));
  // A read waiting for data gets the next publish.
  const pending = reader.read();
  hub.publish(["a"], [e2, e3]);
  const second = await within(pending, 1000, "read()");
  assert.equal(text(second.value ?? null), wire(e2, e3));
  await reader.cancel();
  assert.equal(sub.closeReason, "client disconnected");
  assert.equal(hub.size, 0);
  assert.deepEqual(counts(hub.publish(["a"], [e1])), { events: 1, clients: 0 });
});

Deno.test("serve engine: streamBody() ends normally after hub.close()", async () => {
  const hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  const sub = hub.subscribe(["a"], "x");
  hub.publish(["a"], [e1]);
  hub.close();
  const chunks = await Array.fromAsync(streamBody(sub));
  assert.equal(chunks.map((chunk) => text(chunk)).join(""), wire(e1));
});

Deno.test("serve engine: streamBody() errors for a slow consumer", async () => {
  const event: SseEvent = { type: "message", data: "x" };
  using hub = new Hub({
    maxQueuedBytes: encodeEvent(event).length,
    keepAliveMs: NO_KEEPALIVE,
  });
  const sub = hub.subscribe(["a"], "x");
  const reader = streamBody(sub).getReader();
  stopReading(sub);
  hub.publish(["a"], [event]);
  hub.publish(["a"], [event]);
  await assert.rejects(reader.read(), /slow consumer/);
});
