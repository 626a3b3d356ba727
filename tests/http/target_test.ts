// The Host header's syntax and the request target's split: what may name a
// channel and what is refused before any URL is built.
import assert from "node:assert/strict";
import {
  BadTargetError,
  isValidHost,
  parseTarget,
  targetOf,
} from "../../lib/http/target.ts";

Deno.test("isValidHost: host[:port] per RFC 3986, nothing that could move the path", () => {
  for (
    const good of [
      "x",
      "example.com",
      "example.com:8080",
      "127.0.0.1:0",
      "[::1]",
      "[::1]:65535",
      "a-b_c.d~e",
      "%41bc",
      "x:",
      "",
    ]
  ) {
    assert.ok(isValidHost(good), good);
  }
  for (
    const bad of [
      "x/sse/secret#",
      "x#",
      "x?",
      "x/",
      "a@b",
      "a b",
      "x\\y",
      "[",
      "[::1",
      "x:99999",
      "x:65536",
      "x:123456",
      "x:8a",
      "%zz",
      "x\t",
    ]
  ) {
    assert.ok(!isValidHost(bad), bad);
  }
});

Deno.test("parseTarget: splits path and query as sent, without decoding", () => {
  assert.deepEqual(parseTarget("/a/b%20c?x=1&y=%zz"), {
    path: "/a/b%20c",
    query: "x=1&y=%zz",
  });
  assert.deepEqual(parseTarget("/"), { path: "/", query: "" });
  // A dot inside a segment, or after the path, is not a dot segment.
  assert.deepEqual(parseTarget("/a.b/..c?x=../.."), {
    path: "/a.b/..c",
    query: "x=../..",
  });
});

Deno.test("parseTarget: refuses what a URL parser would resolve or a proxy would read otherwise", () => {
  for (
    const bad of [
      "relative",
      "*",
      "/a/../b",
      "/a/./b",
      "/..",
      "/a/%2e%2e/b",
      "/a/%2E./b",
      "/a/.%2e",
      "/a/%2e",
      "/a\\b",
      "/a#b",
      "/a b",
      "/a\u00ffb",
      "/a\x00",
    ]
  ) {
    assert.throws(() => parseTarget(bad), BadTargetError, bad);
  }
});

Deno.test("targetOf: the target after the authority of an engine's URL", () => {
  assert.equal(targetOf("http://x:80/a/b?c=d"), "/a/b?c=d");
  assert.equal(targetOf("https://[::1]:8443/"), "/");
  assert.equal(targetOf("http://x"), "/");
});
