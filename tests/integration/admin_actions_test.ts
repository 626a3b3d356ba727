// The admin's channel view and actions against the real program: GET
// /channels and /channels/NAME (counts, history, each subscriber with its
// user from the JWT sub), DELETE /clients/ID and DELETE /channels/NAME
// ending streams (clients on several channels included) and forgetting
// history, 404s in JSON, percent-decoded names, the admin's authentication;
// and with --redis, counts of every instance and deletes on every instance.
import assert from "node:assert/strict";
import * as jose from "jose";
import { within } from "../helpers/condition.ts";
import { jsonAnswer, startAuthApp } from "../helpers/auth_app.ts";
import { get } from "../helpers/publishers.ts";
import { startRedis } from "../helpers/redis_server.ts";
import {
  adminUrl,
  type RunningServer,
  startServer,
  testBothEngines,
} from "../helpers/server_process.ts";
import { connect, type SseConnection } from "../helpers/sse_client.ts";

const TOKEN = "admin-TOKEN-4c1d7e";
const SECRET = "jwt-SECRET-90ab3f";
const AUTH = { Authorization: `Bearer ${TOKEN}` };

interface ChannelView {
  name: string;
  subscribers: number;
  history: number;
  lastEventId: string | null;
}

interface ChannelDetail extends ChannelView {
  clients: {
    id: number | string;
    address: string;
    connectedAt: string;
    user: string | null;
  }[];
}

/** A subscribe JWT for every channel, with `sub` when given. */
async function subscribeJwt(sub?: string): Promise<string> {
  let jwt = new jose.SignJWT({ subscribe: ["*"] })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 300);
  if (sub !== undefined) jwt = jwt.setSubject(sub);
  return await jwt.sign(new TextEncoder().encode(SECRET));
}

/** `method` on the admin port with the token; status and parsed JSON. */
async function admin<T>(
  base: string,
  method: string,
  path: string,
  headers: HeadersInit = AUTH,
): Promise<{ status: number; body: T }> {
  const answer = await get(`${base}${path}`, { method, headers });
  return {
    status: answer.status,
    body: /json/.test(answer.headers.get("content-type") ?? "")
      ? JSON.parse(answer.body)
      : answer.body,
  };
}

/** Publishes one event on `channels` with the token; returns its id. */
async function publish(
  server: RunningServer,
  channels: string,
  data: string,
): Promise<string> {
  const answer = await get(
    `${server.baseUrl}/${channels}?message=${encodeURIComponent(data)}`,
    { headers: AUTH },
  );
  assert.equal(answer.status, 200, answer.body);
  return answer.body;
}

/** Subscribes with a JWT naming `user` and waits for the stream to open. */
async function subscribe(
  server: RunningServer,
  path: string,
  user?: string,
): Promise<SseConnection> {
  const conn = await connect(`${server.baseUrl}${path}`, {
    headers: { Authorization: `Bearer ${await subscribeJwt(user)}` },
  });
  assert.equal(conn.response.status, 200);
  return conn;
}

testBothEngines(
  "admin: channels listed with counts and history; clients and channels deleted",
  async (engine) => {
    await using server = await startServer([
      "--publish-token",
      TOKEN,
      "--jwt-secret",
      SECRET,
      "--subscribe-auth",
      "--admin-port",
      "0",
    ], { engine });
    const base = await adminUrl(server);
    await using alice = await subscribe(server, "/news", "alice");
    await using bob = await subscribe(server, "/news/sport");
    await using carol = await subscribe(server, "/sport", "carol");
    await using accented = await subscribe(server, "/caf%C3%A9", "dave");
    await publish(server, "news", "one");
    await publish(server, "news/sport", "two");
    const newest = await alice.nextEvent();
    assert.equal(newest.data, "one");
    const second = await alice.nextEvent();
    assert.equal(second.data, "two");

    const list = await admin<{ channels: ChannelView[] }>(
      base,
      "GET",
      "/channels",
    );
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.channels, [
      { name: "café", subscribers: 1, history: 0, lastEventId: null },
      { name: "news", subscribers: 2, history: 2, lastEventId: second.id },
      { name: "sport", subscribers: 2, history: 1, lastEventId: second.id },
    ]);

    const news = await admin<ChannelDetail>(base, "GET", "/channels/news");
    assert.equal(news.status, 200);
    assert.deepEqual(
      { ...news.body, clients: undefined },
      {
        name: "news",
        subscribers: 2,
        history: 2,
        lastEventId: second.id,
        clients: undefined,
      },
    );
    assert.deepEqual(news.body.clients.map((c) => c.user), ["alice", null]);
    // /status shows the user too.
    const status = await admin<
      { clients: { id: number; user: string | null }[] }
    >(
      base,
      "GET",
      "/status",
    );
    assert.equal(
      status.body.clients.find((c) => c.id === news.body.clients[0].id)?.user,
      "alice",
    );
    for (const client of news.body.clients) {
      assert.match(client.address, /^127\.0\.0\.1:\d+$/);
      assert.ok(Date.now() - Date.parse(client.connectedAt) < 60_000);
    }
    // Names are percent-decoded.
    const accentedView = await admin<ChannelDetail>(
      base,
      "GET",
      "/channels/caf%C3%A9",
    );
    assert.equal(accentedView.status, 200);
    assert.deepEqual(accentedView.body.clients.map((c) => c.user), ["dave"]);

    // Unknown names: 404 with a JSON error.
    for (
      const [method, path] of [
        ["GET", "/channels/nope"],
        ["DELETE", "/channels/nope"],
        ["DELETE", "/clients/99999"],
        ["DELETE", "/clients/abc"],
      ]
    ) {
      const answer = await admin<{ error: string }>(base, method, path);
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.equal(typeof answer.body.error, "string");
    }

    // The admin's authentication holds for these too.
    assert.equal((await admin(base, "GET", "/channels", {})).status, 401);
    assert.equal(
      (await admin(base, "DELETE", "/channels/news", {
        Authorization: "Bearer wrong",
      })).status,
      403,
    );
    assert.equal(
      (await admin(base, "DELETE", `/clients/${news.body.clients[0].id}`, {}))
        .status,
      401,
    );

    // One client ended now; the others stay.
    const sport = await admin<ChannelDetail>(base, "GET", "/channels/sport");
    const carolId = sport.body.clients.find((c) => c.user === "carol")!.id;
    const closed = await admin<{ id: number; closed: boolean }>(
      base,
      "DELETE",
      `/clients/${carolId}`,
    );
    assert.deepEqual(closed, {
      status: 200,
      body: { id: carolId, closed: true },
    });
    await within(carol.ended, 5000, "carol's stream to end");
    await server.waitForOutput(new RegExp(`admin: closing client ${carolId}`));
    assert.equal(
      (await admin(base, "DELETE", `/clients/${carolId}`)).status,
      404,
    );

    // A channel deleted: its streams end (bob's on sport too), its history
    // is forgotten; sport keeps its own.
    const deleted = await admin<Record<string, unknown>>(
      base,
      "DELETE",
      "/channels/news",
    );
    assert.deepEqual(deleted, {
      status: 200,
      body: { channel: "news", subscribers: 2, forgotten: 2 },
    });
    await within(alice.ended, 5000, "alice's stream to end");
    await within(bob.ended, 5000, "bob's stream to end");
    const after = await admin<{ channels: ChannelView[] }>(
      base,
      "GET",
      "/channels",
    );
    assert.deepEqual(after.body.channels, [
      { name: "café", subscribers: 1, history: 0, lastEventId: null },
      { name: "sport", subscribers: 0, history: 1, lastEventId: second.id },
    ]);
    assert.equal((await admin(base, "GET", "/channels/news")).status, 404);
    // The stream on another channel goes on.
    await publish(server, "caf%C3%A9", "still here");
    assert.equal((await accented.nextEvent()).data, "still here");
  },
);

testBothEngines(
  "admin: a subscriber's user is what the auth URL named",
  async (engine) => {
    await using app = startAuthApp(() => jsonAnswer({ user: "erin" }));
    await using server = await startServer([
      "--auth-url",
      app.url,
      "--admin-port",
      "0",
    ], { engine });
    const base = await adminUrl(server);
    await using erin = await connect(`${server.baseUrl}/news`);
    assert.equal(erin.response.status, 200);
    const news = await admin<ChannelDetail>(base, "GET", "/channels/news", {});
    assert.equal(news.status, 200);
    assert.deepEqual(news.body.clients.map((c) => c.user), ["erin"]);
  },
);

testBothEngines("admin: the methods each path takes", async (engine) => {
  await using server = await startServer(["--admin-port", "0"], { engine });
  const base = await adminUrl(server);
  const post = await admin(base, "POST", "/channels", {});
  assert.equal(post.status, 405);
  const getClient = await admin(base, "GET", "/clients/1", {});
  assert.equal(getClient.status, 405);
  // No client is named: nothing there, whatever the method.
  for (const method of ["GET", "DELETE"]) {
    const none = await admin<{ error: string }>(base, method, "/clients", {});
    assert.equal(none.status, 404, method);
    assert.match(none.body.error, /\/clients\/ID/);
  }
  // Without a publish token the admin port is open, as before.
  const empty = await admin<{ channels: ChannelView[] }>(
    base,
    "GET",
    "/channels",
    {},
  );
  assert.deepEqual(empty, { status: 200, body: { channels: [] } });
});

/** An instance on `redisUrl` with an admin port, following the stream. */
async function instance(redisUrl: string): Promise<RunningServer> {
  const server = await startServer([
    "--redis",
    redisUrl,
    "--admin-port",
    "0",
  ]);
  try {
    await server.waitForOutput(/Redis: following sse:events after \S+/);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** Polls `GET /channels` until `check` accepts it (a count exchange away). */
async function channelsUntil(
  base: string,
  check: (channels: ChannelView[]) => boolean,
  timeoutMs = 5000,
): Promise<ChannelView[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const { status, body } = await admin<{ channels: ChannelView[] }>(
      base,
      "GET",
      "/channels",
      {},
    );
    assert.equal(status, 200);
    if (check(body.channels)) return body.channels;
    if (Date.now() > deadline) {
      assert.fail(`GET /channels never matched: ${JSON.stringify(body)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test("admin with --redis: every instance counted, history from Redis, a channel deleted on every instance", async () => {
  await using redis = await startRedis();
  await using one = await instance(redis.url);
  await using two = await instance(redis.url);
  const [baseOne, baseTwo] = [await adminUrl(one), await adminUrl(two)];
  await using here = await connect(`${one.baseUrl}/news`);
  await using there = await connect(`${two.baseUrl}/news/sport`);
  await using other = await connect(`${two.baseUrl}/weather`);
  const answer = await get(`${one.baseUrl}/news?message=kept`);
  assert.equal(answer.status, 200, answer.body);
  const kept = await here.nextEvent();
  assert.equal((await there.nextEvent()).id, kept.id);

  const expected = [
    { name: "news", subscribers: 2, history: 1, lastEventId: kept.id! },
    { name: "sport", subscribers: 1, history: 0, lastEventId: null },
    { name: "weather", subscribers: 1, history: 0, lastEventId: null },
  ];
  const same = (channels: ChannelView[]) =>
    JSON.stringify(channels) === JSON.stringify(expected);
  assert.deepEqual(await channelsUntil(baseOne, same), expected);
  assert.deepEqual(await channelsUntil(baseTwo, same), expected);
  // The clients listed are the instance's own.
  const detail = await admin<ChannelDetail>(baseOne, "GET", "/channels/news");
  assert.equal(detail.body.subscribers, 2);
  assert.equal(detail.body.clients.length, 1);

  // Deleted through the first instance: streams end on both, and Redis
  // forgets the channel's history.
  const deleted = await admin<Record<string, unknown>>(
    baseOne,
    "DELETE",
    "/channels/news",
    {},
  );
  assert.deepEqual(deleted, {
    status: 200,
    body: { channel: "news", subscribers: 2, forgotten: 1 },
  });
  await within(here.ended, 5000, "the first instance's stream to end");
  await within(there.ended, 5000, "the second instance's stream to end");
  await two.waitForOutput(/cluster: command close-channel "news"/);
  const left = [
    { name: "weather", subscribers: 1, history: 0, lastEventId: null },
  ];
  await channelsUntil(
    baseOne,
    (channels) => JSON.stringify(channels) === JSON.stringify(left),
  );
  // The other stream goes on.
  const still = await get(`${one.baseUrl}/weather?message=sunny`);
  assert.equal(still.status, 200, still.body);
  assert.equal((await other.nextEvent()).data, "sunny");
});

Deno.test("admin with --redis: a client's id names its instance, and any instance ends its stream", async () => {
  await using redis = await startRedis();
  await using one = await instance(redis.url);
  await using two = await instance(redis.url);
  const [baseOne, baseTwo] = [await adminUrl(one), await adminUrl(two)];
  await using there = await connect(`${two.baseUrl}/news`);
  await using stays = await connect(`${two.baseUrl}/news`);
  const detail = await admin<ChannelDetail>(baseTwo, "GET", "/channels/news");
  assert.equal(detail.body.clients.length, 2);
  const [first] = detail.body.clients;
  assert.match(String(first.id), /^[0-9a-f-]{36}\.\d+$/);

  // Asked of the other instance: sent to the stream's own, which ends it.
  const sent = await admin<Record<string, unknown>>(
    baseOne,
    "DELETE",
    `/clients/${first.id}`,
    {},
  );
  assert.deepEqual(sent, {
    status: 202,
    body: { id: first.id, closed: false },
  });
  // One of the two streams ends (the listing says which was first).
  await within(
    Promise.race([there.ended, stays.ended]),
    5000,
    "the deleted client's stream to end",
  );
  await two.waitForOutput(/admin: closing client \d+ at /);
  const left = await admin<ChannelDetail>(baseTwo, "GET", "/channels/news");
  assert.equal(left.body.clients.length, 1);
  assert.notEqual(left.body.clients[0].id, first.id);

  // Asked of its own instance: ended there and then; a bare number or an
  // id of no client is unknown.
  const [last] = left.body.clients;
  const own = await admin<Record<string, unknown>>(
    baseTwo,
    "DELETE",
    `/clients/${last.id}`,
    {},
  );
  assert.deepEqual(own, { status: 200, body: { id: last.id, closed: true } });
  for (const unknown of ["1", `${String(last.id).split(".")[0]}.999`]) {
    const answer = await admin<{ error: string }>(
      baseTwo,
      "DELETE",
      `/clients/${unknown}`,
      {},
    );
    assert.equal(answer.status, 404, unknown);
  }
});
