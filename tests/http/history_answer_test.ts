// History on demand over HTTP, in-process: which Accept headers ask for
// JSON, the document built from kept events, and the answer's headers,
// HEAD and the refusal when the broker cannot read its history.
import assert from "node:assert/strict";
import type { Broker } from "../../lib/broker/broker.ts";
import { MemoryBroker } from "../../lib/broker/memory_broker.ts";
import { Hub } from "../../lib/core/hub.ts";
import { encodeEvent } from "../../lib/core/sse_format.ts";
import { UnavailableError } from "../../lib/errors.ts";
import { type Context, toResponse } from "../../lib/http/answers.ts";
import {
  historyAnswer,
  historyJson,
  wantsJson,
} from "../../lib/http/history_answer.ts";
import { BIG, NO_KEEPALIVE } from "../helpers/hub_bytes.ts";

/** The answer as `Deno.serve` sends it. */
const answerOf = async (...args: Parameters<typeof historyAnswer>) =>
  toResponse(await historyAnswer(...args));

const CTX: Context = {
  source: { kind: "http", name: "127.0.0.1:5" },
  address: "127.0.0.1",
  cors: { "Access-Control-Allow-Origin": "*" },
};

Deno.test("wantsJson: JSON only when asked for and a stream is not", () => {
  const cases: [string | null, boolean][] = [
    ["application/json", true],
    ["Application/JSON; charset=utf-8", true],
    ["text/html, application/json;q=0.9", true],
    ["text/event-stream", false],
    ["application/json, text/event-stream", false],
    ["text/event-stream;q=0.1, application/json", false],
    ["*/*", false],
    ["application/*", false],
    ["application/jsonx", false],
    ["", false],
    [null, false],
  ];
  for (const [accept, expected] of cases) {
    assert.equal(wantsJson(accept), expected, `Accept: ${accept}`);
  }
});

Deno.test("historyJson: events decoded as EventSource delivers them, gap and position kept", () => {
  const entry = (id: string, type: string, data: string) => ({
    id,
    bytes: encodeEvent({ type, data, id }),
  });
  assert.deepEqual(
    historyJson({
      entries: [
        entry("a-1", "message", "plain"),
        entry("a-2", "news", "one\r\ntwo\nthree"),
        entry("a-3", "message", ""),
      ],
      gap: "expired",
      lastEventId: "a-3",
    }),
    {
      events: [
        { id: "a-1", event: "message", data: "plain" },
        { id: "a-2", event: "news", data: "one\ntwo\nthree" },
        { id: "a-3", event: "message", data: "" },
      ],
      lastEventId: "a-3",
      gap: "expired",
    },
  );
  assert.deepEqual(historyJson({ entries: [], lastEventId: null }), {
    events: [],
    lastEventId: null,
  });
});

/** A memory broker with history, and a way to end it. */
function memoryBroker(): { broker: MemoryBroker } & Disposable {
  const hub = new Hub({
    maxQueuedBytes: BIG,
    keepAliveMs: NO_KEEPALIVE,
    history: { maxPerChannel: 10, maxAgeMs: 60_000 },
  });
  return {
    broker: new MemoryBroker(hub, () => {}),
    [Symbol.dispose]: () => hub.close(),
  };
}

Deno.test("historyAnswer: 200 JSON, not cached, varying on Accept (and Origin when CORS varies)", async () => {
  using subject = memoryBroker();
  const { broker } = subject;
  const { ids } = broker.publish(["news"], [{ type: "flash", data: "hi" }]);
  const answer = await answerOf(CTX, broker, ["news"], undefined, false);
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get("content-type"), "application/json");
  assert.equal(answer.headers.get("cache-control"), "no-cache");
  assert.equal(answer.headers.get("vary"), "Accept");
  assert.equal(answer.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(await answer.json(), {
    events: [{ id: ids[0], event: "flash", data: "hi" }],
    lastEventId: ids[0],
  });
  const varied = await answerOf(
    { ...CTX, cors: { Vary: "Origin" } },
    broker,
    ["news"],
    ids[0],
    false,
  );
  assert.equal(varied.headers.get("vary"), "Origin, Accept");
  assert.deepEqual(await varied.json(), { events: [], lastEventId: ids[0] });
});

Deno.test("historyAnswer: HEAD has the headers and no body, and reads no history", async () => {
  const reads: string[] = [];
  const broker = {
    history: (channels: readonly string[]) => {
      reads.push(channels.join());
      return { entries: [], lastEventId: null };
    },
  } as Pick<Broker, "history"> as Broker;
  const answer = await answerOf(CTX, broker, ["news"], undefined, true);
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get("content-type"), "application/json");
  assert.equal(answer.headers.get("vary"), "Accept");
  assert.equal(answer.body, null);
  assert.deepEqual(reads, []);
});

Deno.test("historyAnswer: a history that cannot be read is refused in JSON with its status", async () => {
  const broker = {
    history: () =>
      Promise.reject(new UnavailableError("Redis could not be read: down")),
  } as Pick<Broker, "history"> as Broker;
  const answer = await answerOf(CTX, broker, ["news"], undefined, false);
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get("content-type"), "application/json");
  assert.deepEqual(await answer.json(), {
    error: "Redis could not be read: down",
  });
});

Deno.test("historyAnswer: with history off, no events and no position", async () => {
  const hub = new Hub({ maxQueuedBytes: BIG, keepAliveMs: NO_KEEPALIVE });
  using _ = hub;
  const broker = new MemoryBroker(hub, () => {});
  broker.publish(["news"], [{ type: "message", data: "not kept" }]);
  const answer = await answerOf(CTX, broker, ["news"], "x-1", false);
  assert.deepEqual(await answer.json(), { events: [], lastEventId: null });
});
