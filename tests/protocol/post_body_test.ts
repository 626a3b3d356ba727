import assert from "node:assert/strict";
import { InstructionError } from "../../lib/protocol/instruction.ts";
import {
  BodyTooLargeError,
  fromQuery,
  parsePostBody,
  readBody,
  RESERVED_PARAMETERS,
  UnsupportedMediaTypeError,
} from "../../lib/protocol/post_body.ts";

const encoder = new TextEncoder();
const FORM = "application/x-www-form-urlencoded";
const PLAIN = "text/plain";
const JSON_TYPE = "application/json";
const URL_BASE = "http://localhost/news/";

function parse(contentType: string, body: string | Uint8Array, query = "") {
  return parsePostBody(
    contentType,
    typeof body === "string" ? encoder.encode(body) : body,
    new URLSearchParams(query),
  );
}

/** Asserts that parsing is refused with an InstructionError matching `message`. */
function assertRefused(
  contentType: string,
  body: string | Uint8Array,
  message: RegExp,
  query = "",
) {
  assert.throws(
    () => parse(contentType, body, query),
    (error: unknown) => {
      assert.ok(error instanceof InstructionError, String(error));
      assert.match(error.message, message);
      return true;
    },
    `expected ${contentType} ${
      JSON.stringify(typeof body === "string" ? body : [...body])
    } ?${query} to be refused`,
  );
}

/** Fails instead of hanging when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms: ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// application/x-www-form-urlencoded

Deno.test("parsePostBody: a form body is read like a GET query", () => {
  const body = "q1=go&q2=two+words%21;status&empty=&&news=a%3Db%26c";
  const parsed = parse(FORM, body);
  assert.deepEqual(parsed, {
    events: [
      { type: "q1", data: "go" },
      { type: "q2", data: "two words!" },
      { type: "empty", data: "" },
      { type: "news", data: "a=b&c" },
    ],
    commands: ["status"],
  });
  assert.deepEqual(parsed, fromQuery(body));
});

Deno.test("parsePostBody: reserved form parameters are neither events nor commands", () => {
  assert.deepEqual([...RESERVED_PARAMETERS].sort(), [
    "access_token",
    "id",
    "lastEventId",
  ]);
  assert.deepEqual(
    parse(
      FORM,
      "lastEventId=abc-5&access_token=secret&news=hi&lastEventId&access_token&id",
    ),
    { events: [{ type: "news", data: "hi" }], commands: [] },
  );
});

Deno.test("parsePostBody: form id= sets the id of the only event", () => {
  assert.deepEqual(parse(FORM, "id=abc-1&news=hi"), {
    events: [{ type: "news", data: "hi", id: "abc-1" }],
    commands: [],
  });
  // The order does not matter, nor do commands.
  assert.deepEqual(parse(FORM, "news=hi&status&id=7%20x"), {
    events: [{ type: "news", data: "hi", id: "7 x" }],
    commands: ["status"],
  });
  // Without id= there is no id key at all.
  assert.deepEqual(parse(FORM, "news=hi").events, [
    { type: "news", data: "hi" },
  ]);
});

Deno.test("parsePostBody: form id= with two events is refused", () => {
  assertRefused(FORM, "id=1&a=x&b=y", /exactly one event, got 2/);
  assertRefused(FORM, "a=x&id=1&b=y&c=z", /exactly one event, got 3/);
  // Without events there is no event to give it to: nothing to publish
  // (a GET of that kind is a subscription), and the id is not an event.
  assert.deepEqual(parse(FORM, "id=1"), { events: [], commands: [] });
  assert.deepEqual(parse(FORM, "id=1&status"), {
    events: [],
    commands: ["status"],
  });
});

Deno.test("parsePostBody: form ids with CR, LF or NUL, or empty, are refused", () => {
  assertRefused(FORM, "id=&news=hi", /empty event id/);
  for (const bad of ["a%0Ab", "a%0Db", "a%0D%0Aevent:%20forged", "a%00b"]) {
    assertRefused(FORM, `id=${bad}&news=hi`, /line break or NUL/);
  }
});

Deno.test("parsePostBody: form event types with spaces, CR or LF are refused", () => {
  for (const bad of ["a+b", "a%20b", "a%0Ab", "a%0Db", "a%09b"]) {
    assertRefused(FORM, `${bad}=data`, /event type/);
  }
  assertRefused(FORM, "news=x&ok%=bad", /malformed %-escape/);
});

// ---------------------------------------------------------------------------
// text/plain

Deno.test("parsePostBody: a text/plain body is the data of one message event", () => {
  const body = "  line one\nline two = x & y\r\nlast  ";
  assert.deepEqual(parse(PLAIN, body), {
    events: [{ type: "message", data: body }],
    commands: [],
  });
  assert.deepEqual(parse(PLAIN, ""), {
    events: [{ type: "message", data: "" }],
    commands: [],
  });
});

Deno.test("parsePostBody: text/plain takes its type from ?event= and its id from ?id=", () => {
  assert.deepEqual(parse(PLAIN, "hello", "event=news&id=n-1"), {
    events: [{ type: "news", data: "hello", id: "n-1" }],
    commands: [],
  });
  assert.deepEqual(parse(PLAIN, "hello", "event=news").events, [
    { type: "news", data: "hello" },
  ]);
  assert.deepEqual(parse(PLAIN, "hello", "id=42").events, [
    { type: "message", data: "hello", id: "42" },
  ]);
  // Other parameters are not events here.
  assert.deepEqual(parse(PLAIN, "hello", "q1=go&status").events, [
    { type: "message", data: "hello" },
  ]);
});

Deno.test("parsePostBody: text/plain refuses bad ?event= and ?id=", () => {
  for (const bad of ["a b", "a\nb", "a\rb", "", "a/b"]) {
    assertRefused(
      PLAIN,
      "x",
      /event type/,
      new URLSearchParams({ event: bad }).toString(),
    );
  }
  assertRefused(PLAIN, "x", /empty event id/, "id=");
  for (const bad of ["a\nb", "a\rb", "a\r\nid: forged", "a\0b"]) {
    assertRefused(
      PLAIN,
      "x",
      /line break or NUL/,
      new URLSearchParams({ id: bad }).toString(),
    );
  }
});

// ---------------------------------------------------------------------------
// Content-Type parameters

Deno.test("parsePostBody: charset and other parameters of the Content-Type are accepted", () => {
  for (
    const type of [
      "text/plain; charset=utf-8",
      "text/plain;charset=UTF-8",
      "TEXT/PLAIN; Charset=utf-8",
      " text/plain ; charset=utf-8 ",
    ]
  ) {
    assert.deepEqual(parse(type, "hi").events, [
      { type: "message", data: "hi" },
    ], type);
  }
  for (
    const type of [
      "application/json; charset=utf-8",
      "Application/JSON;charset=UTF-8",
    ]
  ) {
    assert.deepEqual(parse(type, '{"data":"hi"}').events, [
      { type: "message", data: "hi" },
    ], type);
  }
  assert.deepEqual(parse(`${FORM}; charset=UTF-8`, "a=b").events, [
    { type: "a", data: "b" },
  ]);
});

// ---------------------------------------------------------------------------
// application/json

Deno.test("parsePostBody: a JSON object is one event", () => {
  assert.deepEqual(
    parse(JSON_TYPE, '{"event":"news","data":"a\\nb \\u00e9","id":"n-1"}'),
    {
      events: [{ type: "news", data: "a\nb \u00e9", id: "n-1" }],
      commands: [],
    },
  );
  // event defaults to message; no id, no id key.
  assert.deepEqual(parse(JSON_TYPE, ' { "data" : "  spaced  " } ').events, [
    { type: "message", data: "  spaced  " },
  ]);
});

Deno.test("parsePostBody: a JSON list is several events, in order", () => {
  assert.deepEqual(
    parse(
      JSON_TYPE,
      '[{"event":"a","data":"1"},{"data":"2","id":"x"},{"event":"c","data":"3"}]',
    ),
    {
      events: [
        { type: "a", data: "1" },
        { type: "message", data: "2", id: "x" },
        { type: "c", data: "3" },
      ],
      commands: [],
    },
  );
});

Deno.test("parsePostBody: JSON data that is not a string is sent as its JSON text", () => {
  const cases: [string, string][] = [
    ['{"a":[1,2],"b":{"c":null}}', '{"a":[1,2],"b":{"c":null}}'],
    ["42", "42"],
    ["1.5e3", "1500"],
    ["true", "true"],
    ["null", "null"],
    ['["x","y"]', '["x","y"]'],
  ];
  for (const [json, data] of cases) {
    assert.deepEqual(
      parse(JSON_TYPE, `{"data": ${json}}`).events,
      [{ type: "message", data }],
      json,
    );
  }
});

Deno.test("parsePostBody: an unknown JSON field is refused by name", () => {
  assertRefused(
    JSON_TYPE,
    '{"data":"x","evnt":"news"}',
    /unknown field "evnt"/,
  );
  // channel comes from the URL, not the body.
  assertRefused(JSON_TYPE, '{"channel":"a","data":"x"}', /"channel"/);
  // In a list, the message says which event.
  assertRefused(
    JSON_TYPE,
    '[{"data":"x"},{"data":"y","retry":5}]',
    /event 1: unknown field "retry"/,
  );
});

Deno.test("parsePostBody: JSON without data, with no event, or not JSON is refused", () => {
  assertRefused(JSON_TYPE, '{"event":"news"}', /needs "data"/);
  assertRefused(JSON_TYPE, '[{"data":"x"},{"id":"y"}]', /event 1: .*"data"/);
  assertRefused(JSON_TYPE, "[]", /no event/);
  assertRefused(JSON_TYPE, "{", /not valid JSON/);
  assertRefused(JSON_TYPE, '{"data":"x"} trailing', /not valid JSON/);
  assertRefused(JSON_TYPE, "", /not valid JSON/);
  assertRefused(JSON_TYPE, '"just a string"', /JSON object/);
  assertRefused(JSON_TYPE, "[1]", /JSON object/);
  assertRefused(JSON_TYPE, "[[]]", /JSON object/);
  assertRefused(
    JSON_TYPE,
    '{"data":"x","event":5}',
    /"event" must be a string/,
  );
  assertRefused(JSON_TYPE, '{"data":"x","id":5}', /"id" must be a string/);
});

Deno.test("parsePostBody: JSON ids with CR, LF or NUL, or empty, are refused", () => {
  assertRefused(JSON_TYPE, '{"data":"x","id":""}', /empty event id/);
  for (const bad of ["a\\nb", "a\\rb", "a\\r\\nevent: forged", "a\\u0000b"]) {
    assertRefused(
      JSON_TYPE,
      `{"data":"x","id":"${bad}"}`,
      /line break or NUL/,
    );
  }
});

Deno.test("parsePostBody: JSON event types with spaces, CR or LF are refused", () => {
  for (const bad of ["a b", "a\\nb", "a\\rb", "a\\tb", "", "a=b", "a/b"]) {
    assertRefused(
      JSON_TYPE,
      `{"event":"${bad}","data":"x"}`,
      /event type/,
    );
  }
});

// ---------------------------------------------------------------------------
// Encoding and content types

Deno.test("parsePostBody: a body that is not valid UTF-8 is refused", () => {
  const bodies = [
    new Uint8Array([0xff]),
    new Uint8Array([0x61, 0x3d, 0xc3]), // "a=" and half of a character
    new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]), // a surrogate
  ];
  for (const type of [FORM, PLAIN, JSON_TYPE]) {
    for (const body of bodies) assertRefused(type, body, /UTF-8/);
  }
  // Valid multi-byte UTF-8 is fine.
  assert.deepEqual(parse(PLAIN, "h\u00e9 \u{1f600}").events, [
    { type: "message", data: "h\u00e9 \u{1f600}" },
  ]);
});

Deno.test("parsePostBody: other or missing content types are refused as unsupported", () => {
  for (
    const type of [
      "text/html",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "text/plain-ish",
      "application/octet-stream",
    ]
  ) {
    assert.throws(
      () => parse(type, "a=b"),
      (error: unknown) => {
        assert.ok(error instanceof UnsupportedMediaTypeError, String(error));
        assert.ok(!(error instanceof InstructionError));
        assert.match(error.message, /application\/json/);
        return true;
      },
      type,
    );
  }
  for (const type of ["", "  ", "; charset=utf-8"]) {
    assert.throws(
      () => parse(type, "a=b"),
      (error: unknown) => {
        assert.ok(error instanceof UnsupportedMediaTypeError, String(error));
        assert.match(error.message, /without Content-Type/);
        return true;
      },
      JSON.stringify(type),
    );
  }
});

// ---------------------------------------------------------------------------
// readBody

/** A stream of `total` bytes in chunks of `chunk`, counting what was pulled. */
function byteStream(total: number, chunk: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(chunk, total - state.pulled);
      if (n === 0) {
        controller.close();
        return;
      }
      state.pulled += n;
      controller.enqueue(new Uint8Array(n).fill(0x61));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** A body that never ends. */
function endlessStream(chunk: number) {
  return byteStream(Number.POSITIVE_INFINITY, chunk);
}

function streamedRequest(
  body: ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): Request {
  return new Request(URL_BASE, {
    method: "POST",
    body,
    headers,
    duplex: "half",
  } as RequestInit);
}

async function assertTooLarge(promise: Promise<unknown>, what: string) {
  await within(
    assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof BodyTooLargeError, String(error));
      assert.equal(error.name, "BodyTooLargeError");
      return true;
    }),
    2000,
    what,
  );
}

Deno.test("readBody: a body exactly at the limit is accepted", async () => {
  const limit = 100;
  const withLength = new Request(URL_BASE, {
    method: "POST",
    body: "a".repeat(limit),
    headers: { "content-length": String(limit) },
  });
  assert.equal((await readBody(withLength, limit)).length, limit);
  const { stream } = byteStream(limit, 7);
  const body = await readBody(streamedRequest(stream), limit);
  assert.equal(body.length, limit);
  assert.ok(body.every((byte) => byte === 0x61));
});

Deno.test("readBody: the body's bytes come back whole and in order", async () => {
  const text = "h\u00e9llo, \u{1f600} w\u00f6rld";
  const request = new Request(URL_BASE, { method: "POST", body: text });
  assert.equal(new TextDecoder().decode(await readBody(request, 1000)), text);
  // No body at all.
  const empty = new Request(URL_BASE, { method: "POST" });
  assert.equal((await readBody(empty, 10)).length, 0);
});

Deno.test("readBody: one byte over the limit is refused by Content-Length", async () => {
  const limit = 100;
  const request = new Request(URL_BASE, {
    method: "POST",
    body: "a".repeat(limit + 1),
    headers: { "content-length": String(limit + 1) },
  });
  await assertTooLarge(readBody(request, limit), "Content-Length");
  // Content-Length alone is enough: the body is not read, but cancelled.
  const { stream, state } = endlessStream(1024);
  await assertTooLarge(
    readBody(
      streamedRequest(stream, { "content-length": String(limit + 1) }),
      limit,
    ),
    "declared length with an endless body",
  );
  // At most the one chunk a stream pulls ahead by itself.
  assert.ok(state.pulled <= 1024, `${state.pulled} bytes were read`);
  assert.equal(state.cancelled, true, "the body was not cancelled");
});

Deno.test("readBody: one byte over the limit is refused while streaming without Content-Length", async () => {
  const limit = 100;
  for (const chunk of [1, 7, 101, 1000]) {
    const { stream } = byteStream(limit + 1, chunk);
    const request = streamedRequest(stream);
    assert.equal(request.headers.get("content-length"), null);
    await assertTooLarge(readBody(request, limit), `chunks of ${chunk}`);
  }
});

Deno.test("readBody: a Content-Length that understates the body does not help", async () => {
  const { stream } = byteStream(1000, 100);
  await assertTooLarge(
    readBody(streamedRequest(stream, { "content-length": "10" }), 500),
    "lying Content-Length",
  );
});

Deno.test("readBody: an endless body is refused at the limit, not read forever", async () => {
  const limit = 64 * 1024;
  const chunk = 4096;
  const { stream, state } = endlessStream(chunk);
  await assertTooLarge(
    readBody(streamedRequest(stream), limit),
    "endless body",
  );
  // Reading stopped near the limit (streams may pull a little ahead).
  assert.ok(
    state.pulled <= limit + 4 * chunk,
    `${state.pulled} bytes pulled for a limit of ${limit}`,
  );
  // And the body is cancelled, so its source stops producing.
  assert.equal(state.cancelled, true, "the body was not cancelled");
});

Deno.test("readBody: a body that arrived with the head is taken as it is, with no stream read; an oversize one is still refused first", async () => {
  const bytes = new TextEncoder().encode("arrived");
  let streamRead = false;
  const source = {
    headers: new Headers({ "content-length": String(bytes.length) }),
    get body() {
      streamRead = true;
      return null;
    },
    bufferedBody: () => bytes,
  };
  assert.equal(await readBody(source, 100), bytes);
  assert.ok(!streamRead);
  await assertTooLarge(readBody(source, 3), "declared over the limit");
});
