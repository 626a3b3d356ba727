// A publish in flight when the server halts is answered honestly: 503 and
// nothing published, never a 2xx for an event no stream received.
import assert from "node:assert/strict";
import { Condition } from "../helpers/condition.ts";
import { bytes, writeAll } from "../helpers/raw_http.ts";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

testBothEngines(
  "shutdown: SIGTERM in the middle of a POST body gets 503, not an acknowledgement of a lost event",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using stream = await connect(`${server.baseUrl}/c`);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.httpPort,
    });
    let answer = "";
    let closed = false;
    const changed = new Condition();
    const reading = (async () => {
      const buffer = new Uint8Array(4096);
      while (true) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        answer += new TextDecoder().decode(buffer.subarray(0, n));
        changed.notify();
      }
      closed = true;
      changed.notify();
    })();
    try {
      // "Expect: 100-continue": the server says when its handler reads the
      // body, so the halt comes while the request is surely in flight.
      await writeAll(
        conn,
        bytes(
          "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
            "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n",
        ),
      );
      await changed.wait(
        () => /^HTTP\/1\.1 100 /.test(answer) ? true : undefined,
        {
          timeoutMs: 10_000,
          timeout: () =>
            new Error(`no 100 Continue: ${JSON.stringify(answer)}`),
        },
      );
      answer = "";
      await writeAll(conn, bytes("hello"));
      server.process.kill("SIGTERM");
      await server.waitForOutput(/halting/);
      await writeAll(conn, bytes("world")).catch(() => {});
      await changed.wait(
        () => closed || /\r\n\r\n/.test(answer) ? true : undefined,
        {
          timeoutMs: 10_000,
          timeout: () => new Error(`no answer: ${JSON.stringify(answer)}`),
        },
      );
      // Refused, never acknowledged: the hub takes no events once halting.
      // Deno.serve may cut the connection instead of answering.
      if (engine === "lean" || answer !== "") {
        assert.match(answer, /^HTTP\/1\.1 503 [^]*shutting down/);
      }
      assert.equal(stream.raw().includes("helloworld"), false);
      assert.doesNotMatch(server.output(), /published message="helloworld"/);
    } finally {
      conn.close();
      await reading;
    }
    assert.equal(await server.exited, 0);
  },
);
