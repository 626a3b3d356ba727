// HTTP/2 over TLS: Deno.serve negotiates h2 by ALPN, so a browser can hold
// many event streams on one connection.
import assert from "node:assert/strict";
import { startServer } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const CA = await Deno.readTextFile(`${FIXTURES}ca.pem`);

Deno.test("HTTP/2: two subscriptions share one TLS connection and both receive events", async () => {
  await using server = await startServer(
    ["-c", `${FIXTURES}cert.pem`, "-k", `${FIXTURES}key.pem`],
    { tls: true },
  );
  // A client that speaks only HTTP/2: this fails unless the server offers h2.
  using client = Deno.createHttpClient({
    caCerts: [CA],
    http1: false,
    http2: true,
  });
  await using news = await connect(`${server.baseUrl}/news`, { client });
  await using sport = await connect(`${server.baseUrl}/sport`, { client });
  // The log may be written a moment after the streams opened.
  await server.waitForOutput(/(client \d+ connected from[^]*){2}/);
  const ports = [
    ...server.output().matchAll(
      /client \d+ connected from 127\.0\.0\.1:(\d+)/g,
    ),
  ].map((m) => m[1]);
  assert.equal(ports.length, 2);
  assert.equal(ports[0], ports[1], "both streams come from one connection");

  const res = await fetch(`${server.baseUrl}/news/sport?message=both`, {
    client,
  });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal((await news.nextEvent()).data, "both");
  assert.equal((await sport.nextEvent()).data, "both");
});

Deno.test("HTTP/2: HTTP/1.1 clients still work on the TLS port", async () => {
  await using server = await startServer(
    ["-c", `${FIXTURES}cert.pem`, "-k", `${FIXTURES}key.pem`],
    { tls: true },
  );
  using client = Deno.createHttpClient({
    caCerts: [CA],
    http1: true,
    http2: false,
  });
  await using sub = await connect(`${server.baseUrl}/c`, { client });
  await (await fetch(`${server.baseUrl}/c?message=h1`, { client })).text();
  assert.equal((await sub.nextEvent()).data, "h1");
});
