/**
 * Unit tests of the benchmark's byte-level response parser: every framing
 * (chunked, Content-Length, until close), any split of the bytes, and what
 * it must refuse.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ResponseParser } from "./sse_parser.ts";

const encoder = new TextEncoder();

type Event = [seq: number, lane: number, micros: number];

/** Feeds `text` to a parser in pieces of the given sizes (cycled). */
function parse(text: string, sizes: number[] = [text.length]) {
  const events: Event[] = [];
  let heads = 0;
  const parser = new ResponseParser(
    (seq, lane, micros) => events.push([seq, lane, micros]),
    () => heads++,
  );
  const bytes = encoder.encode(text);
  let i = 0;
  for (let k = 0; i < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]);
    // Through a larger buffer, as a socket read fills one.
    const buffer = new Uint8Array(n + 7);
    buffer.set(bytes.subarray(i, i + n));
    parser.push(buffer, Math.min(n, bytes.length - i));
    i += n;
  }
  return { events, heads, parser };
}

function chunked(body: string[]): string {
  return body.map((part) =>
    `${encoder.encode(part).length.toString(16)}\r\n${part}\r\n`
  ).join("");
}

const OURS_HEAD = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" +
  "transfer-encoding: chunked\r\ndate: x\r\n\r\n";
const EVENTS = "id: a-1\ndata: 1 0 1700000000000001\n\n" +
  "id: a-2\ndata: 2 0 1700000000000002\n\n" +
  ":\n\n" +
  "event: other\nid: a-3\ndata: 1 3 1700000000000003\n\n";
const EXPECTED: Event[] = [
  [1, 0, 1700000000000001],
  [2, 0, 1700000000000002],
  [1, 3, 1700000000000003],
];

Deno.test("chunked stream, whole and split at every size", () => {
  const text = OURS_HEAD +
    chunked([EVENTS.slice(0, 30), EVENTS.slice(30, 31), EVENTS.slice(31)]);
  for (const sizes of [[text.length], [1], [2], [3], [7, 1, 13], [64]]) {
    const { events, heads, parser } = parse(text, sizes);
    assert.deepEqual(events, EXPECTED, `sizes ${sizes}`);
    assert.equal(heads, 1);
    assert.equal(parser.problem, null);
    assert.equal(parser.comments, 1);
    assert.equal(parser.malformed, 0);
    assert.equal(parser.ended, false);
  }
});

Deno.test("chunked stream: extensions are skipped, the last chunk ends it", () => {
  const text = OURS_HEAD + "d;ext=1\r\ndata: 5 1 9\n\n\r\n" + "0\r\n\r\n" +
    chunked(["data: 6 1 9\n\n"]);
  for (const sizes of [[text.length], [1], [5]]) {
    const { events, parser } = parse(text, sizes);
    assert.deepEqual(events, [[5, 1, 9]]);
    assert.equal(parser.ended, true);
    assert.equal(parser.problem, null);
  }
});

Deno.test("nchan-style stream: no length, read until close, CRLF lines", () => {
  const text = "HTTP/1.1 200 OK\r\nServer: nginx\r\n" +
    "Content-Type: text/event-stream; charset=utf-8\r\n" +
    "Connection: keep-alive\r\n\r\n: hi\n\n" +
    "id: 1795229574:0\r\ndata: 1 0 123\r\n\r\n" +
    "id: 1795229574:1\ndata: 2 0 124\n\n";
  for (const sizes of [[text.length], [1], [5, 9]]) {
    const { events, parser } = parse(text, sizes);
    assert.deepEqual(events, [[1, 0, 123], [2, 0, 124]]);
    assert.equal(parser.comments, 1);
  }
});

Deno.test("Content-Length body ends at its length", () => {
  const body = "data: 3 0 7\n\ndata: 4 0 8\n\n";
  const text = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n` +
    body + "data: 9 9 9\n\n";
  const { events, parser } = parse(text, [4]);
  assert.deepEqual(events, [[3, 0, 7], [4, 0, 8]]);
  assert.equal(parser.ended, true);
});

Deno.test("data that is not ours is counted as malformed", () => {
  const text = OURS_HEAD + chunked([
    "data: hello\n\n",
    "data: 1 2\n\n",
    "data: 1 2 3 4\n\n",
    "data: 1 0 5\ndata: more\n\n",
    "data:7 0 5\n\n",
  ]);
  const { events, parser } = parse(text);
  assert.deepEqual(events, [[7, 0, 5]]);
  assert.equal(parser.malformed, 4);
});

Deno.test("a refused subscription is a problem, not events", () => {
  const text = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
  const { events, heads, parser } = parse(text);
  assert.deepEqual(events, []);
  assert.equal(heads, 0);
  assert.equal(parser.status, 403);
  assert.equal(parser.problem, "HTTP status 403");
  assert.equal(parse("garbage\r\n\r\n").parser.problem, "bad status line");
});

Deno.test("bad chunk framing is a problem", () => {
  const { parser } = parse(OURS_HEAD + "zz\r\n");
  assert.equal(parser.problem, "bad chunk size");
  const { parser: p2 } = parse(OURS_HEAD + "2\r\nabXY");
  assert.equal(p2.problem, "bad chunk framing");
});
