// Fuzzing the HTTP edge of the real program on both engines: fast-check
// builds requests from hostile pieces (methods in any case, targets with dot
// segments, fragments, backslashes, bad escapes and raw bytes, Host headers
// with paths, ports and brackets, duplicated or contradictory framing
// headers, chunked bodies with bad sizes, extensions and endless trailers,
// bodies shorter or longer than declared) and sends each over its own
// connection. After every request the server must still run; after every
// batch an open stream must receive a new event; at the end memory must be
// bounded and every answer a status, never a crash.
import assert from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { bytes, exchange } from "../helpers/raw_http.ts";
import { post } from "../helpers/publishers.ts";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

const method = fc.oneof(
  fc.constantFrom(
    "GET",
    "HEAD",
    "POST",
    "OPTIONS",
    "PUT",
    "DELETE",
    "TRACE",
    "TRACK",
    "CONNECT",
    "PATCH",
    "get",
    "Post",
    "G\x00T",
    "",
  ),
  fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,12}$/),
);

const segment = fc.oneof(
  fc.constantFrom(
    "c",
    "alive",
    "secret",
    "..",
    ".",
    "%2e%2e",
    "%2E.",
    "%zz",
    "%",
    "a\\b",
    "\\..\\",
    "%2F",
    "%00",
    "\xff\xfe",
    "é",
    "a#b",
    "?",
    "a b",
    "",
  ),
  fc.stringMatching(/^[a-z0-9%._~-]{1,8}$/),
);

const query = fc.oneof(
  fc.constant(""),
  fc.constantFrom(
    "?lastEventId=1",
    "?lastEventId=%0d%0a",
    "?access_token=e30.e30.x%zz",
    "?message=hi",
    "?status",
    "?%",
    "?&&;;",
    "?a=%zz",
  ),
  fc.stringMatching(/^\?[\x21-\x7e]{0,40}$/),
);

const target = fc.oneof(
  fc.tuple(fc.array(segment, { maxLength: 4 }), query).map(([parts, q]) =>
    "/" + parts.join("/") + q
  ),
  fc.constantFrom(
    "*",
    "http://x/c",
    "//evil/c",
    "x:80",
    "/c#frag",
    "/" + "a".repeat(70_000),
  ),
);

const version = fc.constantFrom(
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/1.7",
  "http/1.1",
  "HTTP/1.1 extra",
  "",
);

const host = fc.oneof(
  fc.constantFrom(
    "x",
    "127.0.0.1:8080",
    "[::1]:80",
    "x/secret#",
    "x#",
    "x?",
    "a b",
    "[",
    "x:99999",
    "a@b",
    "x\\y",
    "",
  ),
  fc.stringMatching(/^[\x21-\x7e]{0,20}$/),
);

const header = fc.oneof(
  host.map((h) => `Host: ${h}`),
  fc.constantFrom(
    "Content-Length: 5",
    "Content-Length: -1",
    "Content-Length: 99999999999999999999",
    "Content-Length: 5, 5",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    "Expect: 100-continue",
    "Connection: close",
    "Connection: keep-alive",
    "Content-Type: text/plain",
    "Content-Type: application/json",
    "Content-Type: application/x-www-form-urlencoded",
    "Last-Event-ID: 1",
    "Last-Event-ID: earliest",
    "Authorization: Bearer x",
    "Cookie: a=b",
    "X-Nul: a\x00b",
    "X-Bytes: \xff\xfe",
    " Folded: x",
    "No-Colon",
    ": empty name",
    "X-Long: " + "l".repeat(20_000),
  ),
);

const body = fc.oneof(
  fc.constant(""),
  fc.constantFrom(
    "hello",
    "5\r\nhello\r\n0\r\n\r\n",
    "5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    "3;a\x00b\r\nabc\r\n0\r\n\r\n",
    "zz\r\n",
    "ffffffffff\r\nx",
    "0\r\n" + "X-Trailer: t\r\n".repeat(3000),
    '{"event":"e","data":"d"}',
    "message=hi&status",
  ),
  fc.string({ maxLength: 64 }),
);

const request = fc.record({
  method,
  target,
  version,
  headers: fc.array(header, { maxLength: 5 }),
  body,
}).map((r) =>
  `${r.method} ${r.target} ${r.version}\r\n` +
  r.headers.map((h) => `${h}\r\n`).join("") + "\r\n" + r.body
);

const RUNS = 300;
/** Every so many requests, an open stream must receive a new event. */
const BATCH = 20;

testBothEngines(
  "edge fuzz: hostile requests never end the process; an open stream keeps receiving; memory stays bounded",
  async (engine) => {
    await using server = await startServer(
      ["--head-timeout", "1", "--body-timeout", "1"],
      { engine },
    );
    await using stream = await connect(`${server.baseUrl}/alive`);
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(request, async (text) => {
        const answer = await exchange(server.httpPort, bytes(text), {
          timeoutMs: 5000,
          untilClosed: false,
        }).catch((error) => {
          // No answer in time is a failure: a request must be answered or
          // its connection closed within the head and body timeouts.
          throw new Error(`${error.message} for ${JSON.stringify(text)}`);
        });
        assert.ok(
          answer.status === null ||
            (answer.status >= 100 && answer.status < 600),
        );
        assert.ok(
          answer.status === null || answer.status < 500 ||
            answer.status === 505,
          `${answer.status} for ${JSON.stringify(text.slice(0, 300))}: ${
            answer.text.slice(0, 300)
          }`,
        );
        sent++;
        if (sent % BATCH === 0) {
          const marker = `after ${sent}`;
          const published = await post(
            `${server.baseUrl}/alive`,
            marker,
            "text/plain",
          );
          assert.equal(published.status, 202);
          assert.equal((await stream.nextEvent(5000)).data, marker);
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    assert.equal(sent, RUNS);
    const rss = Number(
      /^VmRSS:\s+(\d+) kB/m.exec(
        Deno.readTextFileSync(`/proc/${server.process.pid}/status`),
      )![1],
    );
    assert.ok(rss < 300 * 1024, `RSS ${rss} KiB`);
    assert.doesNotMatch(server.errors(), /Uncaught|panicked/);
    assert.doesNotMatch(server.output(), /internal error|HTTP handler failed/);
  },
);
