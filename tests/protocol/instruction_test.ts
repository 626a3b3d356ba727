import assert from "node:assert/strict";
import {
  COMMANDS,
  InstructionError,
  parseInstructionLine,
  trimAscii,
  validateId,
  validateLastEventId,
  validateName,
} from "../../lib/protocol/instruction.ts";

/** Asserts that `line` is refused with an InstructionError whose message matches. */
function assertRefused(line: string, message?: RegExp) {
  assert.throws(
    () => parseInstructionLine(line),
    (error: unknown) => {
      assert.ok(error instanceof InstructionError, String(error));
      assert.equal(error.name, "InstructionError");
      if (message) assert.match(error.message, message);
      return true;
    },
    `expected ${JSON.stringify(line)} to be refused`,
  );
}

Deno.test("parseInstructionLine: channel/type = data", () => {
  assert.deepEqual(parseInstructionLine("color/q1 = go"), {
    kind: "publish",
    channel: "color",
    type: "q1",
    data: "go",
  });
});

Deno.test("parseInstructionLine: channel = data has type message", () => {
  assert.deepEqual(parseInstructionLine("channel = data"), {
    kind: "publish",
    channel: "channel",
    type: "message",
    data: "data",
  });
});

Deno.test("parseInstructionLine: no spaces needed around '='", () => {
  assert.deepEqual(parseInstructionLine("ch/t=d"), {
    kind: "publish",
    channel: "ch",
    type: "t",
    data: "d",
  });
});

Deno.test("parseInstructionLine: white space at both ends and around '=' ignored", () => {
  for (
    const line of [
      "  color/q1 = go  ",
      "\tcolor/q1\t=\tgo\t",
      "color/q1    =    go",
      " \t\v\fcolor/q1=go\r",
      "color/q1 = go\r\n",
    ]
  ) {
    assert.deepEqual(parseInstructionLine(line), {
      kind: "publish",
      channel: "color",
      type: "q1",
      data: "go",
    }, JSON.stringify(line));
  }
});

Deno.test("parseInstructionLine: data may contain '='", () => {
  assert.deepEqual(parseInstructionLine("ch = a=b"), {
    kind: "publish",
    channel: "ch",
    type: "message",
    data: "a=b",
  });
  assert.deepEqual(parseInstructionLine("ch/t = x = y =="), {
    kind: "publish",
    channel: "ch",
    type: "t",
    data: "x = y ==",
  });
});

Deno.test("parseInstructionLine: data keeps inner spaces", () => {
  const result = parseInstructionLine("ch/t =  hello   big \t world  ");
  assert.ok(result?.kind === "publish");
  assert.equal(result.data, "hello   big \t world");
});

Deno.test("parseInstructionLine: empty data is allowed", () => {
  const result = parseInstructionLine("ch/t =   ");
  assert.ok(result?.kind === "publish");
  assert.equal(result.data, "");
});

Deno.test("parseInstructionLine: data may contain '/'", () => {
  // Data may contain '/': only the part before '=' is split.
  assert.deepEqual(parseInstructionLine("ch/t = a/b/c"), {
    kind: "publish",
    channel: "ch",
    type: "t",
    data: "a/b/c",
  });
});

Deno.test("parseInstructionLine: blank line is null", () => {
  for (const line of ["", " ", "\t \t", "\r", "\r\n", "   \n"]) {
    assert.equal(parseInstructionLine(line), null, JSON.stringify(line));
  }
});

Deno.test("parseInstructionLine: bare word is a command", () => {
  assert.deepEqual(parseInstructionLine("status"), {
    kind: "command",
    command: "status",
  });
  assert.deepEqual(parseInstructionLine("  halt \r"), {
    kind: "command",
    command: "halt",
  });
  // Unknown words are still commands; the dispatcher decides what to do.
  assert.deepEqual(parseInstructionLine("frobnicate"), {
    kind: "command",
    command: "frobnicate",
  });
});

Deno.test("COMMANDS lists status and halt", () => {
  assert.ok(COMMANDS.includes("status"));
  assert.ok(COMMANDS.includes("halt"));
});

Deno.test("parseInstructionLine: command with white space inside is refused", () => {
  assertRefused("sta tus", /single word/);
  assertRefused("hello world", /no '='/);
  assertRefused("sta\ttus");
});

Deno.test("parseInstructionLine: white space inside channel is refused", () => {
  assertRefused("my channel/t = x", /channel/);
  assertRefused("my channel/t = x", /a space/);
  assertRefused("my\tchannel = x", /channel/);
});

Deno.test("parseInstructionLine: white space inside type is refused", () => {
  assertRefused("ch/my type = x", /event type/);
  assertRefused("ch/my type = x", /a space/);
  assertRefused("ch/ t = x", /event type/);
  assertRefused("ch /t = x", /channel/);
});

Deno.test("parseInstructionLine: empty channel is refused", () => {
  assertRefused("= x", /channel/);
  assertRefused("  =x", /channel/);
  assertRefused("/t = x", /empty channel/);
});

Deno.test("parseInstructionLine: empty type is refused", () => {
  assertRefused("ch/ = x", /empty event type/);
  assertRefused("ch/= x", /empty event type/);
});

Deno.test("parseInstructionLine: type containing '/' is refused", () => {
  assertRefused("ch/a/b = x", /event type "a\/b" contains '\/'/);
  assertRefused("ch// = x", /event type/);
});

Deno.test("parseInstructionLine: control characters in channel or type are refused", () => {
  assertRefused("c\x01h = x", /channel/);
  assertRefused("c\x01h = x", /U\+0001/);
  assertRefused("c\x7fh = x", /U\+007F/);
  assertRefused("\x01ch = x", /U\+0001/);
  assertRefused("ch\x00 = x", /U\+0000/);
  assertRefused("ch\x1b[31m/t = x", /U\+001B/);
  assertRefused("ch/t\x01 = x", /event type/);
  assertRefused("ch/t\x7f = x", /U\+007F/);
});

Deno.test("parseInstructionLine: control characters in data are kept", () => {
  const result = parseInstructionLine("ch = a\x01b");
  assert.ok(result?.kind === "publish");
  assert.equal(result.data, "a\x01b");
});

Deno.test("validateName: accepts ordinary words", () => {
  for (const name of ["news", "q1", "a.b-c_d", "café", "日本", "x:y"]) {
    validateName("channel", name);
    validateName("event type", name);
  }
});

Deno.test("validateName: messages say what and which name is wrong", () => {
  const cases: [
    "channel" | "event type",
    string,
    RegExp,
  ][] = [
    ["channel", "", /^empty channel$/],
    ["event type", "", /^empty event type$/],
    ["channel", "a b", /^channel "a b" contains a space$/],
    ["event type", "a/b", /^event type "a\/b" contains '\/'$/],
    ["channel", "a=b", /^channel "a=b" contains '='$/],
    [
      "channel",
      "a\tb",
      /^channel "a\\tb" contains the control character U\+0009$/,
    ],
    [
      "event type",
      "a\x7f",
      /^event type "a.*" contains the control character U\+007F$/,
    ],
    ["channel", "a\nb", /U\+000A/],
  ];
  for (const [what, name, message] of cases) {
    assert.throws(
      () => validateName(what, name),
      (error: unknown) => {
        assert.ok(error instanceof InstructionError);
        assert.match(error.message, message);
        return true;
      },
      JSON.stringify(name),
    );
  }
});

Deno.test("trimAscii: strips ASCII white space at both ends only", () => {
  assert.equal(trimAscii(" \t\n\v\f\rab c\r\n\t "), "ab c");
  assert.equal(trimAscii("a  b"), "a  b");
  assert.equal(trimAscii(""), "");
  assert.equal(trimAscii(" \t "), "");
});

Deno.test("trimAscii: keeps non-ASCII spaces such as U+00A0", () => {
  assert.equal(trimAscii("\u00a0x\u00a0"), "\u00a0x\u00a0");
  assert.equal(trimAscii(" \u00a0x\u00a0 "), "\u00a0x\u00a0");
  assert.equal(trimAscii("\u2003x\u3000"), "\u2003x\u3000");
  assert.equal(trimAscii("\ufeffx"), "\ufeffx");
  // Unlike String.prototype.trim, which would strip them.
  assert.notEqual("\u00a0x\u00a0".trim(), "\u00a0x\u00a0");
});

Deno.test("parseInstructionLine: data keeps leading/trailing non-ASCII spaces", () => {
  const result = parseInstructionLine("ch = \u00a0x\u00a0");
  assert.ok(result?.kind === "publish");
  assert.equal(result.data, "\u00a0x\u00a0");
});

Deno.test('validateId: "earliest" is reserved for clients asking for the whole history', () => {
  assert.throws(() => validateId("earliest"), /reserved/);
  validateLastEventId("earliest");
  assert.throws(() => validateLastEventId("a\nb"), /line break/);
  validateId("n-42");
});
