// The --auth-url client alone, against a small application in the test:
// how answers are read (grant, size limit), how decisions are joined, the
// bound on questions in flight and the cache's keys and size bound.
import assert from "node:assert/strict";
import {
  AUTH_URL_MAX_ANSWER_BYTES,
  type AuthQuestion,
  AuthUrl,
  bothAllow,
  parseGrant,
} from "../../lib/auth/auth_url.ts";
import { AuthServiceError } from "../../lib/errors.ts";
import { jsonAnswer, startAuthApp } from "../helpers/auth_app.ts";

const QUESTION: AuthQuestion = {
  action: "subscribe",
  channels: ["news"],
  path: "/news",
  remoteAddr: "127.0.0.1",
  cookie: "session=a",
  authorization: null,
};

Deno.test("parseGrant: empty allows; channels, expires and user are read; anything else is a reason", () => {
  assert.deepEqual(parseGrant(""), { patterns: null });
  assert.deepEqual(parseGrant("  \n"), { patterns: null });
  assert.deepEqual(
    parseGrant('{"channels":["a","b-*"],"expires":1700000000,"user":"u1"}'),
    { patterns: ["a", "b-*"], expiresAt: 1_700_000_000_000, user: "u1" },
  );
  assert.deepEqual(parseGrant('{"other":1}'), { patterns: null });
  for (
    const bad of [
      "OK",
      "[]",
      "null",
      '{"channels":"a"}',
      '{"channels":[1]}',
      '{"expires":"soon"}',
      '{"user":7}',
    ]
  ) {
    assert.equal(typeof parseGrant(bad), "string", bad);
  }
});

Deno.test("bothAllow: either refusal wins; the earlier expiry and the application's user are kept", () => {
  const refused = { ok: false, status: 403, reason: "no" } as const;
  const jwt = {
    ok: true,
    grant: { patterns: ["*"], expiresAt: 5000, user: "sub" },
  } as const;
  const app = {
    ok: true,
    grant: { patterns: ["news"], expiresAt: 3000, user: "alice" },
  } as const;
  assert.equal(bothAllow(refused, app), refused);
  assert.equal(bothAllow(jwt, refused), refused);
  assert.deepEqual(bothAllow(jwt, app), {
    ok: true,
    grant: { patterns: null, expiresAt: 3000, user: "alice" },
  });
  assert.deepEqual(
    bothAllow({ ok: true, grant: { patterns: null } }, {
      ok: true,
      grant: { patterns: null },
    }),
    { ok: true, grant: { patterns: null } },
  );
});

Deno.test("AuthUrl: narrowed channels and a past expiry refuse with 403; 401 passes; a long answer is a failure", async () => {
  await using app = startAuthApp((call) => {
    switch (call.cookie) {
      case "narrow":
        return jsonAnswer({ channels: ["news"] });
      case "past":
        return jsonAnswer({ expires: 1 });
      case "anon":
        return new Response(null, { status: 401 });
      case "long":
        return new Response("x".repeat(AUTH_URL_MAX_ANSWER_BYTES + 1));
      default:
        return jsonAnswer({ user: "alice" });
    }
  });
  const auth = new AuthUrl({ url: app.url, timeoutMs: 5000, cacheMs: 0 });
  const ask = (cookie: string, channels = ["news"]) =>
    auth.ask({ ...QUESTION, cookie, channels });
  assert.deepEqual(await ask("ok"), {
    ok: true,
    grant: { patterns: null, user: "alice" },
  });
  assert.equal((await ask("narrow")).ok, true);
  assert.deepEqual(await ask("narrow", ["news", "sport"]), {
    ok: false,
    status: 403,
    reason: 'the application does not allow to subscribe to channel "sport"',
  });
  assert.equal((await ask("narrow", [])).ok, false);
  assert.deepEqual(await ask("past"), {
    ok: false,
    status: 403,
    reason: "the application's permission to subscribe has expired",
  });
  assert.equal((await ask("anon")).ok, false);
  await assert.rejects(ask("long"), AuthServiceError);
  assert.equal(auth.inFlight, 0);
});

Deno.test("AuthUrl: past the questions in flight, a question waits for a place within the timeout, else 503", async () => {
  // An application that never answers: every question ends at its timeout,
  // whether it got a place before then or not.
  await using app = startAuthApp(() => null);
  const auth = new AuthUrl({
    url: app.url,
    timeoutMs: 300,
    cacheMs: 0,
    maxInFlight: 1,
  });
  const slow = assert.rejects(
    auth.ask({ ...QUESTION, cookie: "slow" }),
    AuthServiceError,
  );
  await app.waitForCalls(1);
  assert.equal(auth.inFlight, 1);
  // The second question waits for a place, unseen by the application,
  // and is refused at its timeout.
  const started = Date.now();
  const second = auth.ask(QUESTION);
  assert.equal(auth.waiting, 1);
  assert.equal(app.calls.length, 1);
  await assert.rejects(second, AuthServiceError);
  assert.ok(Date.now() - started >= 250);
  await slow;
  assert.equal(auth.inFlight, 0);
  assert.equal(auth.waiting, 0);
});

Deno.test("AuthUrl: a waiting question takes the place a finished one leaves", async () => {
  const gate = Promise.withResolvers<Response>();
  await using app = startAuthApp((call) =>
    call.cookie === "gated" ? gate.promise : new Response(null, { status: 204 })
  );
  const auth = new AuthUrl({
    url: app.url,
    timeoutMs: 10_000,
    cacheMs: 0,
    maxInFlight: 1,
  });
  const first = auth.ask({ ...QUESTION, cookie: "gated" });
  await app.waitForCalls(1);
  const waiting = auth.ask(QUESTION);
  // Only one in flight: the second waits, unseen by the application.
  assert.equal(auth.inFlight, 1);
  assert.equal(auth.waiting, 1);
  assert.equal(app.calls.length, 1);
  gate.resolve(new Response(null, { status: 403 }));
  assert.equal((await first).ok, false);
  assert.equal((await waiting).ok, true);
  assert.equal(app.calls.length, 2);
  assert.equal(auth.inFlight, 0);
  assert.equal(auth.waiting, 0);
});

Deno.test("AuthUrl: the cache serves the same question only, refusals included, and keeps at most its bound", async () => {
  await using app = startAuthApp((call) =>
    call.cookie === "banned"
      ? new Response(null, { status: 403 })
      : new Response(null, { status: 204 })
  );
  const auth = new AuthUrl({
    url: app.url,
    timeoutMs: 5000,
    cacheMs: 60_000,
    maxCached: 2,
  });
  assert.equal((await auth.ask(QUESTION)).ok, true);
  assert.equal((await auth.ask(QUESTION)).ok, true);
  assert.equal(app.calls.length, 1);
  const banned = { ...QUESTION, cookie: "banned" };
  assert.equal((await auth.ask(banned)).ok, false);
  assert.equal((await auth.ask(banned)).ok, false);
  assert.equal(app.calls.length, 2);
  for (
    const other of [
      { ...QUESTION, remoteAddr: "127.0.0.2" },
      { ...QUESTION, authorization: "Bearer x" },
      { ...QUESTION, action: "publish" as const },
      { ...QUESTION, path: "/other/news" },
    ]
  ) {
    const asked: number = app.calls.length;
    await auth.ask(other);
    assert.equal(app.calls.length, asked + 1, JSON.stringify(other));
  }
  // Bound 2: the first question was pushed out and is asked again.
  const asked: number = app.calls.length;
  await auth.ask(QUESTION);
  assert.equal(app.calls.length, asked + 1);
});
