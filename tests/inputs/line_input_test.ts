import assert from "node:assert/strict";
import type { Dispatcher, Source } from "../../lib/core/dispatch.ts";
import type { PublishResult } from "../../lib/core/hub.ts";
import { COMMANDS, InstructionError } from "../../lib/protocol/instruction.ts";
import {
  type LineLimits,
  readInstructions,
} from "../../lib/inputs/line_input.ts";
import type { SseEvent } from "../../lib/core/sse_format.ts";

const encoder = new TextEncoder();
const SOURCE: Source = { kind: "control", name: "127.0.0.1:5555" };
const LIMITS: LineLimits = { maxLineLength: 1000, maxBlockLength: 10_000 };

/** What the fake dispatcher was asked to do, in order. */
type Call =
  | { kind: "publish"; channels: string[]; events: SseEvent[] }
  | { kind: "checkCommand"; command: string }
  | { kind: "command"; command: string };

interface Run {
  calls: Call[];
  /** The error lines sent back, in order. */
  replies: string[];
}

/** A dispatcher that records every call; unknown commands throw like the real one. */
function fakeDispatcher(calls: Call[]): Dispatcher {
  const check = (command: string) => {
    if (!COMMANDS.includes(command)) {
      throw new InstructionError(`unknown command ${JSON.stringify(command)}`);
    }
  };
  return {
    publish(channels, events, source): PublishResult {
      assert.equal(source, SOURCE);
      calls.push({
        kind: "publish",
        channels: [...channels],
        events: [...events],
      });
      return {
        events: events.length,
        clients: 0,
        ids: events.map((event) => event.id),
      };
    },
    checkCommand(command, source) {
      assert.equal(source, SOURCE);
      calls.push({ kind: "checkCommand", command });
      check(command);
    },
    command(command, source) {
      assert.equal(source, SOURCE);
      calls.push({ kind: "command", command });
      check(command);
    },
  };
}

/**
 * Feeds `input` (one string, or the chunks it arrives in) to readInstructions
 * and returns what the dispatcher was asked and the replies.
 */
async function run(
  input: string | string[] | Uint8Array[],
  limits: Partial<LineLimits> = {},
): Promise<Run> {
  const chunks = typeof input === "string" ? [input] : input;
  const bytes = chunks.map((chunk) =>
    typeof chunk === "string" ? encoder.encode(chunk) : chunk
  );
  const calls: Call[] = [];
  const replies: string[] = [];
  await readInstructions(ReadableStream.from(bytes), {
    ...LIMITS,
    ...limits,
    source: SOURCE,
    dispatcher: fakeDispatcher(calls),
    reply: (message) => {
      replies.push(message);
      return Promise.resolve();
    },
  });
  return { calls, replies };
}

function publishCall(
  channel: string,
  type: string,
  data: string,
  id?: string,
): Call {
  return {
    kind: "publish",
    channels: [channel],
    events: [id === undefined ? { type, data } : { type, data, id }],
  };
}

/** Asserts one error reply matching `message`, in the `error: …\n` form. */
function assertOneError(replies: string[], message: RegExp) {
  assert.equal(replies.length, 1, `replies: ${JSON.stringify(replies)}`);
  assert.match(replies[0], /^error: .*\n$/s);
  assert.ok(!replies[0].slice(0, -1).includes("\n"), "a reply is one line");
  assert.match(replies[0], message);
}

// ---------------------------------------------------------------------------
// Classic lines

Deno.test("readInstructions: classic lines publish and run commands, in order", async () => {
  const { calls, replies } = await run(
    "color/q1 = go\n" +
      "news = hello   world \n" +
      "\n" +
      "   \t \n" +
      "status\n" +
      "  spaced/t =  a = b  \r\n" +
      "last/x=no newline at the end",
  );
  assert.deepEqual(replies, []);
  assert.deepEqual(calls, [
    publishCall("color", "q1", "go"),
    publishCall("news", "message", "hello   world"),
    { kind: "command", command: "status" },
    publishCall("spaced", "t", "a = b"),
    publishCall("last", "x", "no newline at the end"),
  ]);
});

Deno.test("readInstructions: a malformed line gets an error line and the input goes on", async () => {
  const { calls, replies } = await run(
    "no equals here\nbad channel/t = x\nnews = ok\nfrobnicate\nnews = still ok\n",
  );
  assert.deepEqual(calls, [
    publishCall("news", "message", "ok"),
    { kind: "command", command: "frobnicate" },
    publishCall("news", "message", "still ok"),
  ]);
  assert.equal(replies.length, 3, JSON.stringify(replies));
  for (const reply of replies) assert.match(reply, /^error: .*\n$/);
  assert.match(replies[0], /single word.*line ignored/);
  assert.match(replies[1], /line ignored/);
  assert.match(replies[2], /unknown command "frobnicate"/);
});

Deno.test("readInstructions: lines split across chunks anywhere are read the same", async () => {
  const input = "news/t = h\u00e9llo\r\nstatus\n" +
    "block <<END\n  one\n\ntwo \nEND\n" +
    '{"channel":"j","data":"\\u00e9 x"}\n';
  const whole = await run(input);
  assert.deepEqual(whole.replies, []);
  assert.deepEqual(whole.calls, [
    publishCall("news", "t", "h\u00e9llo"),
    { kind: "command", command: "status" },
    publishCall("block", "message", "  one\n\ntwo "),
    publishCall("j", "message", "\u00e9 x"),
  ]);
  // Byte by byte, so multi-byte characters and CRLF are split too.
  const bytes = encoder.encode(input);
  const split = await run([...bytes].map((byte) => new Uint8Array([byte])));
  assert.deepEqual(split, whole);
});

Deno.test("readInstructions: an over-long line is refused; the next line works", async () => {
  const { calls, replies } = await run(
    `news = ${"x".repeat(50)}\nnews = short\n`,
    { maxLineLength: 20 },
  );
  assert.deepEqual(calls, [publishCall("news", "message", "short")]);
  assertOneError(replies, /line too long \(57 characters, limit 20\)/);
});

Deno.test("readInstructions: works without a reply function", async () => {
  const calls: Call[] = [];
  await readInstructions(
    ReadableStream.from([encoder.encode("bad line here\nnews = ok\na <<E\n")]),
    { ...LIMITS, source: SOURCE, dispatcher: fakeDispatcher(calls) },
  );
  assert.deepEqual(calls, [publishCall("news", "message", "ok")]);
});

// ---------------------------------------------------------------------------
// JSON lines

Deno.test("readInstructions: JSON lines carry escapes, outer spaces and ids", async () => {
  const lines = [
    String
      .raw`{"channel":"news","event":"update","data":"a\nb\tc \\ \"q\" \u00e9","id":"n-42"}`,
    String.raw`  {"channel":"news","data":"  padded  "}  `,
    String.raw`{"data":"\r\n\u0000 raw","channel":"c"}`,
    String.raw`{"channel":"n","data":{"k":[1,"two"]}}`,
  ];
  const { calls, replies } = await run(lines.join("\n") + "\n");
  assert.deepEqual(replies, []);
  assert.deepEqual(calls, [
    publishCall("news", "update", 'a\nb\tc \\ "q" \u00e9', "n-42"),
    publishCall("news", "message", "  padded  "),
    publishCall("c", "message", "\r\n\0 raw"),
    publishCall("n", "message", '{"k":[1,"two"]}'),
  ]);
});

Deno.test("readInstructions: JSON lines that would inject fields are refused, nothing published", async () => {
  const bad: [string, RegExp][] = [
    [String.raw`{"channel":"a","event":"a\nb","data":"x"}`, /event type/],
    [String.raw`{"channel":"a","event":"a\rb","data":"x"}`, /event type/],
    [String.raw`{"channel":"a","event":"a b","data":"x"}`, /event type/],
    [String.raw`{"channel":"a","data":"x","id":"1\n2"}`, /line break or NUL/],
    [
      String.raw`{"channel":"a","data":"x","id":"1\r\nevent: forged"}`,
      /line break or NUL/,
    ],
    [String.raw`{"channel":"a","data":"x","id":"1\u0000"}`, /NUL/],
    [String.raw`{"channel":"a","data":"x","id":""}`, /empty event id/],
    [String.raw`{"channel":"a/b","data":"x"}`, /channel "a\/b" contains '\/'/],
    [String.raw`{"channel":"a\nb","data":"x"}`, /channel/],
    [String.raw`{"data":"x"}`, /needs "channel"/],
    [String.raw`{"channel":"a"}`, /needs "data"/],
    [String.raw`{"channel":"a","data":"x","evnt":"y"}`, /unknown field "evnt"/],
    [String.raw`{"channel":"a","data":"x"`, /JSON object/],
    [String.raw`{"channel":5,"data":"x"}`, /"channel" must be a string/],
  ];
  for (const [line, message] of bad) {
    const { calls, replies } = await run(line + "\n");
    assert.deepEqual(calls, [], line);
    assertOneError(replies, message);
    assert.match(replies[0], /line ignored/);
  }
});

// ---------------------------------------------------------------------------
// Blocks

Deno.test("readInstructions: a block is one event with its lines joined exactly", async () => {
  const body = [
    "first line",
    "",
    "  leading and trailing  ",
    "x = y",
    "halt",
    "status",
    '{"channel":"a","data":"not JSON here"}',
    "other <<END",
    "\tTab",
  ];
  const { calls, replies } = await run(
    ["news/update <<END", ...body, "END", "after = yes", ""].join("\n"),
  );
  assert.deepEqual(replies, []);
  assert.deepEqual(calls, [
    publishCall("news", "update", body.join("\n")),
    publishCall("after", "message", "yes"),
  ]);
  // Not a single command ran from inside the block.
  assert.ok(!calls.some((call) => call.kind !== "publish"));
});

Deno.test("readInstructions: block headers without a type, and empty blocks", async () => {
  const { calls, replies } = await run(
    "news <<EOF\nhello\nEOF\n" +
      "  news/t\t<<a.b-c_1  \nx\na.b-c_1\n" +
      "empty <<E\nE\n" +
      "blank <<E\n\nE\n",
  );
  assert.deepEqual(replies, []);
  assert.deepEqual(calls, [
    publishCall("news", "message", "hello"),
    publishCall("news", "t", "x"),
    publishCall("empty", "message", ""),
    publishCall("blank", "message", ""),
  ]);
});

Deno.test("readInstructions: only a line exactly the tag ends a block", async () => {
  const { calls, replies } = await run(
    "news <<END\nEND  \n END\nEND\t\nend\nENDING\nreal\nEND\n",
  );
  assert.deepEqual(replies, []);
  assert.deepEqual(calls, [
    publishCall("news", "message", "END  \n END\nEND\t\nend\nENDING\nreal"),
  ]);
  // A CRLF line ending is not part of the line: "END\r\n" ends the block.
  const crlf = await run("news <<END\r\none \r\nEND\r\nafter = 1\r\n");
  assert.deepEqual(crlf.calls, [
    publishCall("news", "message", "one "),
    publishCall("after", "message", "1"),
  ]);
});

Deno.test("readInstructions: a block over maxBlockLength is refused; what follows works", async () => {
  const { calls, replies } = await run(
    "news <<END\n" +
      "0123456789\n".repeat(5) +
      "halt\nother = inside\n" +
      "END\n" +
      "after = works\n" +
      "small <<END\nok\nEND\n",
    { maxBlockLength: 30 },
  );
  assertOneError(replies, /block too long \(more than 30 characters\)/);
  // Nothing of the refused block was published or run, not even its
  // instruction-like lines.
  assert.deepEqual(calls, [
    publishCall("after", "message", "works"),
    publishCall("small", "message", "ok"),
  ]);
});

Deno.test("readInstructions: a block of exactly maxBlockLength characters is accepted", async () => {
  // Data "0123456789\n0123456789\n01234567": 10 + 1 + 10 + 1 + 8 = 30.
  const data = "0123456789\n0123456789\n01234567";
  assert.equal(data.length, 30);
  const at = await run(`news <<END\n${data}\nEND\n`, { maxBlockLength: 30 });
  assert.deepEqual(at.replies, []);
  assert.deepEqual(at.calls, [publishCall("news", "message", data)]);
  // One line, exactly at the limit.
  const line = "x".repeat(30);
  const one = await run(`news <<END\n${line}\nEND\n`, { maxBlockLength: 30 });
  assert.deepEqual(one.replies, []);
  assert.deepEqual(one.calls, [publishCall("news", "message", line)]);
  // One character more is refused.
  const over = await run(`news <<END\n${data}8\nEND\n`, { maxBlockLength: 30 });
  assert.deepEqual(over.calls, []);
  assertOneError(over.replies, /block too long/);
});

Deno.test("readInstructions: a too-long line inside a block makes the block refused", async () => {
  const { calls, replies } = await run(
    "news <<END\nshort\n" + "y".repeat(50) + "\nshort again\nEND\n" +
      "after = works\n",
    { maxLineLength: 20, maxBlockLength: 10_000 },
  );
  assertOneError(replies, /block too long/);
  assert.deepEqual(calls, [publishCall("after", "message", "works")]);
});

Deno.test("readInstructions: input ending inside a block is an error; nothing is published", async () => {
  const { calls, replies } = await run(
    "before = 1\nnews <<END\nline one\nstatus\nEN",
  );
  assert.deepEqual(calls, [publishCall("before", "message", "1")]);
  assertOneError(replies, /input ended inside a block \(no line "END"\)/);
  // Also when the unfinished block is already too long.
  const long = await run("news <<END\n" + "z".repeat(100) + "\n", {
    maxBlockLength: 10,
  });
  assert.deepEqual(long.calls, []);
  assert.equal(long.replies.length, 1, JSON.stringify(long.replies));
  assert.match(long.replies[0], /^error: .*\n$/);
});

Deno.test("readInstructions: malformed block headers are errors, not blocks", async () => {
  const { calls, replies } = await run(
    "bad channel <<END\n" + // space in the channel: not a header
      "news/bad type <<END\n" +
      "news <<BAD TAG\n" +
      "news/t <<\n" +
      "after = 1\n",
  );
  assert.deepEqual(calls, [publishCall("after", "message", "1")]);
  assert.equal(replies.length, 4, JSON.stringify(replies));
  for (const reply of replies) assert.match(reply, /^error: .*line ignored\n$/);
});
