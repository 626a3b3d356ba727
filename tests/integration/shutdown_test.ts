// A publish in flight when the server halts is answered honestly: 503 and
// nothing published, never a 2xx for an event no stream received.
import assert from "node:assert/strict";
import { bytes, openRaw, writeAll } from "../helpers/raw_http.ts";
import { startServer, testBothEngines } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

testBothEngines(
  "shutdown: SIGTERM in the middle of a POST body gets 503, not an acknowledgement of a lost event",
  async (engine) => {
    await using server = await startServer([], { engine });
    await using stream = await connect(`${server.baseUrl}/c`);
    await using raw = await openRaw(server.httpPort);
    // "Expect: 100-continue": the server says when its handler reads the
    // body, so the halt comes while the request is surely in flight.
    await writeAll(
      raw.conn,
      bytes(
        "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" +
          "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n",
      ),
    );
    await raw.until(() => /^HTTP\/1\.1 100 /.test(raw.text()));
    raw.clear();
    await writeAll(raw.conn, bytes("hello"));
    server.process.kill("SIGTERM");
    await server.waitForOutput(/halting/);
    await writeAll(raw.conn, bytes("world")).catch(() => {});
    await raw.until(() => raw.closed() || /\r\n\r\n/.test(raw.text()));
    // Refused, never acknowledged: the hub takes no events once halting.
    // Deno.serve may cut the connection instead of answering.
    if (engine === "lean" || raw.text() !== "") {
      assert.match(raw.text(), /^HTTP\/1\.1 503 [^]*shutting down/);
    }
    assert.equal(stream.raw().includes("helloworld"), false);
    assert.doesNotMatch(server.output(), /published message="helloworld"/);
    await raw.close();
    assert.equal(await server.exited, 0);
  },
);
