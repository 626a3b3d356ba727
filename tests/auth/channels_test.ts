// Who may use which channel: glob patterns, grants narrowed to channels,
// and credentials read from headers and cookies.
import assert from "node:assert/strict";
import {
  bearerToken,
  cookieValue,
  deniedChannel,
  globMatcher,
  permits,
} from "../../lib/auth/auth.ts";

Deno.test("globMatcher: exact names, * for any run of characters, nothing else special", () => {
  assert.ok(globMatcher("news")("news"));
  assert.ok(!globMatcher("news")("news2"));
  const sport = globMatcher("sport.*");
  assert.ok(sport("sport.eu"));
  assert.ok(sport("sport."));
  assert.ok(!sport("sports"));
  assert.ok(globMatcher("*")("anything at all"));
  assert.ok(globMatcher("a*b*c")("a-x-b-y-c"));
  assert.ok(!globMatcher("a*b*c")("a-x-c"));
  // Regular-expression characters in a pattern are literal.
  assert.ok(globMatcher("a.b")("a.b"));
  assert.ok(!globMatcher("a.b")("axb"));
  assert.ok(globMatcher("(x)+")("(x)+"));
  assert.ok(!globMatcher("(x)+")("xx"));
  // A line break in a channel does not end the match early.
  assert.ok(!globMatcher("news")("news\nother"));
  assert.ok(globMatcher("n*")("n\nx"));
});

Deno.test("deniedChannel and permits: every channel must be covered; all channels needs *", () => {
  const grant = { patterns: ["news", "sport.*"] };
  assert.equal(deniedChannel(grant, ["news", "sport.eu"]), null);
  assert.equal(deniedChannel(grant, ["news", "secret"]), "secret");
  assert.equal(deniedChannel(grant, []), "");
  assert.equal(deniedChannel({ patterns: ["*"] }, []), null);
  assert.equal(deniedChannel({ patterns: null }, ["any"]), null);
  const ok = { ok: true as const, grant };
  assert.deepEqual(permits(ok, ["news"], "subscribe"), ok);
  const refused = permits(ok, ["secret"], "subscribe");
  assert.equal(refused.ok, false);
  assert.ok(!refused.ok && refused.status === 403);
  assert.ok(!refused.ok && /secret/.test(refused.reason));
  const expired = permits(
    { ok: true, grant: { patterns: null, expiresAt: 1000 } },
    ["news"],
    "publish",
    2000,
  );
  assert.ok(!expired.ok && expired.reason === "token expired");
});

Deno.test("bearerToken and cookieValue: what a client sends, and nothing else", () => {
  assert.equal(bearerToken("Bearer abc.def"), "abc.def");
  assert.equal(bearerToken("bearer   abc "), "abc");
  assert.equal(bearerToken("Basic abc"), undefined);
  assert.equal(bearerToken("Bearer a b"), undefined);
  assert.equal(bearerToken(null), undefined);
  assert.equal(cookieValue("a=1; sse=tok%2Ben; b=2", "sse"), "tok+en");
  assert.equal(cookieValue("a=1; xsse=x", "sse"), undefined);
  assert.equal(cookieValue("sse=%zz", "sse"), "%zz");
  assert.equal(cookieValue(null, "sse"), undefined);
});
