// --auth-url against the real program, on both HTTP engines: an application
// (a Deno.serve server in the test) decides who subscribes and publishes.
// What it is asked (exact JSON, Cookie and Authorization forwarded), its
// 401/403 passed on, its failures and silence turned into 503 without
// holding up other clients, narrowed channels, expiry, the decision cache
// keyed per client, the combination with JWT, the inputs it is not asked
// about, and --redis.
import assert from "node:assert/strict";
import * as jose from "jose";
import { within } from "../helpers/condition.ts";
import { get as request, openController } from "../helpers/publishers.ts";
import {
  type HttpEngine,
  startServer,
  testBothEngines,
} from "../helpers/server_process.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";
import { type AppCall, jsonAnswer, startAuthApp } from "../helpers/auth_app.ts";
import { startRedis } from "../helpers/redis_server.ts";

const SECRET = "jwt-SECRET-4c1e9a7b2d";

/** Cookie `who=NAME`: the test apps decide by it. */
function who(call: AppCall): string | undefined {
  return /(?:^|;\s*)who=([^;]*)/.exec(call.cookie ?? "")?.[1];
}

async function hs256(claims: jose.JWTPayload): Promise<string> {
  return await new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + 300)
    .sign(new TextEncoder().encode(SECRET));
}

function postText(
  url: string,
  data: string,
  headers: Record<string, string> = {},
) {
  return request(url, {
    method: "POST",
    headers: { "Content-Type": "text/plain", ...headers },
    body: data,
  });
}

testBothEngines(
  "--auth-url: the application is asked with the exact JSON, Cookie and Authorization, for subscriptions and publishes by GET and POST",
  async (engine: HttpEngine) => {
    await using app = startAuthApp(() => new Response(null, { status: 204 }));
    await using server = await startServer(["--auth-url", app.url], { engine });
    const cookie = "session=abc123; who=alice";
    const authorization = "Basic YWxpY2U6c2VjcmV0";
    await using sub = await connect(
      `${server.baseUrl}/news/sport?access_token=not-sent`,
      { headers: { Cookie: cookie, Authorization: authorization } },
    );
    assert.equal(sub.response.status, 200);
    assert.equal(app.calls.length, 1);
    const [asked] = app.calls;
    assert.equal(asked.method, "POST");
    assert.equal(asked.contentType, "application/json");
    assert.equal(
      asked.text,
      '{"action":"subscribe","channels":["news","sport"],"path":"/news/sport","remoteAddr":"127.0.0.1"}',
    );
    assert.equal(asked.cookie, cookie);
    assert.equal(asked.authorization, authorization);

    // Publishing by GET query and by POST is asked too, as "publish".
    const byGet = await request(`${server.baseUrl}/news?message=by-get`, {
      headers: { Cookie: "who=bob" },
    });
    assert.equal(byGet.status, 200, byGet.body);
    assert.equal(
      app.calls[1].text,
      '{"action":"publish","channels":["news"],"path":"/news","remoteAddr":"127.0.0.1"}',
    );
    assert.equal(app.calls[1].cookie, "who=bob");
    assert.equal(app.calls[1].authorization, null);
    const byPost = await postText(`${server.baseUrl}/sport`, "by-post", {
      Authorization: "Bearer app-token",
    });
    assert.equal(byPost.status, 202, byPost.body);
    assert.equal(
      app.calls[2].text,
      '{"action":"publish","channels":["sport"],"path":"/sport","remoteAddr":"127.0.0.1"}',
    );
    assert.equal(app.calls[2].authorization, "Bearer app-token");
    assert.equal(app.calls[2].cookie, null);
    assert.equal((await sub.nextEvent()).data, "by-get");
    assert.equal((await sub.nextEvent()).data, "by-post");

    // Without --auth-cache every request is asked, identical ones too.
    const again = await request(`${server.baseUrl}/news?message=again`, {
      headers: { Cookie: "who=bob" },
    });
    assert.equal(again.status, 200);
    assert.equal(app.calls.length, 4);
  },
);

testBothEngines(
  "--auth-url: 401 and 403 are passed on; another status or a malformed answer is 503 and logged; nothing is published",
  async (engine: HttpEngine) => {
    await using app = startAuthApp((call) => {
      switch (who(call)) {
        case "anon":
          return new Response("log in first", { status: 401 });
        case "banned":
          return new Response("no", { status: 403 });
        case "broken":
          return new Response("oops", { status: 500 });
        case "moved":
          return new Response(null, {
            status: 302,
            headers: { Location: "http://127.0.0.1:1/" },
          });
        case "garbled":
          return new Response("yes please", { status: 200 });
        case "wrong":
          return jsonAnswer({ channels: "news" });
        default:
          return new Response(null, { status: 204 });
      }
    });
    await using server = await startServer(["--auth-url", app.url], { engine });
    await using sub = await connect(`${server.baseUrl}/news`, {
      headers: { Cookie: "who=ok" },
    });
    assert.equal(sub.response.status, 200);
    const expected: Record<string, number> = {
      anon: 401,
      banned: 403,
      broken: 503,
      moved: 503,
      garbled: 503,
      wrong: 503,
    };
    for (const [name, status] of Object.entries(expected)) {
      const headers = { Cookie: `who=${name}` };
      const subscribe = await request(`${server.baseUrl}/news`, { headers });
      assert.equal(subscribe.status, status, `subscribe as ${name}`);
      assert.match(subscribe.headers.get("content-type")!, /^text\/plain/);
      const published = await request(
        `${server.baseUrl}/news?message=from-${name}`,
        { headers },
      );
      assert.equal(published.status, status, `publish by GET as ${name}`);
      const posted = await postText(
        `${server.baseUrl}/news`,
        `from-${name}`,
        headers,
      );
      assert.equal(posted.status, status, `publish by POST as ${name}`);
      assert.match(posted.headers.get("content-type")!, /^application\/json/);
      assert.match(posted.body, /nothing was published/);
      if (status === 503) {
        assert.match(subscribe.body, /authorization service/);
      } else {
        assert.match(subscribe.body, /the application refused/);
      }
    }
    assert.equal(
      (await request(`${server.baseUrl}/news`, {
        headers: { Cookie: "who=anon" },
      })).headers.get("www-authenticate"),
      "Bearer",
    );
    await server.waitForOutput(
      /auth URL .*: it answered 500; refused with 503/,
    );
    await server.waitForOutput(
      /auth URL .*: it answered 302; refused with 503/,
    );
    await server.waitForOutput(/auth URL .*: its 2xx answer is neither empty/);
    await server.waitForOutput(/auth URL .*"channels" in its answer is not/);
    // Only the allowed publish reaches the subscriber.
    const ok = await request(`${server.baseUrl}/news?message=allowed`, {
      headers: { Cookie: "who=ok" },
    });
    assert.equal(ok.status, 200);
    assert.equal((await sub.nextEvent()).data, "allowed");
    assert.doesNotMatch(sub.raw(), /from-/);
  },
);

testBothEngines(
  "--auth-url: an application that never answers gets 503 within --auth-timeout, while other clients subscribe and publish",
  async (engine: HttpEngine) => {
    await using app = startAuthApp((call) =>
      who(call) === "slow" ? null : new Response(null, { status: 204 })
    );
    // The default --auth-timeout: 2 s.
    await using server = await startServer(["--auth-url", app.url], { engine });
    const started = Date.now();
    let slowSettled = false;
    const slow = Promise.all(
      [1, 2, 3].map((n) =>
        request(`${server.baseUrl}/news${n % 2 ? "" : "?message=slow"}`, {
          headers: { Cookie: "who=slow" },
        })
      ),
    ).finally(() => slowSettled = true);
    await app.waitForCalls(3);
    assert.equal(app.hanging, 3);

    // Meanwhile others are served at once.
    await using sub = await connect(`${server.baseUrl}/news`, {
      headers: { Cookie: "who=quick" },
    });
    assert.equal(sub.response.status, 200);
    const posted = await postText(`${server.baseUrl}/news`, "meanwhile", {
      Cookie: "who=quick",
    });
    assert.equal(posted.status, 202);
    assert.equal((await sub.nextEvent()).data, "meanwhile");
    assert.equal(slowSettled, false, "the quick clients waited for the slow");

    const answers = await within(slow, 10_000, "the slow requests to end");
    const elapsed = Date.now() - started;
    for (const answer of answers) {
      assert.equal(answer.status, 503);
      assert.match(answer.body, /authorization service/);
    }
    assert.ok(elapsed >= 1900, `refused after ${elapsed} ms, before 2 s`);
    assert.ok(elapsed < 6000, `refused after ${elapsed} ms`);
    await server.waitForOutput(/auth URL .*: no answer within 2 s/);
    // The hub hung up: the application's held answers are over.
    await app.waitForNoneHanging();
    assert.doesNotMatch(sub.raw(), /slow/);
  },
);

testBothEngines(
  "--auth-url: an answer's channels narrow the permission (names or * patterns); others are refused with 403",
  async (engine: HttpEngine) => {
    await using app = startAuthApp((call) =>
      who(call) === "glob"
        ? jsonAnswer({ channels: ["room-*"], user: "carol" })
        : jsonAnswer({ channels: ["news"] })
    );
    await using server = await startServer(["--auth-url", app.url], { engine });
    await using news = await connect(`${server.baseUrl}/news`);
    assert.equal(news.response.status, 200);
    const both = await request(`${server.baseUrl}/news/sport`);
    assert.equal(both.status, 403);
    assert.match(both.body, /does not allow to subscribe to channel "sport"/);
    const every = await request(`${server.baseUrl}/`);
    assert.equal(every.status, 403, "every channel needs *");
    const sport = await postText(`${server.baseUrl}/sport`, "no");
    assert.equal(sport.status, 403);
    assert.match(
      sport.body,
      /does not allow to publish to channel \\"sport\\"/,
    );

    const glob = { headers: { Cookie: "who=glob" } };
    await using rooms = await connect(`${server.baseUrl}/room-1/room-2`, glob);
    assert.equal(rooms.response.status, 200);
    assert.equal(
      (await request(`${server.baseUrl}/room-1/lobby`, glob)).status,
      403,
    );
    const published = await request(
      `${server.baseUrl}/room-2?message=hello`,
      glob,
    );
    assert.equal(published.status, 200);
    assert.equal((await rooms.nextEvent()).data, "hello");
    assert.doesNotMatch(news.raw(), /hello/);
  },
);

testBothEngines(
  "--auth-url: an answer's expires ends the stream with sse-auth-expired; a past one refuses",
  async (engine: HttpEngine) => {
    const expires = Math.floor(Date.now() / 1000) + 2;
    await using app = startAuthApp((call) =>
      who(call) === "past"
        ? jsonAnswer({ expires: Math.floor(Date.now() / 1000) - 10 })
        : jsonAnswer({ expires })
    );
    // With --keepalive 0.2 the hub checks expiry every 50 ms.
    await using server = await startServer(
      ["--auth-url", app.url, "--keepalive", "0.2"],
      { engine },
    );
    await using sub = await connect(`${server.baseUrl}/news`);
    assert.equal(sub.response.status, 200);
    const past = await request(`${server.baseUrl}/news`, {
      headers: { Cookie: "who=past" },
    });
    assert.equal(past.status, 403);
    assert.match(past.body, /permission to subscribe has expired/);
    let ending = await sub.nextEvent(5000);
    while (ending.type === "message") ending = await sub.nextEvent(5000);
    assert.equal(typeAndData(ending).type, "sse-auth-expired");
    assert.ok(Date.now() >= expires * 1000, "ended before the expiry");
    await within(sub.ended, 2000, "the expired stream to end");
  },
);

testBothEngines(
  "--auth-cache: an identical request is answered from the cache; another cookie, credential, channel or action asks again",
  async (engine: HttpEngine) => {
    await using app = startAuthApp(() => new Response(null, { status: 204 }));
    await using server = await startServer(
      ["--auth-url", app.url, "--auth-cache", "60"],
      { engine },
    );
    // HEAD is asked as the subscription it describes, and ends at once.
    const head = (headers: Record<string, string>) => ({
      method: "HEAD",
      headers,
    });
    const alice = { Cookie: "session=alice" };
    assert.equal(
      (await request(`${server.baseUrl}/news`, head(alice))).status,
      200,
    );
    assert.equal(
      (await request(`${server.baseUrl}/news`, head(alice))).status,
      200,
    );
    assert.equal(app.calls.length, 1, "the second request was asked again");
    await using stream = await connect(`${server.baseUrl}/news`, {
      headers: alice,
    });
    assert.equal(stream.response.status, 200);
    assert.equal(app.calls.length, 1, "the stream was asked again");

    const others: [string, RequestInit][] = [
      ["/news", head({ Cookie: "session=bob" })],
      ["/news", head({ ...alice, Authorization: "Basic Ym9iOng=" })],
      ["/news/sport", head(alice)],
      ["/news?message=hi", { headers: alice }],
    ];
    for (const [index, [path, init]] of others.entries()) {
      assert.equal(
        (await request(`${server.baseUrl}${path}`, init)).status,
        200,
      );
      assert.equal(app.calls.length, index + 2, `${path} was not asked`);
    }
    assert.equal(app.calls[1].cookie, "session=bob");
    assert.equal(app.calls[2].authorization, "Basic Ym9iOng=");
    assert.equal(app.calls[4].body.action, "publish");
    // Each of them is cached in its turn.
    for (const [path, init] of others) {
      assert.equal(
        (await request(`${server.baseUrl}${path}`, init)).status,
        200,
      );
    }
    assert.equal(app.calls.length, 5);
    assert.equal((await stream.nextEvent()).data, "hi");
    assert.equal((await stream.nextEvent()).data, "hi");
  },
);

testBothEngines(
  "--auth-url with --subscribe-auth: the JWT and the application must both allow",
  async (engine: HttpEngine) => {
    await using app = startAuthApp((call) => {
      switch (who(call)) {
        case "banned":
          return new Response(null, { status: 403 });
        case "narrow":
          return jsonAnswer({ channels: ["news"] });
        default:
          return new Response(null, { status: 204 });
      }
    });
    await using server = await startServer(
      ["--auth-url", app.url, "--jwt-secret", SECRET, "--subscribe-auth"],
      { engine },
    );
    const newsAndSport = await hs256({ subscribe: ["news", "sport"] });
    const newsOnly = await hs256({ subscribe: ["news"] });
    const as = (token: string | null, name: string): RequestInit => ({
      headers: {
        Cookie: `who=${name}`,
        ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
      },
    });
    // The JWT refuses: the application is not asked.
    assert.equal(
      (await request(`${server.baseUrl}/news`, as(null, "ok"))).status,
      401,
    );
    assert.equal(
      (await request(`${server.baseUrl}/sport`, as(newsOnly, "ok"))).status,
      403,
    );
    assert.equal(app.calls.length, 0);
    // The JWT allows, the application refuses.
    assert.equal(
      (await request(`${server.baseUrl}/news`, as(newsAndSport, "banned")))
        .status,
      403,
    );
    // Only the channels both allow.
    assert.equal(
      (await request(
        `${server.baseUrl}/news/sport`,
        as(newsAndSport, "narrow"),
      ))
        .status,
      403,
    );
    await using both = await connect(
      `${server.baseUrl}/news`,
      as(newsAndSport, "narrow"),
    );
    assert.equal(both.response.status, 200);
    // The application saw the client's own Authorization header.
    assert.equal(app.calls.at(-1)!.authorization, `Bearer ${newsAndSport}`);
    assert.equal(app.calls.length, 3);
  },
);

Deno.test("--auth-url: control-port publishes are not asked (a local, trusted input)", async () => {
  await using app = startAuthApp((call) =>
    call.body.action === "publish"
      ? new Response(null, { status: 403 })
      : new Response(null, { status: 204 })
  );
  await using server = await startServer(
    ["--auth-url", app.url, "-P", "0"],
    { control: true },
  );
  await using sub = await connect(`${server.baseUrl}/news`);
  assert.equal(sub.response.status, 200);
  assert.equal(
    (await request(`${server.baseUrl}/news?message=refused`)).status,
    403,
  );
  await using controller = await openController(server.controlPort!);
  await controller.send("news = by-control\n");
  assert.equal((await sub.nextEvent()).data, "by-control");
  assert.deepEqual(app.calls.map((call) => call.body.action), [
    "subscribe",
    "publish",
  ]);
});

Deno.test("--auth-url with --redis: decisions apply, events travel through Redis", async () => {
  await using redis = await startRedis();
  await using app = startAuthApp((call) =>
    who(call) === "banned"
      ? new Response(null, { status: 403 })
      : new Response(null, { status: 204 })
  );
  await using server = await startServer([
    "--redis",
    redis.url,
    "--auth-url",
    app.url,
  ]);
  await using sub = await connect(`${server.baseUrl}/news`);
  assert.equal(sub.response.status, 200);
  const banned = { Cookie: "who=banned" };
  assert.equal(
    (await request(`${server.baseUrl}/news`, { headers: banned })).status,
    403,
  );
  assert.equal(
    (await postText(`${server.baseUrl}/news`, "refused", banned)).status,
    403,
  );
  assert.equal(
    (await postText(`${server.baseUrl}/news`, "through-redis")).status,
    202,
  );
  assert.equal((await sub.nextEvent()).data, "through-redis");
  assert.equal(await redis.cli("XLEN", "sse:c:news"), "1");
  assert.equal(app.calls.length, 4);
});
