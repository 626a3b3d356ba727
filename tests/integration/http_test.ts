// The HTTP port against the real program: subscribing, publishing by GET
// query, status codes and headers as the original sends them.
import assert from "node:assert/strict";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

testBothEngines(
  "HTTP: stream headers are the original's, CORS included",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using sub = await connect(`${server.baseUrl}/news`);
    const h = sub.response.headers;
    assert.equal(sub.response.status, 200);
    assert.equal(h.get("content-type"), "text/event-stream");
    assert.equal(h.get("cache-control"), "no-cache");
    assert.equal(h.get("access-control-allow-origin"), "*");
    assert.equal(h.get("access-control-allow-methods"), "GET");
    assert.match(h.get("access-control-allow-headers") ?? "", /Last-Event-Id/i);
  },
);

testBothEngines(
  "HTTP: an event reaches subscribers of its channel only",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using news = await connect(`${server.baseUrl}/news`);
    await using sport = await connect(`${server.baseUrl}/sport`);
    const res = await fetch(`${server.baseUrl}/news?message=hello`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /1 event sent to 1 client/);
    assert.deepEqual(typeAndData(await news.nextEvent()), {
      type: "message",
      data: "hello",
    });
    // The sport subscriber gets the next sport event and never the news one.
    await (await fetch(`${server.baseUrl}/sport?message=goal`)).text();
    assert.equal((await sport.nextEvent()).data, "goal");
    assert.doesNotMatch(sport.raw(), /hello/);
  },
);

testBothEngines(
  "HTTP: wire format of default and custom types, as the original with --history 0",
  async (engine) => {
    await using server = await startServer(["--history", "0"], { engine });
    await using sub = await connect(`${server.baseUrl}/c`);
    await (await fetch(`${server.baseUrl}/c?message=first&q1=go`)).text();
    await sub.waitForRaw(/data: go\n\n/);
    assert.equal(sub.raw(), "data: first\n\nevent: q1\ndata: go\n\n");
  },
);

testBothEngines(
  "HTTP: several parameters and channels; a client on two of them gets each event once",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using both = await connect(`${server.baseUrl}/color/page`);
    await using color = await connect(`${server.baseUrl}/color`);
    const res = await fetch(`${server.baseUrl}/color/page?q1=go&q2=end`);
    assert.match(await res.text(), /2 events sent to 2 clients/);
    assert.deepEqual(
      [await both.nextEvent(), await both.nextEvent()].map((e) => e.type),
      ["q1", "q2"],
    );
    assert.deepEqual(
      [await color.nextEvent(), await color.nextEvent()].map((e) => e.data),
      ["go", "end"],
    );
    // A marker event proves nothing else was queued for the two-channel client.
    await (await fetch(`${server.baseUrl}/page?marker=1`)).text();
    assert.equal((await both.nextEvent()).type, "marker");
  },
);

testBothEngines(
  "HTTP: no channel subscribes to all channels; channel order and %-escapes",
  async (engine) => {
    await using server = await startServer(["-u", "/my/sse"], { engine });
    await using all = await connect(`${server.baseUrl}/my/sse`);
    await using esc = await connect(`${server.baseUrl}/my/sse/caf%C3%A9/x`);
    await (await fetch(`${server.baseUrl}/my/sse/x/caf%C3%A9?t=1`)).text();
    await (await fetch(`${server.baseUrl}/my/sse/other?t=2`)).text();
    assert.equal((await all.nextEvent()).data, "1");
    assert.equal((await all.nextEvent()).data, "2");
    assert.equal((await esc.nextEvent()).data, "1");
    await (await fetch(`${server.baseUrl}/my/sse/café?t=3`)).text();
    assert.equal((await esc.nextEvent()).data, "3");
  },
);

testBothEngines(
  "HTTP: query decoding: + is a space, %0A becomes several data lines, & and ; separate",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using sub = await connect(`${server.baseUrl}/c`);
    await (await fetch(
      `${server.baseUrl}/c?message=a+b%2Bc;multi=one%0Atwo&eq=x%3Dy=z`,
    )).text();
    assert.equal((await sub.nextEvent()).data, "a b+c");
    const multi = await sub.nextEvent();
    assert.equal(multi.data, "one\ntwo");
    assert.match(sub.raw(), /event: multi\nid: \S+\ndata: one\ndata: two\n\n/);
    assert.equal((await sub.nextEvent()).data, "x=y=z");
  },
);

testBothEngines(
  "HTTP: path outside the prefix is 404, unknown methods 405, HEAD 200 without a stream",
  async (engine) => {
    await using server = await startServer(["--urlpath", "/my/sse"], {
      engine,
    });
    const outside = await fetch(`${server.baseUrl}/other/news`);
    assert.equal(outside.status, 404);
    await outside.body?.cancel();
    const prefixLike = await fetch(`${server.baseUrl}/my/sserver`);
    assert.equal(prefixLike.status, 404);
    await prefixLike.body?.cancel();
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const res = await fetch(`${server.baseUrl}/my/sse/news`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "GET, HEAD, POST, OPTIONS");
      await res.body?.cancel();
    }
    const head = await fetch(`${server.baseUrl}/my/sse/news`, {
      method: "HEAD",
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/event-stream");
    assert.equal(await head.text(), "");
  },
);

testBothEngines(
  "HTTP: commands in a query are refused with 403 without -a, and nothing is published",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using sub = await connect(`${server.baseUrl}/c`);
    const res = await fetch(`${server.baseUrl}/c?message=before&halt`);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /refused.*--allowcommands/);
    await server.waitForOutput(/http 127\.0\.0\.1:\d+: command "halt" refused/);
    // Still running, and the event of the refused request was not sent.
    await (await fetch(`${server.baseUrl}/c?message=after`)).text();
    assert.equal((await sub.nextEvent()).data, "after");
  },
);

testBothEngines(
  "HTTP: with -a, status logs the clients and halt stops the server with exit 0",
  async (engine) => {
    const server = await startServer(["-a"], { engine });
    try {
      const sub = await connect(`${server.baseUrl}/watch`);
      const status = await fetch(`${server.baseUrl}/?status`);
      assert.equal(status.status, 200);
      await status.text();
      await server.waitForOutput(/client 1 127\.0\.0\.1:\d+ channels watch/);
      const halt = await fetch(`${server.baseUrl}/?halt`);
      assert.equal(halt.status, 200);
      await halt.text();
      await sub.ended; // the stream is closed cleanly by the server
      assert.equal(await server.exited, 0);
    } finally {
      await server.stop();
    }
  },
);

testBothEngines(
  "HTTP: bad queries and channels get 400 and publish nothing",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using sub = await connect(`${server.baseUrl}/c`);
    const cases = [
      "/c?message=ok&bad%20type=x", // white space in a type
      "/c?message=ok&t=%ZZ", // broken escape
      "/c?message=ok&ev%0Aid=1", // line break in a type
      "/c?message=ok&status2", // unknown command
    ];
    for (const path of cases) {
      const res = await fetch(server.baseUrl + path);
      assert.ok(
        res.status === 400 || res.status === 403,
        `${path}: ${res.status}`,
      );
      assert.match(await res.text(), /nothing was published/);
    }
    const badChannel = await fetch(`${server.baseUrl}/a%0Ab?message=x`);
    assert.equal(badChannel.status, 400);
    await badChannel.body?.cancel();
    await (await fetch(`${server.baseUrl}/c?message=last`)).text();
    assert.equal((await sub.nextEvent()).data, "last");
  },
);

testBothEngines(
  "HTTP: a URL at the limit is served, one character longer gets 414",
  async (engine) => {
    const limit = 200;
    await using server = await startServer(["--max-line", String(limit)], {
      engine,
    });
    await using sub = await connect(`${server.baseUrl}/c`);
    // The limit is on the request target: the path and query.
    const base = "/c?message=";
    const fits = base + "x".repeat(limit - base.length);
    assert.equal(fits.length, limit);
    const ok = await fetch(server.baseUrl + fits);
    assert.equal(ok.status, 200);
    await ok.text();
    assert.equal((await sub.nextEvent()).data.length, limit - base.length);
    const tooLong = await fetch(server.baseUrl + fits + "x");
    assert.equal(tooLong.status, 414);
    await tooLong.body?.cancel();
    await server.waitForOutput(/request URL too long/);
  },
);

testBothEngines(
  "HTTP: keep-alive comments after the configured silence",
  async (engine) => {
    await using server = await startServer(["--keepalive", "0.3"], { engine });
    const opened = Date.now();
    await using sub = await connect(`${server.baseUrl}/quiet`);
    await sub.waitForRaw(/^:\n\n/, 5000);
    assert.ok(Date.now() - opened >= 300, "keep-alive came too early");
    await sub.waitForRaw(/^:\n\n:\n\n/, 5000);
  },
);
