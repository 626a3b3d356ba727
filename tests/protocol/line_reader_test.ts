import assert from "node:assert/strict";
import {
  type LineItem,
  LineSplitStream,
} from "../../lib/protocol/line_reader.ts";

/** Runs `chunks` through a LineSplitStream and collects what comes out. */
function split(
  chunks: Iterable<string> | AsyncIterable<string>,
  maxLength: number,
): Promise<LineItem[]> {
  return Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new LineSplitStream(maxLength)),
  );
}

const line = (text: string): LineItem => ({ kind: "line", text });
const tooLong = (length: number): LineItem => ({ kind: "too-long", length });

Deno.test("LineSplitStream: lines split at LF", async () => {
  assert.deepEqual(await split(["one\ntwo\n"], 100), [
    line("one"),
    line("two"),
  ]);
});

Deno.test("LineSplitStream: CRLF is stripped", async () => {
  assert.deepEqual(await split(["one\r\ntwo\r\n"], 100), [
    line("one"),
    line("two"),
  ]);
});

Deno.test("LineSplitStream: CRLF split across chunks is stripped", async () => {
  assert.deepEqual(await split(["one\r", "\ntwo\n"], 100), [
    line("one"),
    line("two"),
  ]);
});

Deno.test("LineSplitStream: a lone CR does not end a line", async () => {
  assert.deepEqual(await split(["a\rb\n"], 100), [line("a\rb")]);
});

Deno.test("LineSplitStream: empty lines come out as empty lines", async () => {
  assert.deepEqual(await split(["\n\r\nx\n"], 100), [
    line(""),
    line(""),
    line("x"),
  ]);
});

Deno.test("LineSplitStream: a line split across chunks is joined", async () => {
  assert.deepEqual(await split(["he", "l", "lo\nwor", "ld\n"], 100), [
    line("hello"),
    line("world"),
  ]);
});

Deno.test("LineSplitStream: one character per chunk", async () => {
  assert.deepEqual(await split([..."ab\r\ncd\n"], 100), [
    line("ab"),
    line("cd"),
  ]);
});

Deno.test("LineSplitStream: several lines in one chunk all come out, in order", async () => {
  const texts = Array.from({ length: 50 }, (_, i) => `line ${i}`);
  assert.deepEqual(
    await split([texts.join("\n") + "\n"], 100),
    texts.map(line),
  );
});

Deno.test("LineSplitStream: last line without newline is emitted at end", async () => {
  assert.deepEqual(await split(["a\nlast"], 100), [line("a"), line("last")]);
  assert.deepEqual(await split(["la", "st"], 100), [line("last")]);
});

Deno.test("LineSplitStream: no trailing empty line after a final newline", async () => {
  assert.deepEqual(await split(["a\n"], 100), [line("a")]);
  assert.deepEqual(await split([], 100), []);
  assert.deepEqual(await split(["", ""], 100), []);
});

Deno.test("LineSplitStream: a line exactly at the limit passes", async () => {
  const text = "x".repeat(50);
  assert.deepEqual(await split([text + "\n"], 50), [line(text)]);
  assert.deepEqual(await split([text + "\r\n"], 50), [line(text)]);
  // Also when it arrives in pieces, and as a last line without newline.
  assert.deepEqual(
    await split([text.slice(0, 20), text.slice(20) + "\n"], 50),
    [line(text)],
  );
  assert.deepEqual(
    await split([text.slice(0, 20), text.slice(20)], 50),
    [line(text)],
  );
});

Deno.test("LineSplitStream: a line at the limit whose CRLF is split across chunks passes", async () => {
  // The CR is part of the line break, not of the line: the limit must not
  // count it just because the LF is still to come.
  const text = "x".repeat(50);
  assert.deepEqual(await split([text + "\r", "\nnext\n"], 50), [
    line(text),
    line("next"),
  ]);
});

Deno.test("LineSplitStream: one character over the limit is reported with its length", async () => {
  assert.deepEqual(await split(["x".repeat(51) + "\nnext\n"], 50), [
    tooLong(51),
    line("next"),
  ]);
  assert.deepEqual(await split(["x".repeat(51) + "\r\nnext\r\n"], 50), [
    tooLong(51),
    line("next"),
  ]);
});

Deno.test("LineSplitStream: too-long line between good lines", async () => {
  assert.deepEqual(
    await split(["before\n" + "y".repeat(73) + "\nafter\n"], 50),
    [line("before"), tooLong(73), line("after")],
  );
});

Deno.test("LineSplitStream: two too-long lines in a row are reported separately", async () => {
  assert.deepEqual(
    await split(["x".repeat(60) + "\n", "y".repeat(70) + "\nok\n"], 50),
    [tooLong(60), tooLong(70), line("ok")],
  );
});

Deno.test("LineSplitStream: too-long line over 3 chunks of 40 reported once with its total length", async () => {
  const chunk = "a".repeat(40);
  assert.deepEqual(
    await split([chunk, chunk, chunk, "\nafter\n"], 50),
    [tooLong(120), line("after")],
  );
  assert.deepEqual(
    await split([chunk, chunk, chunk + "\nafter\n"], 50),
    [tooLong(120), line("after")],
  );
  // The newline arriving with the rest of the next line.
  assert.deepEqual(
    await split(["ok\n" + chunk, chunk, chunk + "bb\nafter"], 50),
    [line("ok"), tooLong(122), line("after")],
  );
});

Deno.test("LineSplitStream: too-long length does not count a CR split from its LF", async () => {
  assert.deepEqual(
    await split(["x".repeat(60) + "\r", "\nnext\n"], 50),
    [tooLong(60), line("next")],
  );
});

Deno.test("LineSplitStream: an over-long line is never buffered whole", async () => {
  // More characters than any JavaScript string may hold (V8's limit is
  // 2**29 - 24): a reader that kept the line would throw "Invalid string
  // length"; one that skips it reports its exact length.
  const chunk = "z".repeat(1 << 20);
  const count = 520;
  function* chunks() {
    yield "first\n";
    for (let i = 0; i < count; i++) yield chunk;
    yield "\nlast\n";
  }
  assert.ok(count * chunk.length > 2 ** 29);
  assert.deepEqual(await split(chunks(), 1000), [
    line("first"),
    tooLong(count * chunk.length),
    line("last"),
  ]);
});

Deno.test("LineSplitStream: too-long last line without newline is reported at end", async () => {
  assert.deepEqual(await split(["abc\n" + "x".repeat(60)], 50), [
    line("abc"),
    tooLong(60),
  ]);
  assert.deepEqual(await split(["x".repeat(40), "x".repeat(40)], 50), [
    tooLong(80),
  ]);
});

Deno.test("LineSplitStream: counts UTF-16 code units", async () => {
  // "é" is one code unit, "😀" is two.
  assert.deepEqual(await split(["é".repeat(10) + "\n"], 10), [
    line("é".repeat(10)),
  ]);
  assert.deepEqual(await split(["😀".repeat(5) + "!\n"], 10), [tooLong(11)]);
});

Deno.test("LineSplitStream: works behind a TextDecoderStream on split UTF-8", async () => {
  const bytes = new TextEncoder().encode("café\r\nnaïve\n");
  // Cut inside the two-byte "é".
  const cut = 4;
  const items = await Array.fromAsync(
    ReadableStream.from([bytes.slice(0, cut), bytes.slice(cut)])
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitStream(100)),
  );
  assert.deepEqual(items, [line("café"), line("naïve")]);
});
