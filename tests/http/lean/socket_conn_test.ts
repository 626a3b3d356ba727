/**
 * The lean engine's socket: pull reads over a `node:net` socket that stops
 * reading while too much waits unread, on a real loopback connection.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { within } from "../../helpers/condition.ts";
import { SocketConn } from "../../../lib/http/lean/socket_conn.ts";

/** A loopback connection: our side as a `SocketConn`, the client raw. */
async function connectionPair(): Promise<
  AsyncDisposable & { conn: SocketConn; socket: Socket; client: Deno.TcpConn }
> {
  const server: Server = createServer();
  server.listen({ host: "127.0.0.1", port: 0 });
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const accepted = once(server, "connection");
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const [socket] = (await accepted) as [Socket];
  const conn = new SocketConn(socket);
  return {
    conn,
    socket,
    client,
    async [Symbol.asyncDispose]() {
      client.close();
      conn.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

Deno.test("SocketConn: stops reading while 64 KiB wait unread, and reads on as they are taken", async () => {
  await using pair = await connectionPair();
  const paused = once(pair.socket, "pause");
  const sent = new Uint8Array(1 << 20).map((_, i) => i % 251);
  const writing = (async () => {
    for (let n = 0; n < sent.length;) {
      n += await pair.client.write(sent.subarray(n));
    }
  })();
  // Nothing is read yet: the socket pauses instead of buffering the rest.
  await within(paused, 5000, "the socket to stop reading");
  const received = new Uint8Array(sent.length);
  const buffer = new Uint8Array(65536);
  for (let total = 0; total < sent.length;) {
    const n = await pair.conn.read(buffer);
    assert.ok(n !== null, `ended after ${total} bytes`);
    received.set(buffer.subarray(0, n), total);
    total += n;
  }
  await writing;
  assert.deepEqual(received, sent);
});

Deno.test("SocketConn: read returns null once the client ends its side; discardUntilEnd drops what comes until then", async () => {
  await using pair = await connectionPair();
  await pair.client.write(new TextEncoder().encode("hello"));
  const buffer = new Uint8Array(3);
  assert.equal(await pair.conn.read(buffer), 3);
  assert.equal(new TextDecoder().decode(buffer), "hel");
  const discarded = new Promise<void>((resolve) =>
    pair.conn.discardUntilEnd(resolve)
  );
  await pair.client.write(new Uint8Array(1 << 20));
  await pair.client.closeWrite();
  await within(discarded, 5000, "the end of the client's side");
  assert.equal(await pair.conn.read(buffer), null);
});
