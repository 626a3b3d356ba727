// Event ids and Last-Event-ID replay against the real program: a client that
// really disconnects and reconnects is sent exactly what it missed, then the
// live events; gaps are announced; --history 0 behaves as the original.
import assert from "node:assert/strict";
import { Condition } from "../helpers/condition.ts";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect, type ReceivedEvent, take } from "../helpers/sse_client.ts";
import { get, openController } from "../helpers/publishers.ts";

/** Publishes by GET query and checks the server accepted it. */
async function publish(baseUrl: string, path: string): Promise<void> {
  const answer = await get(baseUrl + path);
  assert.equal(answer.status, 200, `${path}: ${answer.body}`);
  assert.match(answer.body, /^OK: /);
}

/** The event as a plain object, id included, for deepEqual. */
const full = (e: ReceivedEvent) => ({ type: e.type, data: e.data, id: e.id });

testBothEngines(
  "replay: a client that reconnects with Last-Event-ID gets exactly the missed events, then live ones",
  async (engine) => {
    await using server = await startServer([], { engine });
    // Stays connected all along: it sees every event with its id.
    await using witness = await connect(`${server.baseUrl}/news`);
    const first = await connect(`${server.baseUrl}/news`);
    await publish(server.baseUrl, "/news?message=one&alert=two");
    const seen = await take(first, 2);
    assert.deepEqual(seen.map((e) => e.data), ["one", "two"]);
    const lastId = seen[1].id;
    assert.ok(lastId !== undefined && lastId !== "", "events carry an id");
    await first.close();
    // The server notices the disconnect before the next events go out.
    await server.waitForOutput(
      /client 2 at \S+ closed \(client disconnected\)/,
    );

    await publish(server.baseUrl, "/news?message=three");
    await publish(server.baseUrl, "/news?update=four&message=five%0Asix");
    await publish(server.baseUrl, "/other?message=not-for-news");
    const witnessed = await take(witness, 5);
    assert.deepEqual(witnessed.slice(0, 2).map(full), seen.map(full));
    const missed = witnessed.slice(2);
    assert.deepEqual(missed.map((e) => e.data), ["three", "four", "five\nsix"]);
    assert.equal(new Set(witnessed.map((e) => e.id)).size, 5, "ids are unique");

    await using again = await connect(`${server.baseUrl}/news`, {
      headers: { "Last-Event-ID": lastId },
    });
    assert.equal(again.response.status, 200);
    assert.deepEqual((await take(again, 3)).map(full), missed.map(full));
    // Then the live events, and nothing else in between.
    await publish(server.baseUrl, "/news?message=live");
    const live = await again.nextEvent();
    assert.equal(live.data, "live");
    assert.deepEqual(full(await witness.nextEvent()), full(live));
    assert.doesNotMatch(again.raw(), /not-for-news|sse-gap/);
  },
);

testBothEngines(
  "replay: ?lastEventId= in the URL is a subscription that replays; the header wins over it",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using witness = await connect(`${server.baseUrl}/c`);
    await publish(server.baseUrl, "/c?message=e1&message=e2&message=e3");
    const [e1, e2, e3] = await take(witness, 3);

    const viaQuery = await connect(
      `${server.baseUrl}/c?lastEventId=${encodeURIComponent(e1.id!)}`,
    );
    try {
      assert.equal(viaQuery.response.status, 200);
      assert.equal(
        viaQuery.response.headers.get("content-type"),
        "text/event-stream",
      );
      assert.deepEqual((await take(viaQuery, 2)).map(full), [e2, e3].map(full));
    } finally {
      await viaQuery.close();
    }

    // Both given: the header (what EventSource sends on reconnection) wins.
    await using both = await connect(
      `${server.baseUrl}/c?lastEventId=${encodeURIComponent(e1.id!)}`,
      { headers: { "Last-Event-ID": e2.id! } },
    );
    assert.deepEqual(full(await both.nextEvent()), full(e3));

    // None of these GETs published anything: the next event everyone gets is
    // the marker.
    await publish(server.baseUrl, "/c?marker=1");
    assert.equal((await both.nextEvent()).type, "marker");
    assert.equal((await witness.nextEvent()).type, "marker");
    assert.doesNotMatch(witness.raw(), /lastEventId/);
  },
);

testBothEngines(
  "replay: a client on two channels gets an event published to both once",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using witness = await connect(`${server.baseUrl}/a/b`);
    const first = await connect(`${server.baseUrl}/a/b`);
    await publish(server.baseUrl, "/a/b?message=before");
    const before = await first.nextEvent();
    await first.close();
    await server.waitForOutput(/client 2 at \S+ closed/);

    await publish(server.baseUrl, "/a?message=a-only");
    await publish(server.baseUrl, "/a/b?message=both");
    await publish(server.baseUrl, "/b?message=b-only");
    await publish(server.baseUrl, "/b/a?message=both-again");
    const live = await take(witness, 5);
    assert.deepEqual(live.map((e) => e.data), [
      "before",
      "a-only",
      "both",
      "b-only",
      "both-again",
    ]);

    await using again = await connect(`${server.baseUrl}/b/a`, {
      headers: { "Last-Event-ID": before.id! },
    });
    assert.deepEqual((await take(again, 4)).map(full), live.slice(1).map(full));
    await publish(server.baseUrl, "/a/b?marker=x");
    assert.equal((await again.nextEvent()).type, "marker");
  },
);

testBothEngines(
  "replay: an unknown id gets an sse-gap event with reason 'unknown id', then everything kept",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using witness = await connect(`${server.baseUrl}/c`);
    await publish(server.baseUrl, "/c?message=k1&t=k2");
    await publish(server.baseUrl, "/elsewhere?message=not-mine");
    await publish(server.baseUrl, "/c?message=k3");
    const kept = await take(witness, 3);

    const unknown = "nobody-knows-this-42";
    await using sub = await connect(`${server.baseUrl}/c`, {
      headers: { "Last-Event-ID": unknown },
    });
    const gap = await sub.nextEvent();
    assert.equal(gap.type, "sse-gap");
    assert.deepEqual(JSON.parse(gap.data), {
      lastEventId: unknown,
      reason: "unknown id",
    });
    assert.deepEqual((await take(sub, 3)).map(full), kept.map(full));
    await publish(server.baseUrl, "/c?marker=1");
    assert.equal((await sub.nextEvent()).type, "marker");
    assert.doesNotMatch(sub.raw(), /not-mine/);
  },
);

testBothEngines(
  "replay: with --history 3 an id older than the history gets a gap 'expired' and the 3 kept events",
  async (engine) => {
    await using server = await startServer(["--history", "3"], { engine });
    await using witness = await connect(`${server.baseUrl}/c`);
    await publish(server.baseUrl, "/c?message=1&message=2&message=3");
    await publish(server.baseUrl, "/c?message=4&message=5");
    const all = await take(witness, 5);
    assert.deepEqual(all.map((e) => e.data), ["1", "2", "3", "4", "5"]);

    // Event 1 is gone, and event 2 that came after it: a gap.
    {
      await using sub = await connect(`${server.baseUrl}/c`, {
        headers: { "Last-Event-ID": all[0].id! },
      });
      const gap = await sub.nextEvent();
      assert.equal(gap.type, "sse-gap");
      assert.deepEqual(JSON.parse(gap.data), {
        lastEventId: all[0].id,
        reason: "expired",
      });
      assert.deepEqual((await take(sub, 3)).map(full), all.slice(2).map(full));
      await publish(server.baseUrl, "/c?marker=a");
      assert.equal((await sub.nextEvent()).type, "marker");
    }
    // Event 3 is no longer kept either, but everything after it is: no gap.
    {
      const kept = [...all.slice(2), await witness.nextEvent()];
      assert.equal(kept[3].type, "marker");
      // Only the last 3 (4, 5, marker) are kept now.
      await using sub = await connect(`${server.baseUrl}/c`, {
        headers: { "Last-Event-ID": all[2].id! },
      });
      assert.deepEqual((await take(sub, 3)).map(full), kept.slice(1).map(full));
      await publish(server.baseUrl, "/c?marker=b");
      assert.equal((await sub.nextEvent()).data, "b");
      assert.doesNotMatch(sub.raw(), /sse-gap/);
    }
  },
);

testBothEngines(
  "replay: --history-age drops old events; a client that missed them gets a gap 'expired'",
  async (engine) => {
    const ageMs = 300;
    await using server = await startServer([
      "--history-age",
      String(ageMs / 1000),
    ], { engine });
    await using witness = await connect(`${server.baseUrl}/c`);
    await publish(server.baseUrl, "/c?message=old1&message=old2");
    const published = Date.now();
    const [old1] = await take(witness, 2);
    // What is awaited here is time itself: the events must be older than the age.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, published + ageMs + 100 - Date.now()))
    );
    await publish(server.baseUrl, "/c?message=fresh");
    const fresh = await witness.nextEvent();
    await using sub = await connect(`${server.baseUrl}/c`, {
      headers: { "Last-Event-ID": old1.id! },
    });
    const gap = await sub.nextEvent();
    assert.equal(gap.type, "sse-gap");
    assert.deepEqual(JSON.parse(gap.data), {
      lastEventId: old1.id,
      reason: "expired",
    });
    assert.deepEqual(full(await sub.nextEvent()), full(fresh));
  },
);

testBothEngines(
  "replay: --history 0 sends no ids and ignores Last-Event-ID, as the original",
  async (engine) => {
    await using server = await startServer(["--history", "0"], { engine });
    const first = await connect(`${server.baseUrl}/c`);
    await publish(server.baseUrl, "/c?message=one&t=two");
    const events = await take(first, 2);
    assert.equal(first.raw(), "data: one\n\nevent: t\ndata: two\n\n");
    assert.deepEqual(events.map((e) => e.id), [undefined, undefined]);
    await first.close();

    for (const lastId of ["1", "whatever-7", "x"]) {
      await using sub = await connect(`${server.baseUrl}/c`, {
        headers: { "Last-Event-ID": lastId },
      });
      await using viaQuery = await connect(
        `${server.baseUrl}/c?lastEventId=${lastId}`,
      );
      assert.equal(viaQuery.response.status, 200);
      await publish(server.baseUrl, `/c?marker=${lastId}`);
      // No replay, no gap event: the stream holds just the new event.
      await sub.waitForRaw(/\n\n/);
      await viaQuery.waitForRaw(/\n\n/);
      assert.equal(sub.raw(), `event: marker\ndata: ${lastId}\n\n`);
      assert.equal(viaQuery.raw(), `event: marker\ndata: ${lastId}\n\n`);
    }
  },
);

testBothEngines(
  "replay: --retry 1500 starts every stream with retry: 1500, before the replay",
  async (engine) => {
    await using server = await startServer(["--retry", "1500"], { engine });
    const first = await connect(`${server.baseUrl}/c`);
    await first.waitForRaw(/\n\n/);
    assert.equal(first.raw(), "retry: 1500\n\n");
    await publish(server.baseUrl, "/c?message=one&message=two");
    const [one, two] = await take(first, 2);
    assert.equal(two.data, "two");
    await first.close();

    await using again = await connect(`${server.baseUrl}/c`, {
      headers: { "Last-Event-ID": one.id! },
    });
    assert.deepEqual(full(await again.nextEvent()), full(two));
    assert.ok(
      again.raw().startsWith("retry: 1500\n\n"),
      JSON.stringify(again.raw()),
    );
  },
);

testBothEngines(
  "replay: 1000 events published while a client keeps disconnecting and reconnecting; it gets each once, in order",
  async (engine) => {
    const total = 1000;
    const started = Date.now();
    const deadline = started + 30_000;
    await using server = await startServer(["-P", "0"], {
      control: true,
      engine,
    });
    await using ctl = await openController(server.controlPort!);
    const url = `${server.baseUrl}/count`;

    // Subscribed before the first event, so neither can miss anything. The
    // monitor stays connected; the subscriber keeps hanging up.
    await using monitor = await connect(url);
    let sub = await connect(url);
    let publisherError: unknown;
    let publisherDone = false;
    const progress = new Condition();
    // The publisher writes as fast as the server takes the events: each batch
    // (several lines, cut into two writes at an irregular point so lines are
    // split across writes) goes out as soon as the monitor has received the
    // previous one. Written all at once, the 1000 lines would be buffered by
    // the kernel and published before the subscriber's first reconnection;
    // this way publishing and reconnecting really overlap.
    const publisher = (async () => {
      let next = 0;
      for (let batch = 0; next < total; batch++) {
        assert.ok(Date.now() < deadline, "publisher took longer than 30 s");
        const size = Math.min(total - next, 3 + (batch * 7) % 15);
        let text = "";
        for (let i = next; i < next + size; i++) text += `count = ${i}\n`;
        const cut = 1 + (batch * 13) % (text.length - 1);
        await ctl.send(text.slice(0, cut));
        await ctl.send(text.slice(cut));
        for (let i = next; i < next + size; i++) {
          const event = await monitor.nextEvent(10_000);
          assert.equal(
            event.data,
            String(i),
            "the monitor saw events out of order",
          );
          // A disconnected subscriber checks again whether the server
          // has published without it.
          progress.notify();
        }
        next += size;
      }
    })().catch((error) => publisherError = error).finally(() => {
      publisherDone = true;
      progress.notify();
    });

    const received: number[] = [];
    let lastId: string | undefined;
    let disconnects = 0;
    try {
      for (let round = 0; received.length < total; round++) {
        assert.ok(round < 200, "too many rounds");
        assert.ok(Date.now() < deadline, "took longer than 30 s");
        if (publisherError) throw publisherError;
        // Read a varying number of events, then hang up mid-stream.
        const quota = 40 + (round * 53) % 120;
        for (let k = 0; k < quota && received.length < total; k++) {
          const event = await sub.nextEvent(10_000);
          assert.equal(event.type, "message", `unexpected ${event.type} event`);
          assert.ok(event.id !== undefined, "event without id");
          received.push(Number(event.data));
          lastId = event.id;
        }
        if (received.length < total) {
          await sub.close();
          disconnects++;
          // Stay away until the server has published an event without
          // this subscriber (its log says "1 clients": the monitor alone).
          // Reconnecting after the next event only could come back before
          // the server noticed the departure.
          const from = server.output().length;
          await progress.wait(
            () =>
              /to count: 1 clients/.test(server.output().slice(from)) ||
                publisherDone || publisherError
                ? true
                : undefined,
            {
              timeoutMs: 10_000,
              timeout: () => new Error("nothing was published for 10 s"),
            },
          );
          sub = await connect(url, { headers: { "Last-Event-ID": lastId! } });
        }
      }
      await publisher;
      if (publisherError) throw publisherError;
      // Nothing more is queued: the next event is a marker.
      await ctl.send("count/marker = end\n");
      const marker = await sub.nextEvent(10_000);
      assert.deepEqual([marker.type, marker.data], ["marker", "end"]);
    } finally {
      await sub.close();
      await publisher;
    }
    assert.deepEqual(received, Array.from({ length: total }, (_, i) => i));
    assert.ok(disconnects >= 2, `only ${disconnects} disconnects`);
    assert.deepEqual(ctl.received(), [], "the control port reported errors");

    // The server logs each publish with its number of clients: 1 (the
    // monitor alone) means the subscriber was away when it was published.
    await server.waitForOutput(/published message="999" to count/);
    const clients = [
      ...server.output().matchAll(
        /published message="(\d+)" to count: (\d+) clients/g,
      ),
    ].map((m) => m[2]).join("");
    assert.equal(clients.length, total);
    const windows = clients.match(/1+/g) ?? [];
    assert.ok(
      windows.length >= 2,
      `events were published while the subscriber was away in only ${windows.length} of its ${disconnects} disconnections`,
    );
    console.log(
      `${disconnects} reconnections; ${
        windows.join("").length
      } events published in ${windows.length} of them, while away; ${
        Date.now() - started
      } ms`,
    );
  },
);

testBothEngines(
  "replay: ids set by the publisher on the control port are sent and replayed from",
  async (engine) => {
    await using server = await startServer(["-P", "0"], {
      control: true,
      engine,
    });
    await using ctl = await openController(server.controlPort!);
    const first = await connect(`${server.baseUrl}/c`);
    await ctl.send(
      '{"channel":"c","event":"upd","data":"one","id":"custom-1"}\n',
    );
    const one = await first.nextEvent();
    assert.deepEqual(full(one), { type: "upd", data: "one", id: "custom-1" });
    assert.match(first.raw(), /^event: upd\nid: custom-1\ndata: one\n\n$/);
    await first.close();
    await server.waitForOutput(/client 1 at \S+ closed/);

    await ctl.send(
      'c = two\n{"channel":"c","data":"three","id":"custom-3"}\nother = no\n',
    );
    await using witness = await connect(`${server.baseUrl}/c`, {
      headers: { "Last-Event-ID": "custom-1" },
    });
    const replayed = await take(witness, 2);
    assert.deepEqual(replayed.map((e) => e.data), ["two", "three"]);
    assert.equal(replayed[1].id, "custom-3");
    assert.ok(
      replayed[0].id !== undefined && !replayed[0].id.startsWith("custom"),
      "an event without a publisher id gets one from the server",
    );
    await ctl.send("c/marker = live\n");
    assert.equal((await witness.nextEvent()).type, "marker");
    assert.doesNotMatch(witness.raw(), /sse-gap|data: no/);
    assert.deepEqual(ctl.received(), []);
  },
);

testBothEngines(
  'replay: lastEventId "earliest" (header or query) gets everything kept, oldest first, with no gap',
  async (engine) => {
    await using server = await startServer([], { engine });
    for (const data of ["first", "second"]) {
      const answer = await fetch(`${server.baseUrl}/e?message=${data}`);
      await answer.text();
    }
    await using byHeader = await connect(`${server.baseUrl}/e`, {
      headers: { "Last-Event-ID": "earliest" },
    });
    await using byQuery = await connect(
      `${server.baseUrl}/e?lastEventId=earliest`,
    );
    for (const sub of [byHeader, byQuery]) {
      assert.equal((await sub.nextEvent()).data, "first");
      assert.equal((await sub.nextEvent()).data, "second");
    }
    const live = await fetch(`${server.baseUrl}/e?message=live`);
    await live.text();
    for (const sub of [byHeader, byQuery]) {
      assert.equal((await sub.nextEvent()).data, "live");
      assert.doesNotMatch(sub.raw(), /sse-gap/);
    }
  },
);
