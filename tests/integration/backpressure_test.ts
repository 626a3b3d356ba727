// Push-back against the real program: a flood on the control port is made
// to wait for the subscribers (--max-backlog), a client that never reads does
// not hold it back, and the reading subscriber loses nothing.
import assert from "node:assert/strict";
import {
  adminUrl,
  startServer,
  testBothEngines,
} from "../helpers/server_process.ts";
import { connect, rawSubscribe } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();

/** Writes all of `text` (a write may take only part of it). */
async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

async function pushbacks(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const match = /^sse_server_pushbacks_total (\d+)$/m.exec(text);
  assert.ok(match, "metrics list sse_server_pushbacks_total");
  return Number(match[1]);
}

testBothEngines(
  "push-back: a control-port flood waits for readers, not for a client that never reads",
  async (engine) => {
    await using server = await startServer(
      // Each client counts for at most 64 KiB of the backlog: two that never
      // read would hold it over 100,000 bytes for ever if they kept counting.
      // The reader may fall far behind without being dropped.
      [
        "-P",
        "0",
        "--max-backlog",
        "100000",
        "--max-client-buffer",
        String(64 << 20),
        "--admin-port",
        "0",
      ],
      { control: true, engine },
    );
    const admin = await adminUrl(server);
    const stalled = [
      await rawSubscribe(server.httpPort, "/c"),
      await rawSubscribe(server.httpPort, "/c"),
    ];
    await using reader = await connect(`${server.baseUrl}/c`);
    const ctl = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.controlPort!,
    });
    const COUNT = 12_000;
    const payload = "y".repeat(1000);
    try {
      // ~12 MB in writes of 100 lines: far more than the backlog allows, so
      // the server must stop reading the control port now and then.
      const writing = (async () => {
        for (let i = 0; i < COUNT; i += 100) {
          let batch = "";
          for (let j = i; j < i + 100; j++) batch += `c = ${j} ${payload}\n`;
          await writeAll(ctl, batch);
        }
      })();
      // Observed below; a failed read must not leave it unhandled meanwhile.
      writing.catch(() => {});
      for (let i = 0; i < COUNT; i++) {
        const event = await reader.nextEvent(20_000);
        assert.equal(event.data, `${i} ${payload}`, `event ${i}`);
      }
      await writing;
      assert.ok(
        (await pushbacks(admin)) > 0,
        "the publisher was made to wait at least once",
      );
    } finally {
      ctl.close();
      for (const conn of stalled) conn.close();
    }
  },
);

testBothEngines(
  "push-back: an HTTP publish in the middle of a held-back flood is delivered, and the flood loses nothing",
  async (engine) => {
    await using server = await startServer(
      ["-P", "0", "--max-backlog", "65536"],
      { control: true, engine },
    );
    await using reader = await connect(`${server.baseUrl}/c`);
    const ctl = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.controlPort!,
    });
    const payload = "z".repeat(1000);
    try {
      let batch = "";
      for (let i = 0; i < 500; i++) batch += `c = ${i} ${payload}\n`;
      const writing = writeAll(ctl, batch);
      const answer = await fetch(`${server.baseUrl}/c?message=by-http`);
      assert.equal(answer.status, 200);
      await answer.body?.cancel();
      const seen: string[] = [];
      while (!seen.includes("by-http") || seen.length < 501) {
        seen.push((await reader.nextEvent(20_000)).data);
      }
      const flood = seen.filter((data) => data !== "by-http");
      assert.deepEqual(
        flood,
        Array.from({ length: 500 }, (_, i) => `${i} ${payload}`),
      );
      await writing;
    } finally {
      ctl.close();
    }
  },
);
