// Property-based tests of the parsers and encoders that take untrusted input:
// the instruction line, the publishing query, POST bodies, the SSE encoder and
// the line splitter. fast-check generates the inputs (hostile ones on
// purpose: separators, line breaks, NUL, quotes, lone surrogates) and shrinks
// any failure to a small counterexample.
import assert from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import {
  type Instruction,
  InstructionError,
  parseInstructionLine,
  trimAscii,
} from "../../lib/protocol/instruction.ts";
import {
  type LineItem,
  LineSplitStream,
} from "../../lib/protocol/line_reader.ts";
import {
  fromQuery,
  parsePostBody,
  RESERVED_PARAMETERS,
  UnsupportedMediaTypeError,
} from "../../lib/protocol/post_body.ts";
import {
  encodeEvent,
  FieldError,
  formatEvent,
  type SseEvent,
} from "../../lib/core/sse_format.ts";

// Characters that channel names and event types may not hold, as the
// validator defines them: control characters (C0, DEL, C1), any white space, `/` and `=`.
// deno-lint-ignore no-control-regex
const FORBIDDEN_IN_NAME = /[\x00-\x20\x7f-\x9f/=\s]/;
const LINE_BREAK_OR_NUL = /[\r\n\0]/;

// ---------------------------------------------------------------------------
// Generators

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) =>
  String.fromCharCode(c)
);

/** One well-formed Unicode character (a code point, never a lone surrogate). */
const codePoint = fc.string({ unit: "binary", minLength: 1, maxLength: 1 });

/** Pieces that matter to the line syntax and to the JSON form. */
const hostilePiece = fc.constantFrom(
  "=",
  "/",
  "{",
  "}",
  "<<",
  "<<END",
  " ",
  "\t",
  "\v",
  "\f",
  "\r",
  "\n",
  "\r\n",
  "\0",
  '"',
  "\\",
  "\\n",
  "\\u0000",
  ":",
  ",",
  "[",
  "]",
  "a",
  "b",
  "news",
  "message",
  "END",
  '"channel"',
  '"event"',
  '"data"',
  '"id"',
  "null",
  "1",
  "\x7f",
  "\x1b",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "é",
  "😀",
  "\ud800",
);

/** Strings mixing the hostile pieces with arbitrary characters. */
const hostileString = fc.string({
  unit: fc.oneof(
    { arbitrary: hostilePiece, weight: 4 },
    { arbitrary: codePoint, weight: 1 },
    { arbitrary: codeUnit, weight: 1 },
  ),
  maxLength: 40,
});

/** A character allowed in a channel name or event type. */
const nameChar = fc.oneof(
  fc.constantFrom(
    "a",
    "z",
    "Q",
    "0",
    "9",
    "-",
    "_",
    ".",
    "{",
    "}",
    "<",
    ">",
    ":",
    '"',
    "\\",
    "%",
    "&",
    ";",
    "+",
    "?",
    "#",
    "é",
    "😀",
  ),
  codePoint.filter((c) => !FORBIDDEN_IN_NAME.test(c)),
);

/** A valid channel name or event type. */
const validName = fc.string({ unit: nameChar, minLength: 1, maxLength: 12 });

/** A valid channel for a classic line: one that does not start with `{`. */
const classicChannel = validName.filter((c) => !c.startsWith("{"));

/** A valid event id: non-empty, no CR, LF or NUL. */
const validId = fc.string({
  unit: fc.oneof(hostilePiece, codeUnit),
  minLength: 1,
  maxLength: 12,
}).filter((id) => !LINE_BREAK_OR_NUL.test(id));

/** Arbitrary data: any code unit, with line breaks and SSE field text mixed in. */
const anyData = fc.string({
  unit: fc.oneof(
    { arbitrary: codeUnit, weight: 2 },
    {
      arbitrary: fc.constantFrom(
        "\r",
        "\n",
        "\r\n",
        "\n\r",
        "\0",
        " ",
        "\n\nevent: x",
        "data:",
        "data: ",
        "id: 7",
        "retry: 1",
        ":",
        "\ufeff",
      ),
      weight: 3,
    },
  ),
  maxLength: 40,
});

/** Well-formed data (no lone surrogates), for encodings that need it. */
const wellFormedData = fc.string({
  unit: fc.oneof(
    codePoint,
    fc.constantFrom("\r", "\n", "\r\n", "\0", " ", "&", ";", "=", "+", "%"),
  ),
  maxLength: 40,
});

// ---------------------------------------------------------------------------
// Instruction lines

/** Runs the parser; any exception other than InstructionError fails. */
function parseOrInstructionError(line: string): Instruction | null | "error" {
  try {
    return parseInstructionLine(line);
  } catch (error) {
    assert.ok(
      error instanceof InstructionError,
      `${JSON.stringify(line)} threw ${error}`,
    );
    return "error";
  }
}

/** Random JSON objects shaped like (and unlike) JSON instruction lines. */
const jsonLine = fc.record({
  channel: fc.oneof(validName, hostileString, fc.jsonValue()),
  event: fc.oneof(validName, hostileString, fc.jsonValue()),
  data: fc.oneof(anyData, fc.jsonValue()),
  id: fc.oneof(validId, hostileString, fc.jsonValue()),
  other: fc.jsonValue(),
}, { requiredKeys: [] }).map((o) => JSON.stringify(o));

const anyLine = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  hostileString,
  jsonLine,
  fc.json(),
  // Near-valid shapes: name/type = data, block headers, JSON with garbage.
  fc.tuple(hostileString, hostileString, hostileString).map(([a, b, c]) =>
    `${a}/${b} = ${c}`
  ),
  fc.tuple(hostileString, hostileString, hostileString).map(([a, b, c]) =>
    `${a}/${b} <<${c}`
  ),
  fc.tuple(jsonLine, hostileString).map(([j, s]) => j + s),
);

Deno.test("property: parseInstructionLine returns null or a valid instruction, or throws InstructionError", () => {
  fc.assert(
    fc.property(anyLine, (line) => {
      const result = parseOrInstructionError(line);
      if (result === null) {
        assert.equal(trimAscii(line), "", "null only for a blank line");
        return;
      }
      if (result === "error") return;
      switch (result.kind) {
        case "publish": {
          for (const name of [result.channel, result.type]) {
            assert.ok(name.length > 0, "empty name");
            assert.doesNotMatch(name, FORBIDDEN_IN_NAME);
          }
          if (result.id !== undefined) {
            assert.ok(result.id.length > 0, "empty id");
            assert.doesNotMatch(result.id, LINE_BREAK_OR_NUL);
          }
          if (!trimAscii(line).startsWith("{")) {
            // Classic lines: the data is trimmed and has no line break.
            assert.equal(result.data, trimAscii(result.data));
            assert.equal(result.id, undefined);
          }
          break;
        }
        case "block": {
          for (const name of [result.channel, result.type]) {
            assert.ok(name.length > 0, "empty name");
            assert.doesNotMatch(name, FORBIDDEN_IN_NAME);
          }
          assert.match(result.terminator, /^[A-Za-z0-9_.-]+$/);
          break;
        }
        case "command": {
          assert.ok(result.command.length > 0);
          assert.equal(result.command, trimAscii(result.command));
          assert.doesNotMatch(result.command, /[ \t\v\f]/);
          break;
        }
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: names from a line hold no Unicode white space or control character (README: single words)", () => {
  // The README says channel names and event types are "single words: no
  // white space, control characters, `/` or `=`". Unicode white space
  // (U+00A0, U+2028, U+3000, ...) and the C1 control characters
  // (U+0080-U+009F, e.g. U+0085 NEXT LINE) are white space and control
  // characters too.
  const unicodeForbidden = /[\p{White_Space}\p{Cc}/=]/u;
  fc.assert(
    fc.property(anyLine, (line) => {
      const result = parseOrInstructionError(line);
      if (result === null || result === "error") return;
      if (result.kind === "publish" || result.kind === "block") {
        assert.doesNotMatch(result.channel, unicodeForbidden);
        assert.doesNotMatch(result.type, unicodeForbidden);
      }
    }),
    { numRuns: 2000 },
  );
});

/** Data a classic line can carry: no line break, no white space at the ends. */
const classicData = fc.string({
  unit: fc.oneof(
    codeUnit.filter((c) => c !== "\r" && c !== "\n"),
    fc.constantFrom("=", "/", "{", "<<", " ", "\t", '"', "\\", "\0"),
  ),
  maxLength: 40,
}).filter((d) => d === trimAscii(d));

Deno.test("property: `channel/type = data` round-trips", () => {
  fc.assert(
    fc.property(
      classicChannel,
      validName,
      classicData,
      fc.constantFrom("", " ", "  ", "\t"),
      fc.constantFrom("", " ", "\t "),
      (channel, type, data, around, ends) => {
        const line =
          `${ends}${channel}/${type}${around}=${around}${data}${ends}`;
        assert.deepEqual(parseInstructionLine(line), {
          kind: "publish",
          channel,
          type,
          data,
        });
        assert.deepEqual(parseInstructionLine(`${channel} = ${data}`), {
          kind: "publish",
          channel,
          type: "message",
          data,
        });
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("property: a classic line may publish to any valid channel, one starting with `{` too", () => {
  // The README: the JSON form changes the meaning of "no valid line of the
  // original syntax", and `{a` is a valid channel name (it can be subscribed
  // to and published to over HTTP).
  fc.assert(
    fc.property(
      validName.map((c) => "{" + c),
      validName,
      classicData,
      (channel, type, data) => {
        assert.deepEqual(
          parseOrInstructionError(`${channel}/${type} = ${data}`),
          { kind: "publish", channel, type, data },
        );
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("property: JSON lines round-trip any string data, spaces and line breaks included", () => {
  fc.assert(
    fc.property(
      validName,
      validName,
      anyData,
      fc.option(validId, { nil: undefined }),
      (channel, type, data, id) => {
        const line = JSON.stringify(
          id === undefined
            ? { channel, event: type, data }
            : { channel, event: type, data, id },
        );
        const expected = id === undefined
          ? { kind: "publish", channel, type, data }
          : { kind: "publish", channel, type, data, id };
        assert.deepEqual(parseInstructionLine(line), expected);
        // White space around the object is ignored like around any line.
        assert.deepEqual(parseInstructionLine(` \t${line}\r`), expected);
      },
    ),
    { numRuns: 2000 },
  );
});

// ---------------------------------------------------------------------------
// Publishing query

const queryPiece = fc.constantFrom(
  "&",
  ";",
  "=",
  "+",
  "%",
  "%2",
  "%zz",
  "%41",
  "%C3",
  "%A9",
  "%C3%A9",
  "%ED%A0%80",
  "%F0%9F%98%80",
  "%0A",
  "%0D",
  "%00",
  "%20",
  "%2F",
  "%3D",
  "%26",
  "id",
  "id=",
  "lastEventId",
  "access_token",
  "message",
  "a",
  " ",
);

const anyQuery = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  fc.string({
    unit: fc.oneof({ arbitrary: queryPiece, weight: 5 }, codeUnit),
    maxLength: 30,
  }),
);

Deno.test("property: fromQuery returns valid events or throws InstructionError", () => {
  fc.assert(
    fc.property(anyQuery, (query) => {
      let result;
      try {
        result = fromQuery(query);
      } catch (error) {
        assert.ok(
          error instanceof InstructionError,
          `${JSON.stringify(query)} threw ${error}`,
        );
        return;
      }
      for (const event of result.events) {
        assert.ok(!RESERVED_PARAMETERS.has(event.type), event.type);
        assert.ok(event.type.length > 0);
        assert.doesNotMatch(event.type, FORBIDDEN_IN_NAME);
        assert.equal(typeof event.data, "string");
        if (event.id !== undefined) {
          assert.equal(result.events.length, 1, "an id needs a single event");
          assert.ok(event.id.length > 0);
          assert.doesNotMatch(event.id, LINE_BREAK_OR_NUL);
        }
      }
      for (const command of result.commands) {
        assert.ok(!RESERVED_PARAMETERS.has(command), command);
      }
    }),
    { numRuns: 2000 },
  );
});

/** An event type a query can carry: valid and not a reserved parameter. */
const queryType = validName.filter((t) => !RESERVED_PARAMETERS.has(t));

/** Encodes a query component, optionally with `+` for spaces as forms do. */
function encodeComponent(text: string, plusForSpace: boolean): string {
  const encoded = encodeURIComponent(text);
  return plusForSpace ? encoded.replaceAll("%20", "+") : encoded;
}

Deno.test("property: events encoded into a query come back the same, in order; reserved parameters are left out", () => {
  const reserved = fc.constantFrom(
    "lastEventId=42",
    "access_token=abc.def",
    "lastEventId",
    "access_token",
    "",
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          type: queryType,
          data: wellFormedData,
          plus: fc.boolean(),
          separator: fc.constantFrom("&", ";", "&&"),
          extra: reserved,
        }),
        { maxLength: 8 },
      ),
      fc.option(validId.map((id) => id.toWellFormed()), { nil: undefined }),
      (items, id) => {
        let query = "";
        for (const { type, data, plus, separator, extra } of items) {
          query += `${encodeComponent(type, plus)}=${
            encodeComponent(data, plus)
          }${separator}${extra}${separator}`;
        }
        const expected: SseEvent[] = items.map(({ type, data }) => ({
          type,
          data,
        }));
        if (id !== undefined && items.length === 1) {
          query = `id=${encodeURIComponent(id)}&${query}`;
          expected[0] = { ...expected[0], id };
        }
        assert.deepEqual(fromQuery(query), { events: expected, commands: [] });
      },
    ),
    { numRuns: 2000 },
  );
});

// ---------------------------------------------------------------------------
// POST bodies

const contentType = fc.oneof(
  fc.constantFrom(
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "APPLICATION/JSON; charset=utf-8",
    " text/plain ; charset=latin1",
    "application/x-www-form-urlencoded;",
    "",
    ";",
    "text/html",
    "multipart/form-data; boundary=x",
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
  ),
  fc.string({ maxLength: 20 }),
);

const anyBody = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  anyLine.map((s) => new TextEncoder().encode(s)),
  anyQuery.map((s) => new TextEncoder().encode(s)),
  fc.array(jsonLine, { maxLength: 4 }).map((lines) =>
    new TextEncoder().encode(`[${lines.join(",")}]`)
  ),
  fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v))),
);

const postQuery = fc.oneof(
  anyQuery,
  fc.record({
    event: fc.oneof(validName, hostileString),
    id: fc.oneof(validId, hostileString),
  }, { requiredKeys: [] }).map((o) => new URLSearchParams(o).toString()),
).map((s) => new URLSearchParams(s));

Deno.test("property: parsePostBody returns valid events or throws InstructionError or UnsupportedMediaTypeError", () => {
  fc.assert(
    fc.property(contentType, anyBody, postQuery, (type, body, query) => {
      let result;
      try {
        result = parsePostBody(type, body, query);
      } catch (error) {
        assert.ok(
          error instanceof InstructionError ||
            error instanceof UnsupportedMediaTypeError,
          `${JSON.stringify(type)} threw ${error}`,
        );
        return;
      }
      for (const event of result.events) {
        assert.ok(event.type.length > 0);
        assert.doesNotMatch(event.type, FORBIDDEN_IN_NAME);
        assert.equal(typeof event.data, "string");
        if (event.id !== undefined) {
          assert.ok(event.id.length > 0);
          assert.doesNotMatch(event.id, LINE_BREAK_OR_NUL);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: a JSON list of events posted as application/json round-trips", () => {
  const jsonEvent = fc.record({
    event: validName,
    data: anyData,
    id: validId,
  }, { requiredKeys: ["data"] });
  fc.assert(
    fc.property(
      fc.array(jsonEvent, { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
      ),
      (list, bare, type) => {
        // A single event may also be posted as a bare object.
        const value = bare && list.length === 1 ? list[0] : list;
        const body = new TextEncoder().encode(JSON.stringify(value));
        const expected: SseEvent[] = list.map((e) =>
          e.id === undefined
            ? { type: e.event ?? "message", data: e.data }
            : { type: e.event ?? "message", data: e.data, id: e.id }
        );
        assert.deepEqual(parsePostBody(type, body, new URLSearchParams()), {
          events: expected,
          commands: [],
        });
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: a text/plain body is the data of one event; type and id come from the query", () => {
  fc.assert(
    fc.property(
      wellFormedData,
      fc.option(validName, { nil: undefined }),
      fc.option(validId.map((id) => id.toWellFormed()), { nil: undefined }),
      (data, event, id) => {
        const query = new URLSearchParams();
        if (event !== undefined) query.set("event", event);
        if (id !== undefined) query.set("id", id);
        const result = parsePostBody(
          "text/plain",
          new TextEncoder().encode(data),
          query,
        );
        // UTF-8 decoding (WHATWG Encoding) drops one leading byte order mark.
        const text = data.startsWith("\ufeff") ? data.slice(1) : data;
        const type = event ?? "message";
        assert.deepEqual(result, {
          events: [
            id === undefined ? { type, data: text } : { type, data: text, id },
          ],
          commands: [],
        });
      },
    ),
    { numRuns: 1000 },
  );
});

// ---------------------------------------------------------------------------
// SSE encoder

interface ParsedEvent {
  type: string;
  data: string;
  lastEventId: string;
}

/**
 * A minimal event-stream parser following the HTML standard's EventSource
 * processing model: lines end at CRLF, CR or LF; `field: value` with one
 * optional space after the colon; data lines joined with LF; an event is
 * dispatched at a blank line (and only when it has data); a last event
 * without its blank line is discarded.
 */
function parseEventStream(stream: string): ParsedEvent[] {
  if (stream.startsWith("\ufeff")) stream = stream.slice(1);
  const lines = stream.split(/\r\n|\r|\n/);
  lines.pop(); // what follows the last line break is not a complete line
  const events: ParsedEvent[] = [];
  let data = "";
  let type = "";
  let lastEventId = "";
  for (const line of lines) {
    if (line === "") {
      if (data !== "") {
        events.push({
          type: type === "" ? "message" : type,
          data: data.endsWith("\n") ? data.slice(0, -1) : data,
          lastEventId,
        });
      }
      data = "";
      type = "";
      continue;
    }
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data += value + "\n";
    else if (field === "id" && !value.includes("\0")) lastEventId = value;
  }
  return events;
}

/** An event type the encoder must accept: no CR, LF or NUL. */
const encodableType = fc.oneof(
  fc.constant("message"),
  fc.string({ unit: fc.oneof(hostilePiece, codeUnit), minLength: 1 })
    .filter((t) => !LINE_BREAK_OR_NUL.test(t)),
);

Deno.test("property: an encoded event is one well-framed event that parses back to the original", () => {
  fc.assert(
    fc.property(
      encodableType,
      anyData,
      fc.option(validId, { nil: undefined }),
      (type, data, id) => {
        const event: SseEvent = id === undefined
          ? { type, data }
          : { type, data, id };
        const text = formatEvent(event);
        assert.ok(text.endsWith("\n\n"), "ends with a blank line");
        assert.ok(!text.includes("\r"), "no CR: line breaks are unambiguous");
        const lines = text.slice(0, -2).split("\n");
        // No blank line before the end: the event cannot end early.
        assert.ok(lines.every((l) => l !== ""), "no premature blank line");
        let i = 0;
        if (type !== "message") assert.equal(lines[i++], `event: ${type}`);
        if (id !== undefined) assert.equal(lines[i++], `id: ${id}`);
        const dataLines = lines.slice(i);
        assert.equal(dataLines.length, data.split(/\r\n|\r|\n/).length);
        for (const line of dataLines) assert.ok(line.startsWith("data: "));

        assert.deepEqual(parseEventStream(text), [{
          type,
          data: data.replace(/\r\n|\r/g, "\n"),
          lastEventId: id ?? "",
        }]);
        // encodeEvent sends the same text as UTF-8 (a lone surrogate becomes
        // U+FFFD, as any UTF-8 encoder does).
        assert.equal(
          new TextDecoder().decode(encodeEvent(event)),
          text.toWellFormed(),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("property: encodeEvent throws FieldError, and only that, for a type or id with CR, LF or NUL", () => {
  const broken = fc.tuple(
    fc.string({ maxLength: 8 }),
    fc.constantFrom("\r", "\n", "\r\n", "\0"),
    fc.string({ maxLength: 8 }),
  ).map(([a, bad, b]) => a + bad + b);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.record({ type: broken, data: anyData }),
        fc.record({ type: encodableType, data: anyData, id: broken }),
        fc.record({ type: broken, data: anyData, id: broken }),
      ),
      (event) => {
        assert.throws(() => encodeEvent(event), FieldError);
        assert.throws(() => formatEvent(event), FieldError);
      },
    ),
    { numRuns: 1000 },
  );
});

// ---------------------------------------------------------------------------
// Line splitting

/** What LineSplitStream should emit: the text's lines, as the spec says. */
function expectedLines(text: string, maxLength: number): LineItem[] {
  const lines = text.split("\n");
  // A final line break ends the last line; it does not start another.
  if (lines[lines.length - 1] === "") lines.pop();
  return lines
    .map((line) => line.endsWith("\r") ? line.slice(0, -1) : line)
    .map((line) =>
      line.length > maxLength
        ? { kind: "too-long", length: line.length }
        : { kind: "line", text: line }
    );
}

/** Cuts `text` at the given points (taken modulo its length + 1). */
function cut(text: string, points: number[]): string[] {
  const at = points.map((p) => p % (text.length + 1)).sort((a, b) => a - b);
  const chunks: string[] = [];
  let start = 0;
  for (const p of at) {
    chunks.push(text.slice(start, p)); // empty chunks happen, on purpose
    start = p;
  }
  chunks.push(text.slice(start));
  return chunks;
}

function splitLines(chunks: string[], maxLength: number): Promise<LineItem[]> {
  return Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new LineSplitStream(maxLength)),
  );
}

const lineText = fc.string({
  unit: fc.oneof(
    { arbitrary: fc.constantFrom("\r", "\n", "\r\n", "\r\r\n"), weight: 3 },
    { arbitrary: fc.constantFrom("a", "b", " ", "é", "😀", "\0"), weight: 4 },
    { arbitrary: codeUnit, weight: 1 },
  ),
  maxLength: 60,
});

/** True when the text's last line is a lone CR (see the test for it below). */
const endsWithLoneCrLine = (text: string) =>
  text === "\r" || text.endsWith("\n\r");

Deno.test("property: LineSplitStream emits the text's lines, however the text is cut into chunks", async () => {
  await fc.assert(
    fc.asyncProperty(
      lineText.filter((t) => !endsWithLoneCrLine(t)),
      fc.array(fc.nat(), { maxLength: 12 }),
      async (text, points) => {
        assert.deepEqual(
          await splitLines(cut(text, points), 10_000),
          expectedLines(text, 10_000),
        );
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: with a small limit every line is within it or reported too long with its true length", async () => {
  await fc.assert(
    fc.asyncProperty(
      lineText.filter((t) => !endsWithLoneCrLine(t)),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.integer({ min: 0, max: 8 }),
      async (text, points, max) => {
        const items = await splitLines(cut(text, points), max);
        for (const item of items) {
          if (item.kind === "line") assert.ok(item.text.length <= max);
          else assert.ok(item.length > max);
        }
        assert.deepEqual(items, expectedLines(text, max));
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: LineSplitStream: a lone CR as the last line of the input is an (empty) line", async () => {
  // "x\n" + "\r" at the end of the input: the CR ends an empty last line, as
  // "x\n" + "\n" would ("A CR still held back ends the last line, like a
  // line break", lib/line_reader.ts), and as "x\r" at the end gives "x".
  await fc.assert(
    fc.asyncProperty(
      lineText.map((t) => t === "" || t.endsWith("\n") ? t : t + "\n"),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.integer({ min: 0, max: 10_000 }),
      async (prefix, points, max) => {
        const text = prefix + "\r";
        assert.deepEqual(
          await splitLines(cut(text, points), max),
          expectedLines(text, max),
        );
      },
    ),
    { numRuns: 300 },
  );
});
