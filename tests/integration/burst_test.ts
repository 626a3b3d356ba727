// Bursts larger than --max-client-buffer: a client that reads gets every
// event, one that never reads is still cut off, and the burst waits for the
// readers rather than dropping them.
import assert from "node:assert/strict";
import { bytes, writeAll } from "../helpers/raw_http.ts";
import { openController } from "../helpers/publishers.ts";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

testBothEngines(
  "burst: 20 control connections of 20 lines of 60 KB reach a reading client whole; a client that never reads is dropped",
  async (engine) => {
    await using server = await startServer(["-P", "0"], {
      engine,
      control: true,
    });
    await using reader = await connect(`${server.baseUrl}/flood`);
    const never = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.httpPort,
    });
    try {
      await writeAll(never, bytes("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"));
      await server.waitForOutput(/client 2 connected/);
      const pad = "x".repeat(60_000);
      let sent = 0;
      for (let c = 0; c < 20; c++) {
        await using control = await openController(server.controlPort!);
        let lines = "";
        for (let i = 0; i < 20; i++) lines += `flood = ${sent++} ${pad}\n`;
        await control.send(lines);
      }
      // Every event once; in order within each connection (connections are
      // read side by side, so not across them).
      const got: number[] = [];
      for (let n = 0; n < sent; n++) {
        const event = await reader.nextEvent(20_000);
        const number = Number(event.data.slice(0, event.data.indexOf(" ")));
        assert.equal(event.data.length, String(number).length + 1 + pad.length);
        got.push(number);
      }
      assert.deepEqual(
        [...got].sort((a, b) => a - b),
        Array.from({ length: sent }, (_, i) => i),
      );
      for (let c = 0; c < 20; c++) {
        const mine = got.filter((n) => Math.floor(n / 20) === c);
        assert.deepEqual(mine, [...mine].sort((a, b) => a - b));
      }
      await server.waitForOutput(
        /client 2 at \S+ dropped: slow consumer, took nothing for 1 s/,
        20_000,
      );
      assert.doesNotMatch(server.output(), /client 1 at \S+ dropped/);
    } finally {
      never.close();
    }
  },
);
