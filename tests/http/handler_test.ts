// The request handler in-process, with a memory broker: what each request
// is answered with, streams as typed answers, and refusals before anything
// is published or subscribed.
import assert from "node:assert/strict";
import { Authorizer } from "../../lib/auth/auth.ts";
import { RateLimiter } from "../../lib/auth/rate_limit.ts";
import { MemoryBroker } from "../../lib/broker/memory_broker.ts";
import type { Dispatcher } from "../../lib/core/dispatch.ts";
import { Hub } from "../../lib/core/hub.ts";
import { createHttpHandler } from "../../lib/http/handler.ts";
import type {
  HttpAnswer,
  HttpHandler,
  StreamAnswer,
} from "../../lib/http/exchange.ts";
import { InstructionError } from "../../lib/protocol/instruction.ts";
import { toResponse } from "../../lib/http/answers.ts";
import { BIG, NO_KEEPALIVE, text } from "../helpers/hub_bytes.ts";

const INFO = {
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 5 },
};

/** A handler over a fresh hub, with `maxClients` and the rest permissive. */
async function setUp(maxClients = 10): Promise<{
  hub: Hub;
  handle: (url: string, init?: RequestInit) => Promise<HttpAnswer>;
}> {
  const hub = new Hub({
    maxQueuedBytes: BIG,
    keepAliveMs: NO_KEEPALIVE,
    history: { maxPerChannel: 10, maxAgeMs: 60_000 },
  });
  const broker = new MemoryBroker(hub, () => {});
  const dispatcher: Dispatcher = {
    publish: (channels, events) => broker.publish(channels, events),
    checkCommand: (command) => {
      throw new InstructionError(`unknown command ${command.length}`);
    },
    command: () => {},
  };
  const handler: HttpHandler = createHttpHandler(
    {
      prefix: "/",
      maxUrlLength: 1024,
      maxBody: 1024,
      bodyTimeoutMs: 1000,
      getPublish: true,
      auth: await Authorizer.create({ subscribeAuth: false }),
      corsOrigins: ["*"],
      names: { maxNameLength: 64, maxChannels: 4 },
      maxClients,
      maxClientsPerIp: 0,
      publishRate: new RateLimiter(0),
    },
    broker,
    dispatcher,
  );
  return {
    hub,
    handle: (url, init) =>
      handler(new Request(`http://localhost${url}`, init), INFO),
  };
}

function asStream(answer: HttpAnswer): StreamAnswer {
  assert.ok(answer.kind === "stream", "expected a stream");
  return answer;
}

/** A whole answer as `Deno.serve` would send it. */
function asResponse(answer: HttpAnswer): Response {
  assert.ok(answer.kind === "whole", "expected a whole answer");
  return toResponse(answer);
}

Deno.test("handler: GET subscribes with a typed stream answer; POST and GET publish to it; ended() lets it go", async () => {
  const { hub, handle } = await setUp();
  using _ = hub;
  const stream = asStream(await handle("/news"));
  assert.equal(stream.headers["Content-Type"], "text/event-stream");
  assert.equal(hub.size, 1);
  const posted = asResponse(
    await handle("/news", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: "by post",
    }),
  );
  assert.equal(posted.status, 202);
  assert.equal((await posted.json()).clients, 1);
  const got = asResponse(await handle("/news?message=by+get"));
  assert.equal(await got.text(), "OK: 1 event sent to 1 client\n");
  const bytes = text(await stream.subscriber.next());
  assert.match(bytes, /data: by post\n\n[^]*data: by get\n\n/);
  stream.ended();
  assert.equal(hub.size, 0);
});

Deno.test("handler: HEAD answers what GET would, without a subscriber", async () => {
  const { hub, handle } = await setUp();
  using _ = hub;
  const head = asResponse(await handle("/news", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "text/event-stream");
  assert.equal(hub.size, 0);
});

Deno.test("handler: refusals come before any effect, each with its status", async () => {
  const { hub, handle } = await setUp(1);
  using _ = hub;
  const status = async (url: string, init?: RequestInit) => {
    const answer = await handle(url, init);
    if (answer.kind === "stream") {
      answer.ended();
      return `a stream for ${url}`;
    }
    return answer.status;
  };
  assert.equal(
    await status("/news", { headers: { Host: "x/secret#" } }),
    400,
  );
  // (Dot segments are refused too, but a Request built here has its URL
  // resolved already: tests/http/target_test.ts and the edge tests cover
  // them as the engines hand them over.)
  assert.equal(await status("/news", { method: "PUT" }), 405);
  assert.equal(await status("/" + "a".repeat(2000)), 414);
  assert.equal(await status("/a/b/c/d/e"), 400); // more than 4 channels
  assert.equal(await status("/news?status"), 400); // unknown command
  assert.equal(
    await status("/news", {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body: "x",
    }),
    415,
  );
  assert.equal(
    await status("/news", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: "x".repeat(1025),
    }),
    413,
  );
  assert.equal(hub.size, 0);
  assert.equal(hub.history.size, 0);
  // One client allowed: the second gets 503.
  const first = asStream(await handle("/news"));
  assert.equal(await status("/news"), 503);
  first.ended();
});

Deno.test("handler: Accept: application/json answers the history, with no stream and no client slot", async () => {
  const { hub, handle } = await setUp(1);
  using _ = hub;
  const stream = asStream(await handle("/news"));
  const json = { headers: { Accept: "application/json" } };
  await handle("/news?message=kept", json); // publishing wins over Accept
  const answer = asResponse(await handle("/news", json));
  assert.equal(answer.status, 200);
  const body = await answer.json();
  assert.deepEqual(body.events.map((e: { data: string }) => e.data), ["kept"]);
  assert.equal(hub.size, 1);
  // A stream is still refused: the one slot is taken.
  assert.equal(asResponse(await handle("/news")).status, 503);
  const head = asResponse(await handle("/news", { ...json, method: "HEAD" }));
  assert.equal(head.headers.get("content-type"), "application/json");
  stream.ended();
});
