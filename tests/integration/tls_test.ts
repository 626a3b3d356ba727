// TLS with -c/-k on the HTTP port and on the control port.
import assert from "node:assert/strict";
import { runProgram, startServer } from "../helpers/server_process.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const TLS_ARGS = ["-c", `${FIXTURES}cert.pem`, "-k", `${FIXTURES}key.pem`];
const CA = await Deno.readTextFile(`${FIXTURES}ca.pem`);

Deno.test("TLS: subscribe over https, publish on the TLS control port", async () => {
  await using server = await startServer([...TLS_ARGS, "-P", "0"], {
    tls: true,
    control: true,
  });
  assert.match(server.output(), /control port \(TLS\)/);
  using client = Deno.createHttpClient({ caCerts: [CA] });
  await using sub = await connect(`${server.baseUrl}/secure`, { client });
  assert.equal(sub.response.headers.get("content-type"), "text/event-stream");
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.controlPort!,
    caCerts: [CA],
  });
  try {
    await conn.write(new TextEncoder().encode("secure/t = over tls\n"));
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: "t",
      data: "over tls",
    });
  } finally {
    conn.close();
  }
  const res = await fetch(`${server.baseUrl}/secure?message=by+https`, {
    client,
  });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal((await sub.nextEvent()).data, "by https");
});

Deno.test("TLS: a plain-text client on the TLS control port does not disturb the server", async () => {
  await using server = await startServer([...TLS_ARGS, "-P", "0"], {
    tls: true,
    control: true,
  });
  const plain = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.controlPort!,
  });
  await plain.write(new TextEncoder().encode("secure = not encrypted\n"));
  // The server drops the connection: the read ends or fails.
  await plain.read(new Uint8Array(64)).catch(() => null);
  plain.close();
  await server.waitForOutput(/controller 127\.0\.0\.1:\d+ disconnected/);
  using client = Deno.createHttpClient({ caCerts: [CA] });
  await using sub = await connect(`${server.baseUrl}/secure`, { client });
  await (await fetch(`${server.baseUrl}/secure?message=fine`, { client }))
    .text();
  assert.equal((await sub.nextEvent()).data, "fine");
  assert.doesNotMatch(sub.raw(), /not encrypted/);
});

Deno.test("TLS: unreadable or invalid certificate files exit 66 / 69 with the file named", async () => {
  const missing = await runProgram([
    "-n",
    "-p",
    "0",
    "-c",
    "/nonexistent/cert.pem",
    "-k",
    `${FIXTURES}key.pem`,
  ]);
  assert.equal(missing.code, 66);
  assert.match(
    missing.stderr,
    /cannot read TLS certificate \/nonexistent\/cert\.pem/,
  );
  const notPem = await runProgram([
    "-n",
    "-p",
    "0",
    "-c",
    `${FIXTURES}README.md`,
    "-k",
    `${FIXTURES}key.pem`,
  ]);
  assert.equal(notPem.code, 69);
  assert.match(notPem.stderr, /README\.md holds no PEM certificate/);
});
