// Multi-line and escaped data through every input of the real program (GET,
// POST form/text/JSON, FIFO and control port, JSON lines and blocks), CR and
// CRLF as line ends, and attempts to inject SSE fields through the type, the
// id, the channel or the data.
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../helpers/server_process.ts";
import { connect, type SseConnection } from "../helpers/sse_client.ts";
import {
  type Controller,
  get,
  openController,
  post,
  writeFifo,
} from "../helpers/publishers.ts";

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";
const TEXT = "text/plain; charset=utf-8";
const enc = encodeURIComponent;

/** A server with every input, a controller and a subscriber on `news`. */
interface Setup extends AsyncDisposable {
  readonly server: RunningServer;
  readonly fifo: string;
  readonly ctl: Controller;
  readonly sub: SseConnection;
}

async function setUp(): Promise<Setup> {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  const server = await startServer(["-F", fifo, "-P", "0"], { control: true });
  const ctl = await openController(server.controlPort!);
  const sub = await connect(`${server.baseUrl}/news`);
  return {
    server,
    fifo,
    ctl,
    sub,
    async [Symbol.asyncDispose]() {
      await sub.close();
      await ctl.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Publishes one event of `type` with `data` on channel `news`. */
type Publish = (type: string, data: string) => Promise<void>;

/**
 * Every way to publish an event with arbitrary data. The line syntax
 * (`news/type = data`) is not among them: it cannot carry a line feed, nor
 * spaces at the ends of the data; tests use it where it can.
 */
function inputs(setup: Setup): Record<string, Publish> {
  const url = `${setup.server.baseUrl}/news`;
  const ok = (status: number, expected: number, body: string) =>
    assert.equal(status, expected, body);
  // A block's data is its lines; the terminator must not be one of them.
  const block = (type: string, data: string) => {
    assert.ok(!data.split("\n").includes("END"));
    return `news/${type} <<END\n${data}\nEND\n`;
  };
  const jsonLine = (type: string, data: string) =>
    `  ${JSON.stringify({ channel: "news", event: type, data })}  \n`;
  return {
    "GET query": async (type, data) => {
      const a = await get(`${url}?${enc(type)}=${enc(data)}`);
      ok(a.status, 200, a.body);
    },
    "POST form": async (type, data) => {
      const a = await post(url, `${enc(type)}=${enc(data)}`, FORM);
      ok(a.status, 202, a.body);
    },
    "POST text": async (type, data) => {
      const a = await post(`${url}?event=${enc(type)}`, data, TEXT);
      ok(a.status, 202, a.body);
    },
    "POST JSON": async (type, data) => {
      const a = await post(
        url,
        JSON.stringify({ event: type, data }),
        JSON_TYPE,
      );
      ok(a.status, 202, a.body);
    },
    "FIFO JSON line": (type, data) =>
      writeFifo(setup.fifo, jsonLine(type, data)),
    "FIFO block": (type, data) => writeFifo(setup.fifo, block(type, data)),
    "control JSON line": (type, data) => setup.ctl.send(jsonLine(type, data)),
    "control block": (type, data) => setup.ctl.send(block(type, data)),
  };
}

/** What EventSource makes of data: CRLF, CR and LF all end a line. */
const asReceived = (data: string) => data.replace(/\r\n|\r/g, "\n");

/** The `data:` lines the stream must carry for `data`. */
const dataLines = (data: string) =>
  data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join("");

/** Reads the next event and checks its type and data. */
async function expectEvent(
  sub: SseConnection,
  type: string,
  data: string,
  what: string,
): Promise<void> {
  const event = await sub.nextEvent();
  assert.deepEqual(
    { type: event.type, data: event.data },
    { type, data: asReceived(data) },
    what,
  );
  assert.ok(
    event.id !== undefined && event.id !== "1",
    `${what}: id ${event.id}`,
  );
  // The exact wire form: type, the server's id, one data: line per line.
  assert.ok(
    sub.raw().includes(
      `event: ${type}\nid: ${event.id}\n${dataLines(data)}\n`,
    ),
    `${what}: wire form of ${JSON.stringify(data)} not in ${
      JSON.stringify(sub.raw().slice(-400))
    }`,
  );
}

/** Fails if any line of the stream is a forged field. */
function assertNoForgedFields(sub: SseConnection): void {
  const lines = sub.raw().split("\n");
  const forged = lines.filter((line) =>
    line.startsWith("event: evil") || line === "id: 1" ||
    line.startsWith("id: 1\r")
  );
  assert.deepEqual(forged, [], "forged fields in the stream");
  assert.ok(!sub.raw().includes("\r"), "a CR went out on the wire");
}

const MULTI_LINE = [
  "  first line, with spaces at both ends  ",
  '\tsecond: a tab, a backslash \\ and "quotes" = sign',
  "",
  "  fourth, after an empty line",
  "   ",
].join("\n");

Deno.test("multi-line: data with line breaks, tabs, escapes and edge spaces round-trips through every input", async () => {
  await using setup = await setUp();
  const { sub } = setup;
  // The JSON lines really use the escapes \n \t \\ \".
  const line = JSON.stringify({ channel: "news", data: MULTI_LINE });
  for (const escape of ["\\n", "\\t", "\\\\", '\\"']) {
    assert.ok(line.includes(escape), escape);
  }
  const texts = [MULTI_LINE, "\nempty first and last lines\n", "one line"];
  for (const [name, publish] of Object.entries(inputs(setup))) {
    for (const text of texts) {
      await publish("note", text);
      await expectEvent(sub, "note", text, `${name} ${JSON.stringify(text)}`);
    }
  }
  // The GET query's %0A, written out by hand rather than by encodeURIComponent.
  const a = await get(
    `${setup.server.baseUrl}/news?note=%20%20one%0A%09two%20%0A%0Afour`,
  );
  assert.equal(a.status, 200, a.body);
  await expectEvent(sub, "note", "  one\n\ttwo \n\nfour", "GET %0A");
  // A block keeps lines that look like instructions, fields or its own
  // terminator with spaces, and ends only at the exact terminator.
  const tricky = ["news = not an instruction", "halt", " END", "END ", "x"]
    .join("\n");
  await writeFifo(setup.fifo, `news <<END\n${tricky}\nEND\n`);
  await expectEventOfMessage(sub, tricky, "FIFO block, type message");
  await setup.ctl.send(`news <<EOT\n${tricky}\nEOT\n`);
  await expectEventOfMessage(sub, tricky, "control block, type message");
  assertNoForgedFields(sub);
  assert.deepEqual(setup.ctl.received(), []);
});

async function expectEventOfMessage(
  sub: SseConnection,
  data: string,
  what: string,
): Promise<void> {
  const event = await sub.nextEvent();
  assert.deepEqual({ type: event.type, data: event.data }, {
    type: "message",
    data,
  }, what);
  assert.ok(
    sub.raw().includes(`id: ${event.id}\n${dataLines(data)}\n`),
    `${what}: wire form`,
  );
}

Deno.test("multi-line: CRLF and lone CR in data become separate data: lines on every input", async () => {
  await using setup = await setUp();
  const { sub } = setup;
  const text = "one\r\ntwo\rthree\n\r\nfive\r";
  for (const [name, publish] of Object.entries(inputs(setup))) {
    await publish("note", text);
    if (name.endsWith("block")) {
      // A block is made of lines: the CR before each LF ends the line with
      // it (as on the FIFO and control port everywhere); lone CRs stay.
      await expectEvent(sub, "note", "one\ntwo\rthree\n\nfive", name);
    } else {
      await expectEvent(sub, "note", text, name);
    }
  }
  // The line syntax carries a lone CR inside the data too.
  await writeFifo(setup.fifo, "news/note = a\rb\r\rd\n");
  await expectEvent(sub, "note", "a\rb\r\rd", "FIFO line");
  await setup.ctl.send("news/note = a\rb\r\rd\n");
  await expectEvent(sub, "note", "a\rb\r\rd", "control line");
  await setup.ctl.send("news/note = crlf at the end\r\n");
  await expectEvent(sub, "note", "crlf at the end", "control line CRLF");
  assertNoForgedFields(sub);
  assert.deepEqual(setup.ctl.received(), []);
});

/** Bad event types, ids and channels, as JSON text (no channel key). */
const BAD_JSON_EVENTS: { json: Record<string, string>; reason: RegExp }[] = [
  {
    json: { event: "note\nevent: evil", data: "x" },
    reason: /event type .* contains the control character U\+000A/,
  },
  {
    json: { event: "note\revil", data: "x" },
    reason: /event type .* contains the control character U\+000D/,
  },
  {
    json: { data: "x", id: "7\nevent: evil" },
    reason: /event id .* contains a line break or NUL/,
  },
  {
    json: { data: "x", id: "7\r\nid: 1" },
    reason: /event id .* contains a line break or NUL/,
  },
  {
    json: { data: "x", id: "7\r" },
    reason: /event id .* contains a line break or NUL/,
  },
];

Deno.test("injection: a CR or LF in the type, id or channel is refused on HTTP with 400, nothing published", async () => {
  await using setup = await setUp();
  const { sub, server } = setup;
  const base = server.baseUrl;
  const refusals: [string, () => Promise<{ status: number; body: string }>][] =
    [
      ["GET type LF", () => get(`${base}/news?note%0Aevent:%20evil=x`)],
      ["GET type CR", () => get(`${base}/news?note%0Devil=x`)],
      ["GET id LF", () => get(`${base}/news?note=x&id=7%0Aevent:%20evil`)],
      ["GET id CRLF", () => get(`${base}/news?note=x&id=7%0D%0Aid:%201`)],
      ["GET channel LF", () => get(`${base}/news%0Aevent:%20evil?note=x`)],
      ["GET channel CR", () => get(`${base}/news%0D?note=x`)],
      [
        "GET lastEventId LF",
        () => get(`${base}/news?lastEventId=7%0Aevent:%20evil`),
      ],
      ["form type LF", () => post(`${base}/news`, "note%0Aevil=x", FORM)],
      ["form type CR", () => post(`${base}/news`, "note%0Devil=x", FORM)],
      ["form id", () => post(`${base}/news`, "note=x&id=7%0Aid:%201", FORM)],
      ["form channel", () => post(`${base}/news%0Aevil`, "note=x", FORM)],
      [
        "text type",
        () => post(`${base}/news?event=note%0Aevent:%20evil`, "x", TEXT),
      ],
      ["text type CR", () => post(`${base}/news?event=note%0D`, "x", TEXT)],
      ["text id", () => post(`${base}/news?id=7%0D%0Aid:%201`, "x", TEXT)],
      ["text channel", () => post(`${base}/news%0D%0Aevil`, "x", TEXT)],
      ...BAD_JSON_EVENTS.map((bad, i) =>
        [
          `JSON ${i}`,
          () => post(`${base}/news`, JSON.stringify(bad.json), JSON_TYPE),
        ] as [string, () => Promise<{ status: number; body: string }>]
      ),
      [
        "JSON channel",
        () => post(`${base}/news%0Aevil`, '{"data":"x"}', JSON_TYPE),
      ],
    ];
  for (const [what, send] of refusals) {
    const answer = await send();
    assert.equal(answer.status, 400, `${what}: ${answer.body}`);
    assert.match(
      answer.body,
      /control character U\+000[AD]|line break or NUL/,
      what,
    );
  }
  const marker = await get(`${base}/news?marker=http`);
  assert.equal(marker.status, 200);
  const next = await sub.nextEvent();
  assert.deepEqual([next.type, next.data], ["marker", "http"]);
  assertNoForgedFields(sub);
});

/** Lines for the FIFO and the control port, each of which must be refused. */
const BAD_LINES: { line: string; reason: RegExp }[] = [
  ...BAD_JSON_EVENTS.map((bad) => ({
    line: JSON.stringify({ channel: "news", ...bad.json }),
    reason: bad.reason,
  })),
  {
    line: JSON.stringify({ channel: "news\nevent: evil", data: "x" }),
    reason: /channel .* contains the control character U\+000A/,
  },
  {
    line: JSON.stringify({ channel: "news\r", data: "x" }),
    reason: /channel .* contains the control character U\+000D/,
  },
  {
    line: "news/note\revil = x",
    reason: /event type .* contains the control character U\+000D/,
  },
  {
    line: "news\revil/note = x",
    reason: /channel .* contains the control character U\+000D/,
  },
  {
    line: "news/note\revil <<END",
    reason: /no '=' in/,
  },
];

Deno.test("injection: a CR or LF in the type, id or channel is refused on the FIFO and the control port", async () => {
  await using setup = await setUp();
  const { sub, server, ctl, fifo } = setup;
  const text = BAD_LINES.map((bad) => bad.line).join("\n") + "\n";

  await ctl.send(text + "news/marker = control\n");
  const errors = await ctl.waitForLines(BAD_LINES.length);
  assert.equal(errors.length, BAD_LINES.length);
  BAD_LINES.forEach((bad, i) => {
    assert.match(errors[i], /^error: /, bad.line);
    assert.match(errors[i], bad.reason, bad.line);
  });
  let next = await sub.nextEvent();
  assert.deepEqual([next.type, next.data], ["marker", "control"]);

  const from = server.output().length;
  await writeFifo(fifo, text + "news/marker = fifo\n");
  next = await sub.nextEvent();
  assert.deepEqual([next.type, next.data], ["marker", "fifo"]);
  // Each bad line is logged with its source before the marker's publish.
  await server.waitForOutput(/fifo \S+ published marker=/, 5000, from);
  const logged = server.output().slice(from).split("\n").filter((l) =>
    /fifo \S+sse\.fifo: .*line ignored/.test(l)
  );
  assert.equal(logged.length, BAD_LINES.length, logged.join("\n"));
  BAD_LINES.forEach((bad, i) => assert.match(logged[i], bad.reason, bad.line));
  assertNoForgedFields(sub);
  assert.doesNotMatch(sub.raw(), /evil/);
});

const FORGERIES = [
  "x\n\nevent: evil\ndata: x",
  "x\r\nid: 1",
  "\r\n\r\nevent: evil\r\nid: 1\r\ndata: y",
  "x\revent: evil\rid: 1",
];

Deno.test("injection: fields forged inside the data are neutralised on every input", async () => {
  await using setup = await setUp();
  const { sub, ctl, fifo } = setup;
  let sent = 0;
  for (const [name, publish] of Object.entries(inputs(setup))) {
    for (const forged of FORGERIES) {
      await publish("note", forged);
      sent++;
      const data = name.endsWith("block")
        ? forged.replace(/\r\n/g, "\n") // a block's lines end at LF or CRLF
        : forged;
      await expectEvent(sub, "note", data, `${name} ${JSON.stringify(forged)}`);
    }
  }
  // The line syntax: only a lone CR can get into its data.
  for (const send of [(t: string) => writeFifo(fifo, t), ctl.send]) {
    await send("news/note = x\r\revent: evil\rid: 1\n");
    sent++;
    await expectEvent(sub, "note", "x\r\revent: evil\rid: 1", "line syntax");
  }
  // One event per publish, each of the intended type: nothing was split off.
  const types = sub.raw().split("\n").filter((l) => l.startsWith("event:"));
  assert.deepEqual(types, Array(sent).fill("event: note"));
  assertNoForgedFields(sub);
  assert.deepEqual(ctl.received(), []);
});
