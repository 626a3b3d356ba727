import assert from "node:assert/strict";
import {
  encodeEvent,
  FieldError,
  formatEvent,
  KEEP_ALIVE,
  parseEvent,
  type SseEvent,
} from "../../lib/core/sse_format.ts";

const decoder = new TextDecoder();

/** The text of an encoded event, through the byte encoder. */
function encoded(event: SseEvent): string {
  return decoder.decode(encodeEvent(event));
}

Deno.test("formatEvent: type message has no event: line", () => {
  const text = formatEvent({ type: "message", data: "hello" });
  assert.equal(text, "data: hello\n\n");
  assert.ok(!text.includes("event:"));
});

Deno.test("formatEvent: other types get an event: line first", () => {
  assert.equal(
    formatEvent({ type: "news", data: "hello" }),
    "event: news\ndata: hello\n\n",
  );
  // "Message" is not "message": only the exact default type is left out.
  assert.equal(
    formatEvent({ type: "Message", data: "x" }),
    "event: Message\ndata: x\n\n",
  );
});

Deno.test("formatEvent: id line after the event line, before data", () => {
  assert.equal(
    formatEvent({ type: "news", id: "42", data: "x" }),
    "event: news\nid: 42\ndata: x\n\n",
  );
  assert.equal(
    formatEvent({ type: "message", id: "7", data: "x" }),
    "id: 7\ndata: x\n\n",
  );
  // No id given: no id line.
  assert.ok(!formatEvent({ type: "news", data: "x" }).includes("id:"));
});

Deno.test("formatEvent: data split at LF into several data: lines", () => {
  assert.equal(
    formatEvent({ type: "message", data: "one\ntwo\nthree" }),
    "data: one\ndata: two\ndata: three\n\n",
  );
});

Deno.test("formatEvent: data split at CRLF (one break, not two)", () => {
  assert.equal(
    formatEvent({ type: "message", data: "one\r\ntwo" }),
    "data: one\ndata: two\n\n",
  );
});

Deno.test("formatEvent: data split at a lone CR", () => {
  assert.equal(
    formatEvent({ type: "message", data: "one\rtwo" }),
    "data: one\ndata: two\n\n",
  );
});

Deno.test("formatEvent: mixed breaks; LF CR is two breaks", () => {
  assert.equal(
    formatEvent({ type: "t", data: "a\nb\r\nc\rd\n\re" }),
    "event: t\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: e\n\n",
  );
});

Deno.test("formatEvent: trailing and leading breaks give empty data lines", () => {
  assert.equal(
    formatEvent({ type: "message", data: "\nx\r\n" }),
    "data: \ndata: x\ndata: \n\n",
  );
});

Deno.test("formatEvent: empty data gives one empty data line", () => {
  assert.equal(formatEvent({ type: "message", data: "" }), "data: \n\n");
  assert.equal(formatEvent({ type: "t", data: "" }), "event: t\ndata: \n\n");
});

Deno.test("formatEvent: data keeps spaces and ':' as they are", () => {
  assert.equal(
    formatEvent({ type: "message", data: "  a : b  " }),
    "data:   a : b  \n\n",
  );
});

Deno.test("formatEvent/encodeEvent: CR, LF or NUL in type is a FieldError", () => {
  for (const bad of ["a\rb", "a\nb", "a\0b", "\n", "evil\r\ndata: x"]) {
    const event = { type: bad, data: "x" };
    assert.throws(() => formatEvent(event), FieldError, JSON.stringify(bad));
    assert.throws(() => encodeEvent(event), FieldError, JSON.stringify(bad));
  }
});

Deno.test("formatEvent/encodeEvent: CR, LF or NUL in id is a FieldError", () => {
  for (const bad of ["1\r2", "1\n2", "1\x002", "\r\n"]) {
    for (const type of ["message", "news"]) {
      const event = { type, id: bad, data: "x" };
      assert.throws(() => formatEvent(event), FieldError, JSON.stringify(bad));
      assert.throws(() => encodeEvent(event), FieldError, JSON.stringify(bad));
    }
  }
});

Deno.test("FieldError: is an Error named FieldError", () => {
  try {
    formatEvent({ type: "a\nb", data: "" });
    assert.fail("expected a FieldError");
  } catch (error) {
    assert.ok(error instanceof FieldError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, "FieldError");
  }
});

Deno.test("formatEvent: every event ends in exactly one blank line, at its end", () => {
  const events: SseEvent[] = [
    { type: "message", data: "" },
    { type: "message", data: "x" },
    { type: "t", id: "1", data: "a\n\nb" },
    { type: "t", data: "a\r\n\r\nb\r\r" },
    { type: "message", data: "\n\n\n" },
  ];
  for (const event of events) {
    const text = formatEvent(event);
    assert.ok(text.endsWith("\n\n"), JSON.stringify(text));
    // The first blank line is the one at the end: nothing ends the event early.
    assert.equal(text.indexOf("\n\n"), text.length - 2, JSON.stringify(text));
    assert.ok(!text.includes("\r"), JSON.stringify(text));
  }
});

Deno.test("encodeEvent: UTF-8 bytes of formatEvent", () => {
  const event = { type: "café", id: "ü", data: "é\n€" };
  const bytes = encodeEvent(event);
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(bytes, new TextEncoder().encode(formatEvent(event)));
  assert.equal(encoded(event), "event: café\nid: ü\ndata: é\ndata: €\n\n");
});

Deno.test("KEEP_ALIVE is the comment ':\\n\\n'", () => {
  assert.ok(KEEP_ALIVE instanceof Uint8Array);
  assert.equal(decoder.decode(KEEP_ALIVE), ":\n\n");
  assert.equal(KEEP_ALIVE.length, 3);
});

Deno.test("injection: line breaks in data cannot start new fields or events", () => {
  const payloads = [
    "x\n\nevent: evil\ndata: y",
    "x\r\n\r\nevent: evil\r\ndata: y",
    "x\r\revent: evil\rdata: y",
    "x\nid: 666\nretry: 1\n:comment\n\nevent: evil",
  ];
  for (const data of payloads) {
    for (const type of ["message", "news"]) {
      const text = encoded({ type, data });
      assert.ok(!text.includes("\r"), JSON.stringify(text));
      // Split the way an EventSource would.
      const lines = text.split(/\r\n|\r|\n/);
      // Ends with the single blank line that closes the event.
      assert.deepEqual(lines.slice(-2), ["", ""]);
      const body = lines.slice(0, -2);
      let i = 0;
      if (type !== "message") {
        assert.equal(body[i++], `event: ${type}`);
      }
      const rest = body.slice(i);
      assert.ok(rest.length > 1, JSON.stringify(text));
      for (const line of rest) {
        assert.ok(line.startsWith("data: "), JSON.stringify(line));
      }
      assert.equal(
        lines.filter((line) => line.startsWith("event:")).length,
        type === "message" ? 0 : 1,
      );
      // The data comes back whole when the data lines are joined.
      assert.equal(
        rest.map((line) => line.slice("data: ".length)).join("\n"),
        data.split(/\r\n|\r|\n/).join("\n"),
      );
    }
  }
});

Deno.test("parseEvent: gives back what formatEvent encoded, as EventSource delivers it", () => {
  const cases: SseEvent[] = [
    { type: "message", data: "plain" },
    { type: "news", data: "one\ntwo", id: "n-1" },
    { type: "message", data: "", id: "n-2" },
    { type: "x", data: "\n\ndata: forged\nid: 9\n" },
    { type: "message", data: "  spaces  : colon" },
  ];
  for (const event of cases) {
    assert.deepEqual(parseEvent(formatEvent(event)), event);
  }
  // CR and CRLF in the data come back as LF, as an EventSource joins lines.
  assert.deepEqual(parseEvent(formatEvent({ type: "m", data: "a\r\nb\rc" })), {
    type: "m",
    data: "a\nb\nc",
  });
});
