// The control port against the real program, over plain TCP.
import assert from "node:assert/strict";
import { startServer } from "../helpers/server_process.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();

/** A line-oriented TCP controller. */
async function controller(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
  let received = "";
  return {
    conn,
    send: (text: string) => conn.write(encoder.encode(text)),
    /** Reads until the peer's answer holds `count` lines. */
    async lines(count: number): Promise<string[]> {
      while (received.split("\n").length - 1 < count) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value;
      }
      return received.split("\n").slice(0, count);
    },
    /** Resolves when the server closes the connection. */
    async closedByServer(): Promise<void> {
      while (!(await reader.read()).done) {
        // Drain until the end.
      }
    },
    async [Symbol.asyncDispose]() {
      await reader.cancel().catch(() => {});
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}

Deno.test("control port: every line of one write is published, in order", async () => {
  await using server = await startServer(["-P", "0"], { control: true });
  await using sub = await connect(`${server.baseUrl}/color`);
  await using ctl = await controller(server.controlPort!);
  await ctl.send("color/q1 = go\ncolor/q2 = end\r\ncolor = plain\n");
  assert.deepEqual(
    [await sub.nextEvent(), await sub.nextEvent(), await sub.nextEvent()].map(
      typeAndData,
    ),
    [
      { type: "q1", data: "go" },
      { type: "q2", data: "end" },
      { type: "message", data: "plain" },
    ],
  );
});

Deno.test("control port: a line split over several writes is joined", async () => {
  await using server = await startServer(["-P", "0"], { control: true });
  await using sub = await connect(`${server.baseUrl}/c`);
  await using ctl = await controller(server.controlPort!);
  await ctl.send("c = hel");
  await ctl.send("lo\n");
  assert.equal((await sub.nextEvent()).data, "hello");
});

Deno.test("control port: malformed lines get an error line back and the connection goes on", async () => {
  await using server = await startServer(["-P", "0", "--max-line", "64"], {
    control: true,
  });
  await using sub = await connect(`${server.baseUrl}/c`);
  await using ctl = await controller(server.controlPort!);
  await ctl.send(
    `junk words\nc/ = empty type\n${
      "z".repeat(65)
    }\nstatus\nhalt\nnope\nc = still here\n`,
  );
  const answer = await ctl.lines(6);
  assert.match(answer[0], /^error: no '=' in a line of 10 characters/);
  assert.match(answer[1], /^error: empty event type/);
  assert.match(answer[2], /^error: line too long \(65 characters, limit 64\)/);
  assert.match(answer[3], /^error: command "status" refused/);
  assert.match(answer[4], /^error: command "halt" refused/);
  assert.match(answer[5], /^error: unknown command of 4 characters/);
  assert.equal((await sub.nextEvent()).data, "still here");
  await server.waitForOutput(
    /control 127\.0\.0\.1:\d+: command "halt" refused/,
  );
});

Deno.test("control port: with -a, status and halt are obeyed; halt closes controllers and clients", async () => {
  const server = await startServer(["-P", "0", "-a"], { control: true });
  try {
    const sub = await connect(`${server.baseUrl}/x`);
    await using ctl = await controller(server.controlPort!);
    await ctl.send("status\n");
    await server.waitForOutput(/controller control 127\.0\.0\.1:\d+/);
    await ctl.send("x = bye\nhalt\n");
    assert.equal((await sub.nextEvent()).data, "bye");
    await sub.ended;
    await ctl.closedByServer();
    assert.equal(await server.exited, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("control port: an abrupt disconnect costs nothing and others go on", async () => {
  await using server = await startServer(["-P", "0"], { control: true });
  await using sub = await connect(`${server.baseUrl}/c`);
  const rude = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.controlPort!,
  });
  await rude.write(encoder.encode("c = from rude\nc = half a li"));
  rude.close();
  assert.equal((await sub.nextEvent()).data, "from rude");
  // The unterminated last line is handled when the connection ends.
  assert.equal((await sub.nextEvent()).data, "half a li");
  await server.waitForOutput(/controller 127\.0\.0\.1:\d+ disconnected/);
  await using ctl = await controller(server.controlPort!);
  await ctl.send("c = next\n");
  assert.equal((await sub.nextEvent()).data, "next");
});
