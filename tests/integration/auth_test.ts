// Authentication and access control against the real program: the publish
// token (HTTP, control port, admin port, FIFO mode), where the token comes
// from, JWT publish and subscribe claims (HS256, RS256, ES256), expiry of a
// subscriber's token while its stream is open, what is logged, CORS and the
// control port's listening address.
import assert from "node:assert/strict";
import * as jose from "jose";
import { within } from "../helpers/condition.ts";
import { get as request, openController } from "../helpers/publishers.ts";
import { type RunningServer, startServer } from "../helpers/server_process.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();

// Distinctive strings, so finding one in the log means it leaked.
const TOKEN = "pub-TOKEN-7f3a9c41e2";
const SECRET = "jwt-SECRET-d81b5e0c9a77f3";

function bearer(token: string): HeadersInit {
  return { Authorization: `Bearer ${token}` };
}

/** POSTs `data` as text/plain, with a bearer token when given. */
function postText(url: string, data: string, token?: string) {
  return request(url, {
    method: "POST",
    headers: {
      "Content-Type": "text/plain",
      ...(token === undefined ? {} : bearer(token)),
    },
    body: data,
  });
}

/** Seconds since the epoch, as JWT `exp` counts. */
function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * An HS256 JWT with `claims`, expiring at `exp` (seconds since the epoch;
 * default in five minutes; null: no exp claim).
 */
async function hs256(
  claims: jose.JWTPayload,
  options: { secret?: string; exp?: number | null } = {},
): Promise<string> {
  const exp = options.exp === undefined ? nowSeconds() + 300 : options.exp;
  let jwt = new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt();
  if (exp !== null) jwt = jwt.setExpirationTime(exp);
  return await jwt.sign(encoder.encode(options.secret ?? SECRET));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Stops the server and returns everything it wrote (stdout and stderr). */
async function allOutput(server: RunningServer): Promise<string> {
  await server.stop();
  return server.output() + server.errors();
}

function assertAbsent(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    assert.ok(
      !text.includes(secret),
      `${JSON.stringify(secret)} appears in:\n${text}`,
    );
  }
}

Deno.test("publish token: HTTP publishing needs the bearer token, subscribing does not", async () => {
  await using server = await startServer(["--publish-token", TOKEN]);
  await using sub = await connect(`${server.baseUrl}/news`);
  assert.equal(sub.response.status, 200, "subscribing needs no token");
  assert.equal(sub.response.headers.get("content-type"), "text/event-stream");

  const noneGet = await request(`${server.baseUrl}/news?message=no-token`);
  assert.equal(noneGet.status, 401);
  assert.equal(noneGet.headers.get("www-authenticate"), "Bearer");
  assert.match(noneGet.body, /publishing needs a token; nothing was published/);
  const nonePost = await postText(`${server.baseUrl}/news`, "no-token-post");
  assert.equal(nonePost.status, 401);
  assert.equal(nonePost.headers.get("www-authenticate"), "Bearer");
  assert.match(JSON.parse(nonePost.body).error, /nothing was published/);

  const wrongGet = await request(`${server.baseUrl}/news?message=wrong`, {
    headers: bearer("not-the-token"),
  });
  assert.equal(wrongGet.status, 403);
  assert.equal(wrongGet.headers.get("www-authenticate"), null);
  // One character short of the token, and the token with a suffix.
  const prefix = await request(`${server.baseUrl}/news?message=prefix`, {
    headers: bearer(TOKEN.slice(0, -1)),
  });
  assert.equal(prefix.status, 403);
  const suffix = await postText(
    `${server.baseUrl}/news`,
    "suffix",
    `${TOKEN}x`,
  );
  assert.equal(suffix.status, 403);
  // The token alone (not as a Bearer credential) is no credential.
  const basic = await request(`${server.baseUrl}/news?message=basic`, {
    headers: { Authorization: TOKEN },
  });
  assert.equal(basic.status, 401);

  const okGet = await request(`${server.baseUrl}/news?message=with-token`, {
    headers: bearer(TOKEN),
  });
  assert.equal(okGet.status, 200);
  assert.equal(okGet.body, "OK: 1 event sent to 1 client\n");
  const okPost = await postText(`${server.baseUrl}/news`, "posted", TOKEN);
  assert.equal(okPost.status, 202);
  assert.equal(JSON.parse(okPost.body).clients, 1);

  // The refused requests published nothing: the first events are these two.
  assert.equal((await sub.nextEvent()).data, "with-token");
  assert.equal((await sub.nextEvent()).data, "posted");
  await server.waitForOutput(/published message="posted"/);
  assertAbsent(await allOutput(server), [TOKEN]);
});

Deno.test("publish token: the control port needs `auth TOKEN` as the first line", async () => {
  await using server = await startServer(
    ["-P", "0", "--publish-token", TOKEN],
    {
      control: true,
    },
  );
  await using sub = await connect(`${server.baseUrl}/news`);

  // A first line that is not `auth …`: refused and closed, nothing published.
  await using plain = await openController(server.controlPort!);
  await plain.send("news = without auth\nnews = second try\n");
  const [refusal] = await plain.waitForLines(1);
  assert.equal(
    refusal,
    'error: authentication failed: the first line must be "auth TOKEN"',
  );
  await plain.closedByServer();
  assert.equal(plain.received().length, 1, "only the one error line");

  // A wrong token: refused and closed; the lines after it are not read.
  await using wrong = await openController(server.controlPort!);
  await wrong.send("auth not-the-token\nnews = sneaky\n");
  assert.equal(
    (await wrong.waitForLines(1))[0],
    "error: authentication failed: wrong token",
  );
  await wrong.closedByServer();

  // `auth` with nothing after it is not an auth line either.
  await using empty = await openController(server.controlPort!);
  await empty.send("auth\n");
  assert.match(
    (await empty.waitForLines(1))[0],
    /^error: authentication failed: the first line must be "auth TOKEN"$/,
  );
  await empty.closedByServer();

  // The right token: the lines that follow publish, with no answer.
  await using good = await openController(server.controlPort!);
  await good.send(`auth ${TOKEN}\nnews = allowed\nnews/alert = second\n`);
  assert.deepEqual(typeAndData(await sub.nextEvent()), {
    type: "message",
    data: "allowed",
  });
  assert.deepEqual(typeAndData(await sub.nextEvent()), {
    type: "alert",
    data: "second",
  });
  await good.send("news = later\n");
  assert.equal((await sub.nextEvent()).data, "later");
  assert.deepEqual(good.received(), [], "no error for an authenticated line");
  assert.equal(good.finished, false, "the connection stays open");

  await server.waitForOutput(/published message="later"/);
  const output = await allOutput(server);
  assertAbsent(output, [TOKEN]);
  assert.doesNotMatch(output, /sneaky|without auth|second try/);
});

Deno.test("token sources: --publish-token-file wins over --publish-token and SSE_PUBLISH_TOKEN", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/token`;
    // Surrounding white space (the usual trailing newline) is not part of it.
    await Deno.writeTextFile(file, "file-TOKEN-55aa\n");
    await using server = await startServer(
      ["--publish-token-file", file, "--publish-token", "option-TOKEN-66bb"],
      { env: { SSE_PUBLISH_TOKEN: "env-TOKEN-77cc" } },
    );
    await using sub = await connect(`${server.baseUrl}/c`);
    for (const loser of ["option-TOKEN-66bb", "env-TOKEN-77cc"]) {
      const refused = await request(`${server.baseUrl}/c?message=${loser}`, {
        headers: bearer(loser),
      });
      assert.equal(refused.status, 403, `${loser} is not the token`);
    }
    const ok = await request(`${server.baseUrl}/c?message=from-file`, {
      headers: bearer("file-TOKEN-55aa"),
    });
    assert.equal(ok.status, 200);
    assert.equal((await sub.nextEvent()).data, "from-file");
    await server.waitForOutput(/published message="from-file"/);
    assertAbsent(await allOutput(server), [
      "file-TOKEN-55aa",
      "option-TOKEN-66bb",
      "env-TOKEN-77cc",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token sources: --publish-token wins over SSE_PUBLISH_TOKEN; the variable alone works", async () => {
  {
    await using server = await startServer(
      ["--publish-token", "option-TOKEN-66bb"],
      { env: { SSE_PUBLISH_TOKEN: "env-TOKEN-77cc" } },
    );
    const env = await request(`${server.baseUrl}/c?message=x`, {
      headers: bearer("env-TOKEN-77cc"),
    });
    assert.equal(env.status, 403);
    const option = await request(`${server.baseUrl}/c?message=x`, {
      headers: bearer("option-TOKEN-66bb"),
    });
    assert.equal(option.status, 200);
  }
  await using server = await startServer(["-P", "0"], {
    control: true,
    env: { SSE_PUBLISH_TOKEN: "env-TOKEN-77cc" },
  });
  await using sub = await connect(`${server.baseUrl}/c`);
  const none = await request(`${server.baseUrl}/c?message=none`);
  assert.equal(none.status, 401, "the variable alone switches the check on");
  const ok = await request(`${server.baseUrl}/c?message=by-env`, {
    headers: bearer("env-TOKEN-77cc"),
  });
  assert.equal(ok.status, 200);
  assert.equal((await sub.nextEvent()).data, "by-env");
  await using ctl = await openController(server.controlPort!);
  await ctl.send("auth env-TOKEN-77cc\nc = by-env-on-control\n");
  assert.equal((await sub.nextEvent()).data, "by-env-on-control");
  await server.waitForOutput(/published message="by-env-on-control"/);
  assertAbsent(await allOutput(server), ["env-TOKEN-77cc"]);
});

Deno.test("admin port: needs the token then; /status shows no secret; the dashboard takes ?access_token=", async () => {
  await using server = await startServer([
    "--publish-token",
    TOKEN,
    "--jwt-secret",
    SECRET,
    "--admin-port",
    "0",
  ]);
  const match = await server.waitForOutput(
    /admin \(status, metrics, dashboard\) on 127\.0\.0\.1:(\d+)/,
  );
  const admin = `http://127.0.0.1:${match[1]}`;

  const none = await request(`${admin}/status`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  assert.doesNotMatch(none.body, /"clients"/);
  const wrong = await request(`${admin}/status`, {
    headers: bearer("not-the-token"),
  });
  assert.equal(wrong.status, 403);
  assert.equal((await request(`${admin}/metrics`)).status, 401);

  const status = await request(`${admin}/status`, { headers: bearer(TOKEN) });
  assert.equal(status.status, 200);
  const report = JSON.parse(status.body);
  assert.equal(report.server.options.publishToken, true);
  assert.equal(report.server.options.jwt, true);
  assertAbsent(status.body, [TOKEN, SECRET]);
  const metrics = await request(`${admin}/metrics`, { headers: bearer(TOKEN) });
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /sse_server_auth_failures_total 3/);

  // A JWT may open the admin port only when it may publish everywhere.
  const narrow = await hs256({ publish: ["news"] });
  assert.equal(
    (await request(`${admin}/status`, { headers: bearer(narrow) })).status,
    403,
  );
  const wide = await hs256({ publish: ["*"] });
  assert.equal(
    (await request(`${admin}/status`, { headers: bearer(wide) })).status,
    200,
  );

  // The page and its stream, as a browser opens them: token in the query.
  assert.equal((await request(`${admin}/`)).status, 401);
  const page = await request(`${admin}/?access_token=${TOKEN}`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>sse-server dashboard<\/title>/);
  const refusedStream = await request(`${admin}/events?access_token=nope`);
  assert.equal(refusedStream.status, 403);
  await using stream = await connect(`${admin}/events?access_token=${TOKEN}`);
  assert.equal(stream.response.status, 200);
  const snapshot = await stream.nextEvent();
  assert.equal(snapshot.type, "snapshot");
  assert.equal(typeof JSON.parse(snapshot.data).clients, "number");
  await stream.close();

  await server.waitForOutput(
    /admin request from 127\.0\.0\.1 refused: token not accepted/,
  );
  const output = await allOutput(server);
  assert.match(output, /admin request from 127\.0\.0\.1 refused: no token/);
  assertAbsent(output, [TOKEN, SECRET, narrow, wide]);
});

Deno.test("FIFO: created with mode 0600 when publishing is protected, 0666 otherwise", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string[], number][] = [
      [[], 0o666],
      [["--publish-token", TOKEN], 0o600],
      [["--jwt-secret", SECRET], 0o600],
    ];
    for (const [args, mode] of cases) {
      const fifo = `${dir}/sse.fifo`;
      const server = await startServer(["-F", fifo, ...args]);
      try {
        const info = await Deno.stat(fifo);
        assert.ok(info.isFifo);
        assert.equal(
          (info.mode! & 0o777).toString(8),
          mode.toString(8),
          `mode with ${JSON.stringify(args)}`,
        );
        // An answered request proves start-up has finished (signal handlers
        // included), so SIGTERM below halts cleanly instead of killing it.
        const head = await request(`${server.baseUrl}/c`, { method: "HEAD" });
        assert.equal(head.status, 200);
      } finally {
        assert.equal(await server.stop(), 0);
      }
      // A FIFO the server made is gone after it stops, ready for the next.
      await assert.rejects(Deno.stat(fifo), Deno.errors.NotFound);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("JWT HS256: the publish claim limits the channels over HTTP", async () => {
  await using server = await startServer(["--jwt-secret", SECRET]);
  // Subscribed to every channel: sees anything published anywhere.
  await using all = await connect(`${server.baseUrl}/`);
  const limited = await hs256({ publish: ["news", "sport.*"] });
  const publishGet = (path: string, data: string, token: string) =>
    request(`${server.baseUrl}${path}?message=${data}`, {
      headers: bearer(token),
    });

  assert.equal((await publishGet("/news", "n1", limited)).status, 200);
  assert.equal(
    (await postText(`${server.baseUrl}/sport.eu`, "s1", limited)).status,
    202,
  );
  assert.equal(typeAndData(await all.nextEvent()).data, "n1");
  assert.equal(typeAndData(await all.nextEvent()).data, "s1");

  const weather = await publishGet("/weather", "w1", limited);
  assert.equal(weather.status, 403);
  assert.match(
    weather.body,
    /token may not publish to channel "weather"; nothing was published/,
  );
  // One channel outside the claim refuses the whole request.
  assert.equal((await publishGet("/news/weather", "nw", limited)).status, 403);
  assert.equal(
    (await postText(`${server.baseUrl}/news/weather`, "nw-post", limited))
      .status,
    403,
  );
  // "sport.*" is not "sport", nor "sportx" (the dot is literal).
  assert.equal((await publishGet("/sport", "s", limited)).status, 403);
  assert.equal((await publishGet("/sportxeu", "sx", limited)).status, 403);
  // No channel at all needs "*".
  assert.equal((await publishGet("", "nowhere", limited)).status, 403);

  const everything = await hs256({ publish: ["*"] });
  assert.equal((await publishGet("/weather", "w2", everything)).status, 200);
  assert.equal((await publishGet("", "no-channel", everything)).status, 200);
  // Nothing refused got through: the next events are the allowed ones.
  assert.equal((await all.nextEvent()).data, "w2");
  assert.equal((await all.nextEvent()).data, "no-channel");

  const expired = await hs256({ publish: ["*"] }, { exp: nowSeconds() - 60 });
  const expiredAnswer = await publishGet("/news", "old", expired);
  assert.equal(expiredAnswer.status, 403);
  assert.match(expiredAnswer.body, /token expired/);
  const otherSecret = await hs256({ publish: ["*"] }, {
    secret: "another-secret-entirely-000",
  });
  const forged = await publishGet("/news", "forged", otherSecret);
  assert.equal(forged.status, 403);
  assert.match(forged.body, /invalid token/);
  const noClaim = await hs256({ subscribe: ["*"] });
  const claimless = await publishGet("/news", "claimless", noClaim);
  assert.equal(claimless.status, 403);
  assert.match(claimless.body, /no "publish" claim/);
  // An unsigned token ("alg": "none") is never accepted.
  const unsigned = new jose.UnsecuredJWT({ publish: ["*"] }).encode();
  assert.equal((await publishGet("/news", "unsigned", unsigned)).status, 403);
  assert.equal((await publishGet("/news", "none", "")).status, 401);

  assert.equal((await publishGet("/news", "last", limited)).status, 200);
  assert.equal((await all.nextEvent()).data, "last");
});

Deno.test("JWT HS256 on the control port: lines outside the claim are refused, the connection goes on", async () => {
  await using server = await startServer(["-P", "0", "--jwt-secret", SECRET], {
    control: true,
  });
  await using all = await connect(`${server.baseUrl}/`);
  const jwt = await hs256({ publish: ["news", "sport.*"] });
  await using ctl = await openController(server.controlPort!);
  await ctl.send(
    `auth ${jwt}\nweather = no\nnews = yes\nsport.eu/goal = 1:0\n{"channel":"weather","data":"json"}\n`,
  );
  assert.deepEqual(typeAndData(await all.nextEvent()), {
    type: "message",
    data: "yes",
  });
  assert.deepEqual(typeAndData(await all.nextEvent()), {
    type: "goal",
    data: "1:0",
  });
  assert.deepEqual(await ctl.waitForLines(2), [
    'error: token may not publish to channel "weather", line ignored',
    'error: token may not publish to channel "weather", line ignored',
  ]);
  await ctl.send("weather/block <<END\nrain\nEND\nnews = still open\n");
  assert.equal((await all.nextEvent()).data, "still open");
  assert.equal(
    (await ctl.waitForLines(3))[2],
    'error: token may not publish to channel "weather", block ignored',
  );
  assert.equal(ctl.finished, false);

  // Tokens that do not authenticate end the connection at once.
  const refusals: [string, RegExp][] = [
    [
      await hs256({ publish: ["*"] }, { exp: nowSeconds() - 60 }),
      /^error: authentication failed: token expired$/,
    ],
    [
      await hs256({ publish: ["*"] }, { secret: "another-secret-000" }),
      /^error: authentication failed: invalid token$/,
    ],
    [
      await hs256({ subscribe: ["*"] }),
      /^error: authentication failed: token has no "publish" claim$/,
    ],
  ];
  for (const [token, answer] of refusals) {
    await using bad = await openController(server.controlPort!);
    await bad.send(`auth ${token}\nnews = must not appear\n`);
    assert.match((await bad.waitForLines(1))[0], answer);
    await bad.closedByServer();
  }
  await ctl.send("news = after refusals\n");
  assert.equal((await all.nextEvent()).data, "after refusals");
  const output = await allOutput(server);
  assert.doesNotMatch(output, /must not appear/);
  assertAbsent(output, [SECRET, jwt, ...refusals.map(([t]) => t)]);
});

for (const alg of ["RS256", "ES256"] as const) {
  Deno.test(`JWT ${alg}: --jwt-public-key accepts tokens signed by its private key only`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { publicKey, privateKey } = await jose.generateKeyPair(alg);
      const pem = await jose.exportSPKI(publicKey);
      const keyFile = `${dir}/public.pem`;
      await Deno.writeTextFile(keyFile, pem);
      await using server = await startServer(
        ["-P", "0", "--jwt-public-key", keyFile],
        { control: true },
      );
      await using sub = await connect(`${server.baseUrl}/news`);
      const sign = (claims: jose.JWTPayload, key: CryptoKey) =>
        new jose.SignJWT(claims).setProtectedHeader({ alg })
          .setExpirationTime("5m").sign(key);
      const good = await sign({ publish: ["news"] }, privateKey);
      const ok = await request(`${server.baseUrl}/news?message=signed`, {
        headers: bearer(good),
      });
      assert.equal(ok.status, 200);
      assert.equal((await sub.nextEvent()).data, "signed");
      const outside = await request(`${server.baseUrl}/weather?message=x`, {
        headers: bearer(good),
      });
      assert.equal(outside.status, 403);

      const stranger = await jose.generateKeyPair(alg);
      const foreign = await sign({ publish: ["*"] }, stranger.privateKey);
      const refused = await request(`${server.baseUrl}/news?message=foreign`, {
        headers: bearer(foreign),
      });
      assert.equal(refused.status, 403);
      // Algorithm confusion: HS256 "signed" with the public key as secret.
      const confused = await new jose.SignJWT({ publish: ["*"] })
        .setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m")
        .sign(encoder.encode(pem));
      const confusedAnswer = await request(
        `${server.baseUrl}/news?message=confused`,
        { headers: bearer(confused) },
      );
      assert.equal(confusedAnswer.status, 403);

      await using ctl = await openController(server.controlPort!);
      await ctl.send(`auth ${good}\nnews = by-control\n`);
      assert.equal((await sub.nextEvent()).data, "by-control");
      await using bad = await openController(server.controlPort!);
      await bad.send(`auth ${foreign}\n`);
      assert.equal(
        (await bad.waitForLines(1))[0],
        "error: authentication failed: invalid token",
      );
      await bad.closedByServer();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("--subscribe-auth: a stream needs a JWT whose subscribe claim covers it", async () => {
  await using server = await startServer([
    "--jwt-secret",
    SECRET,
    "--subscribe-auth",
    "--auth-cookie",
    "sse_token",
  ]);
  const base = server.baseUrl;
  const news = await hs256({ subscribe: ["news", "sport.*"] });
  const publisher = await hs256({ publish: ["*"] });

  const none = await request(`${base}/news`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  assert.match(none.body, /subscribing needs a token/);

  // The three places a token may come from.
  await using byHeader = await connect(`${base}/news`, {
    headers: bearer(news),
  });
  await using byCookie = await connect(`${base}/news`, {
    headers: { Cookie: `theme=dark; sse_token=${news}; other=1` },
  });
  await using byQuery = await connect(`${base}/news?access_token=${news}`);
  await using glob = await connect(`${base}/sport.eu/news`, {
    headers: bearer(news),
  });
  for (const stream of [byHeader, byCookie, byQuery, glob]) {
    assert.equal(stream.response.status, 200);
    assert.equal(
      stream.response.headers.get("content-type"),
      "text/event-stream",
    );
  }
  const published = await request(`${base}/news?message=hello`, {
    headers: bearer(publisher),
  });
  assert.equal(published.body, "OK: 1 event sent to 4 clients\n");
  for (const stream of [byHeader, byCookie, byQuery, glob]) {
    assert.equal((await stream.nextEvent()).data, "hello");
  }
  // The publisher's token is not a subscriber's: it has no subscribe claim.
  const asSubscriber = await request(`${base}/news`, {
    headers: bearer(publisher),
  });
  assert.equal(asSubscriber.status, 403);
  assert.match(asSubscriber.body, /no "subscribe" claim/);
  // A cookie of another name is not looked at.
  const otherCookie = await request(`${base}/news`, {
    headers: { Cookie: `token=${news}` },
  });
  assert.equal(otherCookie.status, 401);

  // Every requested channel must be covered.
  const partly = await request(`${base}/news/weather`, {
    headers: bearer(news),
  });
  assert.equal(partly.status, 403);
  assert.match(partly.body, /may not subscribe to channel "weather"/);
  const allChannels = await request(`${base}/`, { headers: bearer(news) });
  assert.equal(allChannels.status, 403);
  assert.match(allChannels.body, /every channel \(needs "\*"\)/);
  await using everything = await connect(`${base}/`, {
    headers: bearer(await hs256({ subscribe: ["*"] })),
  });
  assert.equal(everything.response.status, 200);

  // A subscriber's token must say when it expires, and not have expired.
  const noExp = await request(`${base}/news`, {
    headers: bearer(await hs256({ subscribe: ["news"] }, { exp: null })),
  });
  assert.equal(noExp.status, 403);
  assert.match(noExp.body, /needs an exp claim/);
  const expired = await request(`${base}/news`, {
    headers: bearer(
      await hs256({ subscribe: ["news"] }, { exp: nowSeconds() - 60 }),
    ),
  });
  assert.equal(expired.status, 403);
  assert.match(expired.body, /token expired/);
  const forged = await request(`${base}/news?access_token=${await hs256(
    { subscribe: ["*"] },
    { secret: "another-secret-000" },
  )}`);
  assert.equal(forged.status, 403);
  assert.match(forged.body, /invalid token/);

  // The refusals delivered nothing and the open streams are untouched.
  await request(`${base}/news?message=again`, { headers: bearer(publisher) });
  assert.equal((await byQuery.nextEvent()).data, "again");
  assert.equal((await everything.nextEvent()).data, "again");
  assertAbsent(await allOutput(server), [news, publisher, SECRET]);
});

Deno.test("--subscribe-auth: a stream whose token expires gets sse-auth-expired and ends", async () => {
  // With --keepalive 0.2 the hub's timer checks expiry every 50 ms.
  await using server = await startServer([
    "--jwt-secret",
    SECRET,
    "--subscribe-auth",
    "--keepalive",
    "0.2",
  ]);
  const publisher = await hs256({ publish: ["*"] });
  // exp has one-second resolution: this token lasts between 1 and 2 s.
  const exp = nowSeconds() + 2;
  const shortLived = await hs256({ subscribe: ["news"] }, { exp });
  const longLived = await hs256({ subscribe: ["news"] });
  await using expiring = await connect(`${server.baseUrl}/news`, {
    headers: bearer(shortLived),
  });
  await using lasting = await connect(`${server.baseUrl}/news`, {
    headers: bearer(longLived),
  });
  assert.equal(expiring.response.status, 200);
  await request(`${server.baseUrl}/news?message=live`, {
    headers: bearer(publisher),
  });
  assert.equal((await expiring.nextEvent()).data, "live");
  assert.equal((await lasting.nextEvent()).data, "live");

  // Bounded: the token is due within 2 s; allow the 50 ms timer and slack.
  const ending = await expiring.nextEvent(4000);
  assert.deepEqual(typeAndData(ending), {
    type: "sse-auth-expired",
    data: '{"reason":"token expired"}',
  });
  assert.ok(
    Date.now() >= exp * 1000,
    "the stream was not ended before the token's exp",
  );
  await within(expiring.ended, 2000, "the expired stream to end");
  assert.match(expiring.raw(), /event: sse-auth-expired\n/);
  await server.waitForOutput(/closed \(token expired\)/);

  // The other stream goes on; the expired token cannot open a new one.
  await request(`${server.baseUrl}/news?message=after`, {
    headers: bearer(publisher),
  });
  assert.equal((await lasting.nextEvent()).data, "after");
  const again = await request(`${server.baseUrl}/news`, {
    headers: bearer(shortLived),
  });
  assert.equal(again.status, 403);
  assert.doesNotMatch(lasting.raw(), /sse-auth-expired/);
});

Deno.test("JWT on the control port: exp is honoured for every line after auth", async () => {
  await using server = await startServer(["-P", "0", "--jwt-secret", SECRET], {
    control: true,
  });
  await using sub = await connect(`${server.baseUrl}/news`);
  // exp has one-second resolution: this token lasts between 1 and 2 s.
  const exp = nowSeconds() + 2;
  const shortLived = await hs256({ publish: ["news"] }, { exp });
  await using ctl = await openController(server.controlPort!);
  await ctl.send(`auth ${shortLived}\nnews = before expiry\n`);
  assert.equal((await sub.nextEvent()).data, "before expiry");
  // This is about time: wait until the token has expired (at most 2 s).
  await sleep(exp * 1000 - Date.now() + 100);
  await ctl.send("news = after expiry\n");
  assert.deepEqual(await ctl.waitForLines(1), [
    "error: token expired, line ignored",
  ]);
  assert.equal(ctl.finished, false);
  const publisher = await hs256({ publish: ["*"] });
  await request(`${server.baseUrl}/news?message=marker`, {
    headers: bearer(publisher),
  });
  assert.equal((await sub.nextEvent()).data, "marker", "nothing after expiry");
});

Deno.test("a repeated `auth TOKEN` line (control port) or one written to the FIFO does not put the token in the log", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(
      ["-P", "0", "-F", fifo, "--publish-token", TOKEN],
      { control: true },
    );
    await using sub = await connect(`${server.baseUrl}/c`);
    await using ctl = await openController(server.controlPort!);
    // A client that sends its credentials again, e.g. before every batch.
    await ctl.send(`auth ${TOKEN}\nc = one\nauth ${TOKEN}\nc = two\n`);
    assert.equal((await sub.nextEvent()).data, "one");
    assert.equal((await sub.nextEvent()).data, "two");
    // Someone following the control port's recipe on the FIFO.
    const file = await Deno.open(fifo, { write: true });
    try {
      await file.write(encoder.encode(`auth ${TOKEN}\nc = three\n`));
    } finally {
      file.close();
    }
    assert.equal((await sub.nextEvent()).data, "three");
    await server.waitForOutput(/published message="three"/);
    assertAbsent(await allOutput(server), [TOKEN]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("failed authentication is logged with the client's address, never with the token", async () => {
  await using server = await startServer([
    "-P",
    "0",
    "--publish-token",
    TOKEN,
    "--jwt-secret",
    SECRET,
    "--subscribe-auth",
  ], { control: true });
  const wrongToken = "guessed-TOKEN-0000beef";
  const badJwt = await hs256({ subscribe: ["*"], publish: ["*"] }, {
    secret: "another-secret-000",
  });

  const http = await request(`${server.baseUrl}/c?message=x`, {
    headers: bearer(wrongToken),
  });
  assert.equal(http.status, 403);
  const httpLog = await server.waitForOutput(
    /warning: http 127\.0\.0\.1:(\d+): invalid token/,
  );
  assert.ok(Number(httpLog[1]) > 0, "the client's port is logged");
  const sub = await request(`${server.baseUrl}/c?access_token=${badJwt}`);
  assert.equal(sub.status, 403);
  const none = await request(`${server.baseUrl}/c`);
  assert.equal(none.status, 401);
  await server.waitForOutput(
    /warning: http 127\.0\.0\.1:\d+: subscribing needs a token/,
  );

  await using ctl = await openController(server.controlPort!);
  await ctl.send(`auth ${wrongToken}\n`);
  await ctl.closedByServer();
  await server.waitForOutput(
    new RegExp(
      `warning: control 127\\.0\\.0\\.1:${
        (ctl.conn.localAddr as Deno.NetAddr).port
      }: authentication failed: invalid token`,
    ),
  );
  // A good publish for contrast; then the whole log is searched.
  await using good = await openController(server.controlPort!);
  await good.send(`auth ${TOKEN}\nc = fine\n`);
  await server.waitForOutput(/published message="fine"/);
  assertAbsent(await allOutput(server), [TOKEN, SECRET, wrongToken, badJwt]);
});

Deno.test("CORS: * by default; with --cors-origin only listed origins, echoed with Vary: Origin", async () => {
  {
    await using server = await startServer([]);
    const get = await request(`${server.baseUrl}/c?message=x`, {
      headers: { Origin: "https://anywhere.example" },
    });
    assert.equal(get.headers.get("access-control-allow-origin"), "*");
    assert.equal(get.headers.get("access-control-allow-credentials"), null);
    const preflight = await request(`${server.baseUrl}/c`, {
      method: "OPTIONS",
      headers: {
        Origin: "https://anywhere.example",
        "Access-Control-Request-Method": "POST",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(
      preflight.headers.get("access-control-allow-headers") ?? "",
      /Authorization/,
    );
    await using stream = await connect(`${server.baseUrl}/c`);
    assert.equal(
      stream.response.headers.get("access-control-allow-origin"),
      "*",
    );
  }
  {
    await using server = await startServer([
      "--cors-origin",
      "https://a.example,https://b.example",
    ]);
    for (const origin of ["https://a.example", "https://b.example"]) {
      const get = await request(`${server.baseUrl}/c?message=x`, {
        headers: { Origin: origin },
      });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get("access-control-allow-origin"), origin);
      assert.match(get.headers.get("vary") ?? "", /Origin/);
      assert.equal(
        get.headers.get("access-control-allow-credentials"),
        null,
        "no credentials without --auth-cookie",
      );
    }
    await using stream = await connect(`${server.baseUrl}/c`, {
      headers: { Origin: "https://a.example" },
    });
    assert.equal(
      stream.response.headers.get("access-control-allow-origin"),
      "https://a.example",
    );
    for (const origin of ["https://c.example", "https://a.example.evil"]) {
      const get = await request(`${server.baseUrl}/c?message=x`, {
        headers: { Origin: origin },
      });
      assert.equal(get.headers.get("access-control-allow-origin"), null);
      const preflight = await request(`${server.baseUrl}/c`, {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
      });
      assert.equal(preflight.headers.get("access-control-allow-origin"), null);
    }
    const preflight = await request(`${server.baseUrl}/c`, {
      method: "OPTIONS",
      headers: {
        Origin: "https://b.example",
        "Access-Control-Request-Method": "POST",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(
      preflight.headers.get("access-control-allow-origin"),
      "https://b.example",
    );
    assert.match(preflight.headers.get("vary") ?? "", /Origin/);
  }
  {
    await using server = await startServer([
      "--cors-origin",
      "https://a.example,https://b.example",
      "--auth-cookie",
      "sse_token",
    ]);
    const listed = await request(`${server.baseUrl}/c?message=x`, {
      headers: { Origin: "https://a.example" },
    });
    assert.equal(
      listed.headers.get("access-control-allow-origin"),
      "https://a.example",
    );
    assert.equal(
      listed.headers.get("access-control-allow-credentials"),
      "true",
    );
    const preflight = await request(`${server.baseUrl}/c`, {
      method: "OPTIONS",
      headers: {
        Origin: "https://a.example",
        "Access-Control-Request-Method": "GET",
      },
    });
    assert.equal(
      preflight.headers.get("access-control-allow-credentials"),
      "true",
    );
    const unlisted = await request(`${server.baseUrl}/c?message=x`, {
      headers: { Origin: "https://c.example" },
    });
    assert.equal(unlisted.headers.get("access-control-allow-origin"), null);
    assert.equal(
      unlisted.headers.get("access-control-allow-credentials"),
      null,
    );
  }
  {
    // "*" never allows credentials, even with the cookie option.
    await using server = await startServer(["--auth-cookie", "sse_token"]);
    const get = await request(`${server.baseUrl}/c?message=x`, {
      headers: { Origin: "https://a.example" },
    });
    assert.equal(get.headers.get("access-control-allow-origin"), "*");
    assert.equal(get.headers.get("access-control-allow-credentials"), null);
  }
});

Deno.test("--control-bind: the control port listens on its own address", async () => {
  await using server = await startServer(
    ["-P", "0", "--control-bind", "127.0.0.2"],
    { control: true },
  );
  const log = await server.waitForOutput(/control port on ([^ ]+):(\d+)/);
  assert.equal(log[1], "127.0.0.2");
  assert.equal(Number(log[2]), server.controlPort);
  assert.match(server.output(), /listening for http on 127\.0\.0\.1:\d+/);

  await using sub = await connect(`${server.baseUrl}/c`);
  await using ctl = await openController(server.controlPort!, "127.0.0.2");
  await ctl.send("c = via 127.0.0.2\n");
  assert.equal((await sub.nextEvent()).data, "via 127.0.0.2");
  // Nothing listens on the HTTP address at the control port's number.
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: server.controlPort! }),
    Deno.errors.ConnectionRefused,
  );
});
