// The lean engine's head parser: strict where Deno.serve is, and stricter
// where a lenient reading could let a client choose the path or framing.
import assert from "node:assert/strict";
import {
  HeadError,
  type HeadLimits,
  parseHead,
} from "../../../lib/http/lean/head.ts";

const LIMITS: HeadLimits = { maxTargetBytes: 1024, maxHeaderBytes: 256 };

/** The status `text` is refused with, or "ok". */
function statusOf(text: string, limits = LIMITS): number | "ok" {
  try {
    parseHead(text, limits);
    return "ok";
  } catch (error) {
    if (error instanceof HeadError) return error.status;
    throw error;
  }
}

Deno.test("parseHead: a plain head gives method, target, version and headers", () => {
  const head = parseHead(
    "POST /news?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX-A:  spaced  ",
    LIMITS,
  );
  assert.equal(head.method, "POST");
  assert.equal(head.target, "/news?x=1");
  assert.equal(head.version, "1.1");
  assert.equal(head.headers.get("content-length"), "5");
  assert.equal(head.headers.get("x-a"), "spaced");
});

Deno.test("parseHead: methods other than GET, HEAD, POST, OPTIONS are 405 with Allow, in any case", () => {
  for (const method of ["TRACE", "TRACK", "CONNECT", "PUT", "get", "Post"]) {
    try {
      parseHead(`${method} / HTTP/1.1\r\nHost: x`, LIMITS);
      assert.fail(method);
    } catch (error) {
      assert.ok(error instanceof HeadError);
      assert.equal(error.status, 405, method);
      assert.equal(error.headers.Allow, "GET, HEAD, POST, OPTIONS");
    }
  }
  // CONNECT's authority-form target is still 405, not 400.
  assert.equal(statusOf("CONNECT x:443 HTTP/1.1\r\nHost: x"), 405);
});

Deno.test("parseHead: Host must be one valid host[:port]; HTTP/1.1 needs it", () => {
  assert.equal(statusOf("GET / HTTP/1.1\r\nHost: x:8080"), "ok");
  assert.equal(statusOf("GET / HTTP/1.0"), "ok");
  assert.equal(statusOf("GET / HTTP/1.1"), 400);
  assert.equal(statusOf("GET / HTTP/1.1\r\nHost: x\r\nhost: y"), 400);
  for (const host of ["x/secret#", "a b", "[", "x:99999", "a@b"]) {
    assert.equal(statusOf(`GET / HTTP/1.1\r\nHost: ${host}`), 400, host);
  }
});

Deno.test("parseHead: framing that a proxy could read differently is 400", () => {
  const h = "POST / HTTP/1.1\r\nHost: x\r\n";
  assert.equal(statusOf(h + "Transfer-Encoding: chunked"), "ok");
  assert.equal(statusOf(h + "Transfer-Encoding: gzip"), 400);
  assert.equal(
    statusOf(h + "Transfer-Encoding: chunked\r\nContent-Length: 3"),
    400,
  );
  assert.equal(
    statusOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked"),
    400,
  );
  assert.equal(statusOf(h + "Content-Length: -1"), 400);
  assert.equal(statusOf(h + "Content-Length: 1, 1"), 400);
});

Deno.test("parseHead: malformed request lines, targets and header lines are 400", () => {
  for (
    const text of [
      "GET / HTTP/2.0\r\nHost: x",
      "GET / http/1.1\r\nHost: x",
      "GET  / HTTP/1.1\r\nHost: x",
      "GET http://x/ HTTP/1.1\r\nHost: x",
      "GET /a/../b HTTP/1.1\r\nHost: x",
      "GET /a\\b HTTP/1.1\r\nHost: x",
      "GET /a#b HTTP/1.1\r\nHost: x",
      "GET /\xff HTTP/1.1\r\nHost: x",
      "GET / HTTP/1.1\r\nHost: x\r\nNo-Colon",
      "GET / HTTP/1.1\r\nHost: x\r\n: empty",
      "GET / HTTP/1.1\r\nHost: x\r\nBad Name: x",
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b",
    ]
  ) {
    assert.equal(statusOf(text), 400, JSON.stringify(text));
  }
});

Deno.test("parseHead: the target's limit gives 414, the header lines' 431, each at its edge", () => {
  const target = (n: number) => "/" + "a".repeat(n - 1);
  assert.equal(statusOf(`GET ${target(1024)} HTTP/1.1\r\nHost: x`), "ok");
  assert.equal(statusOf(`GET ${target(1025)} HTTP/1.1\r\nHost: x`), 414);
  const fields = (n: number) => "Host: x\r\nX: " + "b".repeat(n - 12);
  assert.equal(statusOf(`GET / HTTP/1.1\r\n${fields(256)}`), "ok");
  assert.equal(statusOf(`GET / HTTP/1.1\r\n${fields(257)}`), 431);
  const many = Array.from({ length: 101 }, (_, i) => `X${i}: 1`).join("\r\n");
  assert.equal(
    statusOf(`GET / HTTP/1.1\r\nHost: x\r\n${many}`, {
      maxTargetBytes: 1024,
      maxHeaderBytes: 1 << 20,
    }),
    431,
  );
});

Deno.test("parseHead: header names in any case; a repeated field is joined with a comma, as Headers joins it", () => {
  const head = parseHead(
    "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nACCEPT: text/html\r\nX-Y: 1",
    { maxTargetBytes: 1024, maxHeaderBytes: 1024 },
  );
  assert.equal(head.headers.get("accept"), "text/plain, text/html");
  assert.equal(head.headers.get("Accept"), "text/plain, text/html");
  assert.ok(head.headers.has("x-y"));
  assert.ok(!head.headers.has("x-z"));
  assert.equal(head.headers.get("x-z"), null);
});
