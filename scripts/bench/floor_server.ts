/**
 * The floor of the per-request path: the least a Deno server on `node:net`
 * (as sse-server's lean engine) spends on a publish. It parses just enough
 * of a request (method, path, Content-Length, the `data` of a JSON body or
 * the `message` of a query), writes one pre-formatted event to each
 * subscriber of the channel and answers with fixed bytes: no checks, no
 * limits, no history, no log. `deno task bench --floor` runs it beside
 * sse-server, so that the CPU per delivery of our server can be read
 * against what the runtime itself costs.
 *
 * Run: `deno run --allow-net scripts/bench/floor_server.ts PORT`.
 *
 * @module
 */

import { createServer, type Socket } from "node:net";

const port = Number(Deno.args[0] ?? 0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ANSWER = encoder.encode(
  "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n" +
    'content-length: 12\r\nconnection: keep-alive\r\n\r\n{"ok":true}\n',
);
const STREAM_HEAD = encoder.encode(
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" +
    "cache-control: no-cache\r\nconnection: close\r\n\r\n",
);
const subscribers = new Map<string, Set<Socket>>();
let nextId = 0;

function publish(path: string, data: string): void {
  const event = encoder.encode(`id: ${++nextId}\ndata: ${data}\n\n`);
  for (const socket of subscribers.get(path) ?? []) socket.write(event);
}

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on("error", () => {});
  let pending = "";
  socket.on("data", (chunk: Uint8Array) => {
    pending += decoder.decode(chunk);
    while (true) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = pending.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const body = pending.slice(end + 4, end + 4 + length);
      pending = pending.slice(end + 4 + length);
      const [method, target] = head.split(" ", 2);
      const query = target.indexOf("?");
      const path = query < 0 ? target : target.slice(0, query);
      if (method === "POST") {
        publish(path, JSON.parse(body).data);
      } else if (query >= 0) {
        const message = /(?:^|&)message=([^&]*)/.exec(target.slice(query + 1));
        publish(path, decodeURIComponent(message?.[1] ?? ""));
      } else {
        socket.write(STREAM_HEAD);
        let set = subscribers.get(path);
        if (!set) subscribers.set(path, set = new Set());
        const mine = set;
        mine.add(socket);
        socket.on("close", () => mine.delete(socket));
        return;
      }
      socket.write(ANSWER);
    }
  });
}

const server = createServer(serve);
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  if (address !== null && typeof address !== "string") {
    console.log(`listening on 127.0.0.1:${address.port}`);
  }
});
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
