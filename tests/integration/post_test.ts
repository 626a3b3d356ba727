// Publishing by POST against the real program: each content type, the JSON
// answer with the events' ids, refusals that publish nothing, the body size
// limit, commands, --no-get-publish and the CORS preflight.
import assert from "node:assert/strict";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect, type SseConnection, take } from "../helpers/sse_client.ts";
import {
  type Answer,
  get,
  jsonOf,
  post,
  type PostResult,
  rawRequest,
} from "../helpers/publishers.ts";

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";
const TEXT = "text/plain; charset=utf-8";

/** Checks a 202 answer and returns its `{ids, clients}`. */
function accepted(answer: Answer, what: string): PostResult {
  assert.equal(answer.status, 202, `${what}: ${answer.body}`);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
  const result = jsonOf<PostResult>(answer);
  assert.deepEqual(Object.keys(result).sort(), ["clients", "ids"]);
  return result;
}

/** Checks a refusal: the status and a JSON `{"error": "..."}` body. */
function refused(answer: Answer, status: number, what: string): string {
  assert.equal(answer.status, status, `${what}: ${answer.body}`);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
  const body = jsonOf<{ error: unknown }>(answer);
  assert.deepEqual(Object.keys(body), ["error"], what);
  assert.equal(typeof body.error, "string", what);
  assert.match(body.error as string, /nothing was published/, what);
  return body.error as string;
}

/**
 * Publishes a marker and checks it is the next event of every subscriber:
 * proof that nothing else was published before it.
 */
async function expectOnlyMarker(
  url: string,
  subs: SseConnection[],
  label: string,
): Promise<void> {
  const marker = await post(`${url}?event=marker`, label, TEXT);
  accepted(marker, "marker");
  for (const sub of subs) {
    const next = await sub.nextEvent();
    assert.deepEqual(
      { type: next.type, data: next.data },
      { type: "marker", data: label },
      `something was published before marker ${label}`,
    );
  }
}

testBothEngines(
  "POST: form, text and JSON bodies publish; the answer lists the ids the subscribers see",
  async (engine) => {
    await using server = await startServer([], { engine });
    const url = `${server.baseUrl}/c`;
    await using sub = await connect(url);
    await using all = await connect(`${server.baseUrl}/`);
    await using other = await connect(`${server.baseUrl}/other`);

    // Form: like the GET query, one event per parameter.
    const form = accepted(
      await post(url, "a=1&b=two+words&message=x%0Ay%3Dz", FORM),
      "form",
    );
    assert.equal(form.clients, 2);
    assert.equal(form.ids.length, 3);
    const formEvents = await take(sub, 3);
    assert.deepEqual(formEvents, [
      { type: "a", data: "1", id: form.ids[0] },
      { type: "b", data: "two words", id: form.ids[1] },
      { type: "message", data: "x\ny=z", id: form.ids[2] },
    ]);
    assert.deepEqual(await take(all, 3), formEvents);
    assert.equal(new Set(form.ids).size, 3);
    for (const id of form.ids) assert.ok(typeof id === "string" && id !== "");

    // Form with id=: the id of the request's one event.
    const formId = accepted(await post(url, "note=hi&id=form-1", FORM), "id=");
    assert.deepEqual(formId, { ids: ["form-1"], clients: 2 });
    assert.deepEqual(await sub.nextEvent(), {
      type: "note",
      data: "hi",
      id: "form-1",
    });

    // text/plain: the body is the data of one event; type and id from the URL.
    const text = "line one\n  line two  \n\nline four";
    const plain = accepted(
      await post(`${url}?event=note&id=my-7`, text, TEXT),
      "text",
    );
    assert.deepEqual(plain, { ids: ["my-7"], clients: 2 });
    assert.deepEqual(await sub.nextEvent(), {
      type: "note",
      data: text,
      id: "my-7",
    });
    assert.ok(
      sub.raw().includes(
        "event: note\nid: my-7\ndata: line one\ndata:   line two  \ndata: \ndata: line four\n\n",
      ),
      "multi-line text is sent as several data: lines",
    );
    const plainDefault = accepted(await post(url, "just text", TEXT), "text");
    assert.equal(plainDefault.ids.length, 1);
    assert.deepEqual(await sub.nextEvent(), {
      type: "message",
      data: "just text",
      id: plainDefault.ids[0],
    });

    // JSON: one object, and a list.
    const one = accepted(
      await post(
        url,
        JSON.stringify({ event: "upd", data: "x\ny" }),
        JSON_TYPE,
      ),
      "JSON object",
    );
    assert.equal(one.clients, 2);
    assert.deepEqual(await sub.nextEvent(), {
      type: "upd",
      data: "x\ny",
      id: one.ids[0],
    });
    const list = accepted(
      await post(
        url,
        JSON.stringify([
          { data: "first" },
          { event: "t", data: "second", id: "j-1" },
          { data: { k: [1, 2] } },
        ]),
        JSON_TYPE,
      ),
      "JSON list",
    );
    assert.equal(list.ids.length, 3);
    assert.equal(list.ids[1], "j-1");
    assert.deepEqual(await take(sub, 3), [
      { type: "message", data: "first", id: list.ids[0] },
      { type: "t", data: "second", id: "j-1" },
      { type: "message", data: '{"k":[1,2]}', id: list.ids[2] },
    ]);
    // Every id the answers gave is exactly an id: line of the stream.
    const idLines = sub.raw().split("\n").filter((l) => l.startsWith("id:"));
    assert.deepEqual(
      idLines,
      [
        ...form.ids,
        ...formId.ids,
        ...plain.ids,
        ...plainDefault.ids,
        ...one.ids,
        ...list.ids,
      ].map((id) => `id: ${id}`),
    );
    await expectOnlyMarker(`${server.baseUrl}/other`, [other], "other-1");
    assert.equal(
      other.raw().split("\n\n").length - 1,
      1,
      "other got only the marker",
    );
  },
);

testBothEngines(
  "POST: bad bodies get 400 with a JSON error, and publish nothing",
  async (engine) => {
    await using server = await startServer([], { engine });
    const url = `${server.baseUrl}/c`;
    await using sub = await connect(url);
    await using all = await connect(`${server.baseUrl}/`);
    const cases: [string, string | Uint8Array<ArrayBuffer>, string][] = [
      ["", "{not json", JSON_TYPE],
      ["", "[]", JSON_TYPE],
      ["", '"just a string"', JSON_TYPE],
      ["", "null", JSON_TYPE],
      ["", '{"data":"x","bogus":1}', JSON_TYPE],
      ["", '{"event":"t"}', JSON_TYPE],
      ["", '{"channel":"c","data":"x"}', JSON_TYPE],
      ["", '{"event":"bad type","data":"x"}', JSON_TYPE],
      ["", '{"event":"a\\nb","data":"x"}', JSON_TYPE],
      ["", '{"data":"x","id":""}', JSON_TYPE],
      ["", '{"data":"x","id":5}', JSON_TYPE],
      ["", '{"data":"x","id":"a\\u0000b"}', JSON_TYPE],
      // One bad event spoils the whole list: the good one is not sent either.
      ["", '[{"data":"ok"},{"event":"bad type","data":"x"}]', JSON_TYPE],
      ["?event=bad%20type", "x", TEXT],
      ["?event=", "x", TEXT],
      ["?id=a%0Ab", "x", TEXT],
      ["", new Uint8Array([0x6f, 0x6b, 0xff, 0xfe]), TEXT],
      ["", "a=%zz", FORM],
      ["", "bad%20type=x", FORM],
      ["", "", FORM],
      ["", "message=x&message=y&id=z", FORM],
      ["", "message=ok&nope", FORM],
    ];
    for (const [query, body, type] of cases) {
      const what = `${type} ${query} ${
        typeof body === "string" ? JSON.stringify(body) : "bytes"
      }`;
      refused(await post(url + query, body, type), 400, what);
    }
    await expectOnlyMarker(url, [sub, all], "after-400");
    assert.doesNotMatch(sub.raw(), /data: ok/);
  },
);

testBothEngines(
  "POST: an unsupported or missing Content-Type gets 415 and publishes nothing",
  async (engine) => {
    await using server = await startServer([], { engine });
    const url = `${server.baseUrl}/c`;
    await using sub = await connect(url);
    const cases: [string | undefined, string][] = [
      ["application/xml", "<event>x</event>"],
      ["multipart/form-data; boundary=xyz", "--xyz--"],
      ["text/html", "message=x"],
      [undefined, "message=x"],
    ];
    for (const [type, body] of cases) {
      const error = refused(
        await post(url, new TextEncoder().encode(body), type),
        415,
        String(type),
      );
      assert.match(error, /application\/json/);
    }
    await expectOnlyMarker(url, [sub], "after-415");
  },
);

testBothEngines(
  "POST: --max-body: one byte over is 413 (Content-Length or chunked), exactly at the limit is accepted",
  async (engine) => {
    const limit = 2048;
    await using server = await startServer(["--max-body", String(limit)], {
      engine,
    });
    const url = `${server.baseUrl}/c`;
    await using sub = await connect(url);
    // Varied text of the exact length (ASCII: one byte per character).
    const body = (n: number) =>
      Array.from({ length: n }, (_, i) => "abcdefghijklmnopqrstuvwxyz"[i % 26])
        .join("");
    const encoder = new TextEncoder();

    /** POSTs `text` as a chunked body in three writes, over a raw socket. */
    const chunked = (text: string) => {
      const bytes = encoder.encode(text);
      const cuts = [0, 700, 1500, bytes.length];
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        const part = bytes.subarray(cuts[i], cuts[i + 1]);
        parts.push(
          new Uint8Array([
            ...encoder.encode(`${part.length.toString(16)}\r\n`),
            ...part,
            ...encoder.encode(`\r\n${i === 2 ? "0\r\n\r\n" : ""}`),
          ]),
        );
      }
      return rawRequest(
        server.httpPort,
        [
          "POST /c HTTP/1.1",
          "Host: 127.0.0.1",
          "Content-Type: text/plain",
          "Transfer-Encoding: chunked",
          "Connection: close",
        ].join("\r\n"),
        parts,
      );
    };

    // One byte over, with Content-Length (fetch sets it for a byte body).
    refused(await post(url, body(limit + 1), TEXT), 413, "Content-Length");
    // The same in UTF-8: 1024 × "é" is 2048 bytes; one more byte is too many.
    refused(await post(url, "é".repeat(1024) + "x", TEXT), 413, "UTF-8 over");
    // One byte over, chunked: the server cannot know the size in advance.
    // Deno.serve would read a chunked body's trailers without bound, so
    // that engine refuses chunked bodies whatever their size.
    const over = await chunked(body(limit + 1));
    const chunkedRefusal = engine === "lean" ? 413 : 411;
    assert.match(over.raw, new RegExp(`^HTTP/1\\.1 ${chunkedRefusal} `));
    refused(over, chunkedRefusal, "chunked");

    // Nothing of those was published: the next event is the one at the limit.
    const atLimit = accepted(await post(url, body(limit), TEXT), "at limit");
    assert.equal(atLimit.clients, 1);
    const event = await sub.nextEvent();
    assert.equal(event.data, body(limit));
    assert.equal(event.id, atLimit.ids[0]);

    const utf8 = accepted(await post(url, "é".repeat(1024), TEXT), "UTF-8");
    assert.deepEqual(await sub.nextEvent(), {
      type: "message",
      data: "é".repeat(1024),
      id: utf8.ids[0],
    });

    const chunkedAtLimit = await chunked(body(limit));
    if (engine === "lean") {
      assert.match(chunkedAtLimit.raw, /^HTTP\/1\.1 202 /);
      assert.match(
        chunkedAtLimit.raw,
        /\r\ntransfer-encoding: chunked\r\n|\r\ncontent-length: \d+\r\n/i,
      );
      const result = jsonOf<PostResult>(chunkedAtLimit);
      assert.deepEqual(await sub.nextEvent(), {
        type: "message",
        data: body(limit),
        id: result.ids[0],
      });
    } else {
      assert.match(chunkedAtLimit.raw, /^HTTP\/1\.1 411 /);
    }
    await expectOnlyMarker(url, [sub], "after-413");
    // Refused from the declared size, and while reading the chunked body.
    await server.waitForOutput(/body of 2049 bytes is over the limit of 2048/);
    if (engine === "lean") {
      await server.waitForOutput(/body is over the limit of 2048 bytes/);
    }
  },
);

testBothEngines(
  "POST: commands in a form body are refused with 403 without -a, and nothing is published",
  async (engine) => {
    await using server = await startServer([], { engine });
    const url = `${server.baseUrl}/c`;
    await using sub = await connect(url);
    for (const body of ["status", "halt", "message=before&halt", "halt&x=1"]) {
      const error = refused(await post(url, body, FORM), 403, body);
      assert.match(error, /refused.*--allowcommands/);
    }
    await server.waitForOutput(/http 127\.0\.0\.1:\d+: command "halt" refused/);
    await expectOnlyMarker(url, [sub], "still-running");
    assert.doesNotMatch(server.output(), /halting/);
  },
);

testBothEngines(
  "POST: with -a, a command in a form body is obeyed",
  async (engine) => {
    await using server = await startServer(["-a"], { engine });
    await using _sub = await connect(`${server.baseUrl}/watched`);
    const answer = await post(`${server.baseUrl}/`, "status", FORM);
    assert.deepEqual(accepted(answer, "status"), { ids: [], clients: 0 });
    await server.waitForOutput(/client 1 127\.0\.0\.1:\d+ channels watched/);
  },
);

testBothEngines(
  "--no-get-publish: a publishing GET is refused with 403; POST and GET subscriptions still work",
  async (engine) => {
    await using server = await startServer(["--no-get-publish"], { engine });
    const url = `${server.baseUrl}/c`;
    await using sub = await connect(url);
    assert.equal(sub.response.headers.get("content-type"), "text/event-stream");

    for (
      const query of ["?message=x", "?a=1&b=2", "?status", "?message=x&id=y"]
    ) {
      const answer = await get(url + query);
      assert.equal(answer.status, 403, query);
      assert.match(
        answer.body,
        /--no-get-publish.*POST.*nothing was published/,
      );
    }
    await server.waitForOutput(/publishing by GET is switched off/);

    const posted = accepted(await post(url, "message=by+post", FORM), "POST");
    assert.equal(posted.clients, 1);
    const first = await sub.nextEvent();
    assert.deepEqual(first, {
      type: "message",
      data: "by post",
      id: posted.ids[0],
    });

    // A GET that only names reserved parameters is still a subscription.
    await using replaying = await connect(
      `${url}?lastEventId=${encodeURIComponent(first.id!)}`,
    );
    assert.equal(replaying.response.status, 200);
    assert.equal(
      replaying.response.headers.get("content-type"),
      "text/event-stream",
    );
    await expectOnlyMarker(url, [sub, replaying], "after-403");
  },
);

testBothEngines(
  "OPTIONS: a CORS preflight gets 204 allowing POST with Content-Type and Authorization",
  async (engine) => {
    await using server = await startServer([], { engine });
    const response = await fetch(`${server.baseUrl}/c`, {
      method: "OPTIONS",
      headers: {
        Origin: "http://page.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
      },
    });
    assert.equal(response.status, 204);
    assert.equal(await response.text(), "");
    const list = (name: string) =>
      (response.headers.get(name) ?? "").split(",").map((s) =>
        s.trim().toLowerCase()
      );
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.ok(list("access-control-allow-methods").includes("post"));
    assert.ok(list("access-control-allow-methods").includes("get"));
    const allowed = list("access-control-allow-headers");
    for (const header of ["content-type", "authorization", "last-event-id"]) {
      assert.ok(allowed.includes(header), `${header} not in ${allowed}`);
    }
  },
);
