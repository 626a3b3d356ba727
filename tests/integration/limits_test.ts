// The limits against the real program, each at its edge and one past it:
// clients in all and per address, channels per request, name lengths (HTTP,
// control port, FIFO), control connections, idle control connections and the
// publish rate. After every refusal the server goes on serving the others.
import assert from "node:assert/strict";
import {
  get as request,
  openController,
  post,
  writeFifo,
} from "../helpers/publishers.ts";
import { startServer } from "../helpers/server_process.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("--max-clients: N streams are served, the next gets 503 until one closes", async () => {
  await using server = await startServer(["--max-clients", "2"]);
  await using first = await connect(`${server.baseUrl}/c`);
  const second = await connect(`${server.baseUrl}/d`);
  assert.equal(first.response.status, 200);
  assert.equal(second.response.status, 200);

  const refused = await request(`${server.baseUrl}/c`);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "10");
  assert.match(refused.body, /too many clients \(limit 2\)/);
  await server.waitForOutput(
    /warning: http 127\.0\.0\.1:\d+: too many clients/,
  );

  // The streams already open are untouched and publishing works.
  const published = await request(`${server.baseUrl}/c/d?message=still`);
  assert.equal(published.body, "OK: 1 event sent to 2 clients\n");
  assert.equal((await first.nextEvent()).data, "still");
  assert.equal((await second.nextEvent()).data, "still");

  await second.close();
  await server.waitForOutput(
    /client 2 at [^ ]+ closed \(client disconnected\)/,
  );
  await using third = await connect(`${server.baseUrl}/d`);
  assert.equal(third.response.status, 200, "a freed place is taken again");
  assert.equal((await request(`${server.baseUrl}/e`)).status, 503);
  await request(`${server.baseUrl}/c/d?message=after`);
  assert.equal((await first.nextEvent()).data, "after");
  assert.equal((await third.nextEvent()).data, "after");
});

Deno.test("--max-clients-per-ip: N streams from 127.0.0.1, the next gets 429 until one closes", async () => {
  await using server = await startServer(["--max-clients-per-ip", "2"]);
  await using first = await connect(`${server.baseUrl}/c`);
  const second = await connect(`${server.baseUrl}/`);
  assert.equal(first.response.status, 200);
  assert.equal(second.response.status, 200);

  const refused = await request(`${server.baseUrl}/c`);
  assert.equal(refused.status, 429);
  assert.match(refused.body, /too many streams from 127\.0\.0\.1 \(limit 2\)/);
  // Publishing is no stream: it is not counted against the address.
  const published = await request(`${server.baseUrl}/c?message=still`);
  assert.equal(published.body, "OK: 1 event sent to 2 clients\n");
  assert.equal((await first.nextEvent()).data, "still");
  assert.equal((await second.nextEvent()).data, "still");

  await second.close();
  await server.waitForOutput(
    /client 2 at [^ ]+ closed \(client disconnected\)/,
  );
  await using third = await connect(`${server.baseUrl}/c`);
  assert.equal(third.response.status, 200);
  assert.equal((await request(`${server.baseUrl}/c`)).status, 429);
  await request(`${server.baseUrl}/c?message=after`);
  assert.equal((await first.nextEvent()).data, "after");
  assert.equal((await third.nextEvent()).data, "after");
});

Deno.test("--max-channels: N channels per subscription or publish, N+1 is 400", async () => {
  await using server = await startServer(["--max-channels", "3"]);
  await using sub = await connect(`${server.baseUrl}/a/b/c`);
  assert.equal(sub.response.status, 200);
  const tooMany = await request(`${server.baseUrl}/a/b/c/d`);
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body, /4 channels, more than the limit of 3/);

  const getOk = await request(`${server.baseUrl}/a/b/c?message=get3`);
  assert.equal(getOk.status, 200);
  const getRefused = await request(`${server.baseUrl}/a/b/c/d?message=get4`);
  assert.equal(getRefused.status, 400);
  assert.match(getRefused.body, /4 channels, more than the limit of 3/);
  const postOk = await post(`${server.baseUrl}/a/b/c`, "post3", "text/plain");
  assert.equal(postOk.status, 202);
  const postRefused = await post(
    `${server.baseUrl}/a/b/c/d`,
    "post4",
    "text/plain",
  );
  assert.equal(postRefused.status, 400);
  assert.match(postRefused.body, /4 channels, more than the limit of 3/);

  // Only the accepted ones arrived, in order.
  await request(`${server.baseUrl}/a?message=marker`);
  assert.deepEqual(
    [await sub.nextEvent(), await sub.nextEvent(), await sub.nextEvent()].map(
      (e) => e.data,
    ),
    ["get3", "post3", "marker"],
  );
});

Deno.test("--max-name-length: names of N characters pass on every input, N+1 are refused", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(
      ["-P", "0", "-F", fifo, "--max-name-length", "8"],
      { control: true },
    );
    const n = "abcdefgh"; // exactly 8
    const n1 = "abcdefghi"; // 9
    assert.equal(n.length, 8);
    await using sub = await connect(`${server.baseUrl}/${n}`);
    assert.equal(sub.response.status, 200);

    // HTTP.
    const longSub = await request(`${server.baseUrl}/${n1}`);
    assert.equal(longSub.status, 400);
    assert.match(
      longSub.body,
      /channel name of 9 characters, more than the limit of 8/,
    );
    const ok = await request(`${server.baseUrl}/${n}?${n}=http-ok`);
    assert.equal(ok.status, 200);
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: n,
      data: "http-ok",
    });
    const longType = await request(`${server.baseUrl}/${n}?${n1}=x`);
    assert.equal(longType.status, 400);
    assert.match(
      longType.body,
      /event type of 9 characters, more than the limit of 8/,
    );
    assert.equal(
      (await request(`${server.baseUrl}/${n1}?message=x`)).status,
      400,
    );
    const postType = await post(
      `${server.baseUrl}/${n}?event=${n1}`,
      "x",
      "text/plain",
    );
    assert.equal(postType.status, 400);
    const postJson = await post(
      `${server.baseUrl}/${n}`,
      JSON.stringify([{ event: n, data: "fine" }, { event: n1, data: "x" }]),
      "application/json",
    );
    assert.equal(postJson.status, 400, "one long type refuses the request");
    const postOk = await post(
      `${server.baseUrl}/${n}?event=${n}`,
      "post-ok",
      "text/plain",
    );
    assert.equal(postOk.status, 202);
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: n,
      data: "post-ok",
    });

    // Control port: error lines, and the connection goes on.
    await using ctl = await openController(server.controlPort!);
    await ctl.send(
      `${n}/${n} = ctl-ok\n${n1} = x\n${n}/${n1} = y\n${n}/${n1} <<END\nz\nEND\n${n} = ctl-after\n`,
    );
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: n,
      data: "ctl-ok",
    });
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: "message",
      data: "ctl-after",
    });
    assert.deepEqual(await ctl.waitForLines(3), [
      "error: channel name of 9 characters, more than the limit of 8, line ignored",
      "error: event type of 9 characters, more than the limit of 8, line ignored",
      "error: event type of 9 characters, more than the limit of 8, block ignored",
    ]);

    // FIFO: the refusals are logged.
    await writeFifo(
      fifo,
      `${n}/${n} = fifo-ok\n${n1} = x\n${n}/${n1} = y\n${n} = fifo-after\n`,
    );
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: n,
      data: "fifo-ok",
    });
    assert.equal((await sub.nextEvent()).data, "fifo-after");
    const where = fifo.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await server.waitForOutput(
      new RegExp(
        `warning: fifo ${where}: channel name of 9 characters, more than the limit of 8, line ignored`,
      ),
    );
    await server.waitForOutput(
      new RegExp(
        `warning: fifo ${where}: event type of 9 characters, more than the limit of 8, line ignored`,
      ),
    );
    // Nothing refused slipped through anywhere.
    await request(`${server.baseUrl}/${n}?message=end`);
    assert.equal((await sub.nextEvent()).data, "end");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--max-controllers: N control connections work, the next is told and closed", async () => {
  await using server = await startServer(
    ["-P", "0", "--max-controllers", "2"],
    {
      control: true,
    },
  );
  await using sub = await connect(`${server.baseUrl}/c`);
  const first = await openController(server.controlPort!);
  await using second = await openController(server.controlPort!);
  // Both are being served (not just accepted by the kernel).
  await first.send("c = from first\n");
  assert.equal((await sub.nextEvent()).data, "from first");
  await second.send("c = from second\n");
  assert.equal((await sub.nextEvent()).data, "from second");

  await using third = await openController(server.controlPort!);
  await third.send("c = from third\n");
  assert.deepEqual(await third.waitForLines(1), [
    "error: too many control connections (limit 2)",
  ]);
  await third.closedByServer();
  await server.waitForOutput(
    new RegExp(
      `controller 127\\.0\\.0\\.1:${third.port} refused: 2 control connections already open`,
    ),
  );

  // The others keep working; nothing of the third was published.
  await first.send("c = first again\n");
  assert.equal((await sub.nextEvent()).data, "first again");
  await second.send("c = second again\n");
  assert.equal((await sub.nextEvent()).data, "second again");

  // A freed place is taken again.
  await first.close();
  await server.waitForOutput(
    new RegExp(`controller 127\\.0\\.0\\.1:${first.port} disconnected`),
  );
  await using fourth = await openController(server.controlPort!);
  await fourth.send("c = from fourth\n");
  assert.equal((await sub.nextEvent()).data, "from fourth");
  assert.deepEqual(fourth.received(), []);
  assert.equal(fourth.finished, false);
});

Deno.test("--control-idle-timeout: a silent connection is closed, a talkative one stays", async () => {
  // This test is about time: 0.5 s of silence closes a connection. The
  // server checks every 125 ms, so a close comes 0.5 to about 0.65 s after
  // the last activity.
  await using server = await startServer(
    ["-P", "0", "--control-idle-timeout", "0.5"],
    { control: true },
  );
  await using sub = await connect(`${server.baseUrl}/c`);
  const started = Date.now();
  await using silent = await openController(server.controlPort!);
  await using talkative = await openController(server.controlPort!);

  // Lines every 150 ms, for 1.2 s: more than twice the timeout.
  for (let i = 1; i <= 8; i++) {
    await sleep(150);
    await talkative.send(`c = tick ${i}\n`);
    assert.equal((await sub.nextEvent()).data, `tick ${i}`);
  }
  assert.equal(talkative.finished, false, "the talkative one is still open");
  assert.deepEqual(talkative.received(), []);

  assert.equal(silent.finished, true, "the silent one was closed meanwhile");
  assert.deepEqual(silent.received(), ["error: idle timeout, closing"]);
  await server.waitForOutput(
    new RegExp(
      `controller 127\\.0\\.0\\.1:${silent.port} idle for 0\\.5 s, closing`,
    ),
  );

  // Once silent, the talkative one goes the same way, within bounds.
  const quietSince = Date.now();
  await talkative.closedByServer(3000);
  const quiet = Date.now() - quietSince;
  assert.ok(quiet >= 400, `closed after only ${quiet} ms of silence`);
  assert.deepEqual(talkative.received(), ["error: idle timeout, closing"]);
  assert.ok(Date.now() - started < 5000);

  // New connections are served as before.
  await using fresh = await openController(server.controlPort!);
  await fresh.send("c = fresh\n");
  assert.equal((await sub.nextEvent()).data, "fresh");
});

Deno.test("--publish-rate on the control port: N lines of a burst pass, then errors; the allowance refills", async () => {
  await using server = await startServer(["-P", "0", "--publish-rate", "5"], {
    control: true,
  });
  await using sub = await connect(`${server.baseUrl}/c`);
  await using ctl = await openController(server.controlPort!);
  const burst = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => `c = ${from + i}\n`).join("");

  await ctl.send(burst(1, 8));
  assert.deepEqual(await ctl.waitForLines(3), [
    "error: publish rate limit exceeded, line ignored",
    "error: publish rate limit exceeded, line ignored",
    "error: publish rate limit exceeded, line ignored",
  ]);
  // Each connection has its own allowance.
  await using other = await openController(server.controlPort!);
  await other.send("c = other\n");
  const received: string[] = [];
  for (let i = 0; i < 6; i++) received.push((await sub.nextEvent()).data);
  assert.deepEqual(received, ["1", "2", "3", "4", "5", "other"]);
  assert.equal(ctl.finished, false, "refused lines do not end the connection");

  // This is about time: after a second the allowance is whole again, and
  // never more than one second's worth (5), however long the wait.
  await sleep(1100);
  await ctl.send(burst(11, 6));
  assert.deepEqual((await ctl.waitForLines(4)).slice(3), [
    "error: publish rate limit exceeded, line ignored",
  ]);
  await other.send("c = marker\n");
  const refilled: string[] = [];
  for (let i = 0; i < 6; i++) refilled.push((await sub.nextEvent()).data);
  assert.deepEqual(refilled, ["11", "12", "13", "14", "15", "marker"]);
});

Deno.test("--publish-rate over HTTP: the N+1th publish of a burst from one address is 429", async () => {
  await using server = await startServer(["-P", "0", "--publish-rate", "5"], {
    control: true,
  });
  await using sub = await connect(`${server.baseUrl}/c`);
  // Six at once: whatever order they arrive in, five pass and one does not.
  const answers = await Promise.all(
    Array.from(
      { length: 6 },
      (_, i) => request(`${server.baseUrl}/c?message=h${i}`),
    ),
  );
  const passed = answers.flatMap((a, i) => a.status === 200 ? [`h${i}`] : []);
  const refused = answers.filter((a) => a.status === 429);
  assert.equal(passed.length, 5);
  assert.equal(refused.length, 1);
  assert.equal(refused[0].headers.get("retry-after"), "1");
  assert.match(
    refused[0].body,
    /publish rate limit exceeded; nothing was published/,
  );
  // The control port is another publisher with its own allowance.
  await using ctl = await openController(server.controlPort!);
  await ctl.send("c = marker\n");
  const received: string[] = [];
  for (let i = 0; i < 6; i++) received.push((await sub.nextEvent()).data);
  assert.equal(received.at(-1), "marker", "the refused one was not published");
  assert.deepEqual(received.slice(0, 5).sort(), passed.sort());

  // This is about time: a second later the allowance is whole again. A
  // request counts each of its events; one asking for more than a second's
  // worth is refused whole.
  await sleep(1100);
  const events = (count: number, tag: string) =>
    JSON.stringify(
      Array.from({ length: count }, (_, i) => ({ data: `${tag}${i}` })),
    );
  const six = await post(
    `${server.baseUrl}/c`,
    events(6, "six"),
    "application/json",
  );
  assert.equal(six.status, 429);
  const five = await post(
    `${server.baseUrl}/c`,
    events(5, "five"),
    "application/json",
  );
  assert.equal(five.status, 202);
  assert.equal(JSON.parse(five.body).clients, 1);
  const after = await request(`${server.baseUrl}/c?message=over`);
  assert.equal(after.status, 429);
  await ctl.send("c = end\n");
  const rest: string[] = [];
  for (let i = 0; i < 6; i++) rest.push((await sub.nextEvent()).data);
  assert.deepEqual(rest, ["five0", "five1", "five2", "five3", "five4", "end"]);
  assert.deepEqual(ctl.received(), []);
});
