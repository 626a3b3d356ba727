/**
 * The floor under the `steady` scenario: how fast can Deno alone write one
 * small event to 10,000 sockets, with no hub, no HTTP parsing and no
 * queues, on one event loop or on several (Web Workers accepting on the
 * same port with `reusePort`, which needs `--unstable-net`), through
 * `Deno.listen` connections or `node:net` sockets (the lean engine's)? The
 * server is a child process; the subscribers are two Web Workers here, as in
 * the benchmark. Prints the publish-to-receive latency of every delivery
 * (p50, p99, max) for each socket API and number of event loops.
 *
 * ```sh
 * deno run -A --unstable-net scripts/bench/raw_fanout.ts            # both APIs, 1 and 2 loops
 * deno run -A --unstable-net scripts/bench/raw_fanout.ts --api node --loops 1
 * deno run -A --unstable-net scripts/bench/raw_fanout.ts --loops 2 --subscribers 5000
 * ```
 *
 * Loopback only; every run ends by itself (the child is killed by its PID).
 *
 * @module
 */

import { createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";

const HOST = "127.0.0.1";
const EVENTS_PER_SECOND = 5;
const MEASURE_MS = 10_000;
const HEAD = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

/** Which sockets the server writes to. */
type SocketApi = "deno" | "node";

interface LoopStart {
  readonly port: number;
  readonly api: SocketApi;
}

interface ClientStart {
  readonly port: number;
  readonly count: number;
}

type Self = {
  name: string;
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
};
const self = globalThis as unknown as Self;

/** One event loop: accepts its share of the connections, writes each event to all. */
function runLoop({ port, api }: LoopStart): void {
  if (api === "node") return runNodeLoop(port);
  const listener = Deno.listen({ hostname: HOST, port, reusePort: true });
  const conns: Deno.Conn[] = [];
  const head = new TextEncoder().encode(HEAD);
  (async () => {
    for await (const conn of listener) {
      (async () => {
        await conn.read(new Uint8Array(1024)); // the request head, unread
        await conn.write(head);
        conns.push(conn);
        self.postMessage(conns.length);
      })().catch(() => conn.close());
    }
  })();
  self.onmessage = (event: MessageEvent<Uint8Array>) => {
    for (const conn of conns) conn.write(event.data).catch(() => {});
  };
}

/** {@linkcode runLoop} on `node:net` sockets, written as the lean engine does. */
function runNodeLoop(port: number): void {
  const sockets: Socket[] = [];
  const written = () => {};
  const server = createServer((socket) => {
    socket.on("error", () => {});
    socket.setNoDelay(true);
    socket.once("data", () => {
      socket.write(HEAD);
      sockets.push(socket);
      self.postMessage(sockets.length);
    });
  });
  server.listen({ host: HOST, port, reusePort: true });
  self.onmessage = (event: MessageEvent<Uint8Array>) => {
    for (const socket of sockets) socket.write(event.data, written);
  };
}

/** One subscriber thread: opens `count` streams and notes each event's age. */
async function runClients({ port, count }: ClientStart): Promise<void> {
  const latencies: number[] = [];
  const request = new TextEncoder().encode(
    `GET /c HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    const conn = await Deno.connect({ hostname: HOST, port });
    await conn.write(request);
    (async () => {
      const buffer = new Uint8Array(4096);
      for (
        let n = await conn.read(buffer);
        n !== null;
        n = await conn.read(buffer)
      ) {
        const sent = /data: (\d+)/.exec(decoder.decode(buffer.subarray(0, n)));
        if (sent) latencies.push(Date.now() - Number(sent[1]));
      }
    })().catch(() => {});
  }
  self.postMessage("connected");
  // Each message asks for the latencies so far (and forgets them).
  self.onmessage = () => self.postMessage(latencies.splice(0));
}

/** The server process: `loops` event loops on `api` sockets, 5 events/s. */
function serve(loops: number, port: number, api: SocketApi): void {
  const workers = Array.from(
    { length: loops },
    () =>
      new Worker(import.meta.url, {
        type: "module",
        name: JSON.stringify({ role: "loop", port, api }),
      }),
  );
  const encoder = new TextEncoder();
  setInterval(() => {
    const bytes = encoder.encode(`data: ${Date.now()} ${"x".repeat(60)}\n\n`);
    for (const worker of workers) worker.postMessage(bytes);
  }, 1000 / EVENTS_PER_SECOND);
}

function socketApi(given: string[] | undefined): SocketApi {
  const api = given?.[0] ?? "deno";
  if (api !== "deno" && api !== "node") {
    throw new Error(`--api must be deno or node, got ${JSON.stringify(api)}`);
  }
  return api;
}

function reply<T>(worker: Worker, message?: unknown): Promise<T> {
  return new Promise((resolve) => {
    worker.onmessage = (event) => resolve(event.data as T);
    if (message !== undefined) worker.postMessage(message);
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Runs one measurement with `loops` event loops and prints its figures. */
async function measure(
  api: SocketApi,
  loops: number,
  subscribers: number,
): Promise<void> {
  const port = freePort();
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      new URL(import.meta.url).pathname,
      "--serve",
      String(loops),
      "--port",
      String(port),
      "--api",
      api,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const clients = [0, 1].map(() =>
    new Worker(import.meta.url, {
      type: "module",
      name: JSON.stringify({
        role: "clients",
        port,
        count: subscribers / 2,
      }),
    })
  );
  try {
    // The server needs a moment to listen; the clients retry until it does.
    await Promise.all(clients.map((worker) => reply(worker)));
    await Promise.all(clients.map((worker) => reply(worker, "reset")));
    await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
    const all = (await Promise.all(
      clients.map((worker) => reply<number[]>(worker, "report")),
    )).flat().sort((a, b) => a - b);
    const at = (q: number) => all[Math.floor(q * (all.length - 1))];
    console.log(
      `${api}: ${loops} event loop(s), ${subscribers} subscribers, ${EVENTS_PER_SECOND} events/s: ` +
        `${all.length} deliveries, latency p50 ${at(0.5)} ms, p99 ${
          at(0.99)
        } ms, max ${all[all.length - 1]} ms`,
    );
  } finally {
    for (const worker of clients) worker.terminate();
    server.kill("SIGKILL");
    await server.status;
  }
}

if (self.name) {
  const start = JSON.parse(self.name);
  if (start.role === "loop") runLoop(start);
  else {
    // Connecting waits until the server listens.
    while (true) {
      try {
        await (await Deno.connect({ hostname: HOST, port: start.port }))
          .close();
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await runClients(start);
  }
} else if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      port: { type: "string" },
      api: { type: "string", multiple: true },
      loops: { type: "string", multiple: true },
      subscribers: { type: "string", default: "10000" },
    },
  });
  if (values.serve !== undefined) {
    serve(Number(values.serve), Number(values.port), socketApi(values.api));
  } else {
    for (const api of values.api ?? ["deno", "node"]) {
      for (const loops of (values.loops ?? ["1", "2"]).map(Number)) {
        await measure(socketApi([api]), loops, Number(values.subscribers));
      }
    }
  }
}
