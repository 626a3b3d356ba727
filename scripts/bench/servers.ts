/**
 * The servers under test, started and stopped by the benchmark on loopback:
 * this project's `main.ts` (`sse-server`), three instances of it sharing a
 * `redis-server` (the cluster scenario), and nginx with Debian's nchan
 * module as the peer. Each is started fresh for every run and stopped by its
 * own PID.
 *
 * @module
 */

import { childrenOf } from "./proc.ts";

/** Who is measured: ours, the peer, or the floor (`floor_server.ts`). */
export type ServerName = "sse-server" | "nchan" | "floor";

/** A running server under test. */
export interface Target {
  readonly name: ServerName;
  readonly host: string;
  /** Where events are POSTed (a cluster: the first instance). */
  readonly httpPort: number;
  /** Our control port; nchan has none. */
  readonly controlPort?: number;
  /**
   * A cluster: the HTTP port of each instance, the first being the one
   * published to (`httpPort`); subscriber `i` goes to `i mod length`.
   * Absent: every subscriber goes to `httpPort`.
   */
  readonly instancePorts?: readonly number[];
  /** Subscription path of channel `cN` is `subscribePrefix + "cN"`. */
  readonly subscribePrefix: string;
  /** POST path of channel `cN` is `publishPrefix + "cN"`. */
  readonly publishPrefix: string;
  /**
   * The processes whose CPU and memory count (nginx: master and workers; a
   * cluster: every instance).
   */
  pids(): number[];
  /** Processes serving the target that are not the server (Redis). */
  backendPids?(): number[];
  /** What the server wrote to stderr and its error log, for diagnostics. */
  diagnostics(): string;
  stop(): Promise<void>;
}

/** The checkout this script belongs to: its `main.ts` is what is measured. */
export const PROJECT_ROOT: string = new URL("../../", import.meta.url).pathname;
const HOST = "127.0.0.1";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Keeps the last `limit` characters of a stream, reading it to its end. */
function drain(stream: ReadableStream<Uint8Array>, limit = 8192): () => string {
  let text = "";
  (async () => {
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        text = (text + chunk).slice(-limit);
      }
    } catch {
      // The process went away.
    }
  })();
  return () => text;
}

/** Sends `signal` to the process, then SIGKILL after `graceMs`. */
async function terminate(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
  graceMs: number,
): Promise<void> {
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = await Promise.race([
    child.status.then(() => false),
    new Promise<boolean>((resolve) =>
      timer = setTimeout(resolve, graceMs, true)
    ),
  ]);
  clearTimeout(timer);
  if (late) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone meanwhile.
    }
    await child.status;
  }
}

/** Where our server's log goes during a run. */
export type ServerLog = "stdout" | "file" | "none";

/** Options for starting this project's server. */
export interface OursOptions {
  readonly dir: string;
  /** The directory holding `main.ts` and `deno.json` (another checkout, or a snapshot). */
  readonly root: string;
  /**
   * `stdout` (default): a pipe this process reads and discards; `file`: a
   * log file in `dir` (`-l`, as in production; LogTape's file sink syncs
   * every line to disk); `none`: `-l /dev/null`.
   */
  readonly log?: ServerLog;
  /** Extra command-line options for `main.ts`. */
  readonly extraArgs?: readonly string[];
  /** The log file's name in `dir` with `log: "file"` (default `sse-server.log`). */
  readonly logName?: string;
  /** V8 flags for the server's Deno (e.g. for profiling). */
  readonly v8Flags?: string;
}

/** Reads a stream to its end, keeping only its beginning and its end. */
function watch(stream: ReadableStream<Uint8Array>): {
  head(): string;
  tail(): string;
} {
  let head = "";
  let tail = "";
  (async () => {
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        if (head.length < 16384) head += chunk.slice(0, 16384 - head.length);
        tail = (tail + chunk).slice(-4096);
      }
    } catch {
      // The process went away.
    }
  })();
  return { head: () => head, tail: () => tail };
}

/**
 * Starts `main.ts` as the tests do (`deno run -q -P --config deno.json`),
 * on loopback, with the HTTP port and the control port; waits until it
 * serves.
 */
export async function startOurs(options: OursOptions): Promise<Target> {
  const mode = options.log ?? "stdout";
  const logFile = `${options.dir}/${options.logName ?? "sse-server.log"}`;
  if (mode === "file") await Deno.writeTextFile(logFile, "");
  // With no log to read the ports from, choose them here.
  const fixed = mode === "none" ? [freePort(), freePort()] : [0, 0];
  const args = [
    "run",
    "-q",
    "-P",
    "--config",
    `${options.root}/deno.json`,
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    `${options.root}/main.ts`,
    "-n",
    "--bind",
    HOST,
    "-p",
    String(fixed[0]),
    "-P",
    String(fixed[1]),
    ...(mode === "file" ? ["-l", logFile] : []),
    ...(mode === "none" ? ["-l", "/dev/null"] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: mode === "stdout" ? "piped" : "null",
    stderr: "piped",
  }).spawn();
  const stderr = drain(child.stderr);
  const stdout = mode === "stdout" ? watch(child.stdout) : undefined;
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 30_000;
  let httpPort = 0;
  let controlPort = 0;
  const logText = async () =>
    stdout?.head() ??
      (mode === "file" ? await Deno.readTextFile(logFile).catch(() => "") : "");
  while (Date.now() < deadline && !exited) {
    if (mode === "none") {
      try {
        for (const port of fixed) {
          (await Deno.connect({ hostname: HOST, port })).close();
        }
        [httpPort, controlPort] = fixed;
        break;
      } catch {
        // Not listening yet.
      }
    } else {
      const text = await logText();
      httpPort = Number(
        /listening for http on [^ ]*:(\d+)/.exec(text)?.[1] ?? 0,
      );
      controlPort = Number(/control port on [^ ]*:(\d+)/.exec(text)?.[1] ?? 0);
      if (httpPort && controlPort) break;
    }
    await sleep(50);
  }
  if (!httpPort || !controlPort) {
    await terminate(child, "SIGKILL", 1000);
    throw new Error(
      `sse-server did not start\nstderr: ${stderr()}\nlog: ${await logText()}`,
    );
  }
  return {
    name: "sse-server",
    host: HOST,
    httpPort,
    controlPort,
    subscribePrefix: "/",
    publishPrefix: "/",
    pids: () => [child.pid],
    diagnostics: () => `${stderr()}\n${stdout?.tail() ?? ""}`,
    stop: () => terminate(child, "SIGTERM", 5000),
  };
}

/** A free TCP port on loopback (bound once, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Where Debian's nchan module lives, if installed. */
export function nchanModule(): string | undefined {
  for (
    const path of [
      "/usr/lib/nginx/modules/ngx_nchan_module.so",
      "/usr/lib64/nginx/modules/ngx_nchan_module.so",
    ]
  ) {
    try {
      Deno.statSync(path);
      return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

/** Options for starting nginx with nchan. */
export interface NchanOptions {
  readonly dir: string;
  /** Connections the worker must hold. */
  readonly connections: number;
  /** Open files per process (the generator's limit, inherited). */
  readonly fileLimit: number;
}

/**
 * The nginx configuration: one worker process (nginx's event loop is single
 * threaded, as is our server's JavaScript), `nchan_publisher` on
 * `/pub/CHANNEL`, `nchan_subscriber eventsource` on `/sub/CHANNEL`, new
 * subscribers starting at the newest message (as ours do without
 * Last-Event-ID), 1,000 messages kept per channel (our `--history`
 * default), and an access log (ours logs each publish).
 */
export function nchanConfig(
  module: string,
  dir: string,
  port: number,
  connections: number,
): string {
  return `# Written by scripts/bench (sse-server benchmark); started with -p ${dir}
load_module ${module};
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events {
  worker_connections ${connections};
  multi_accept on;
}
http {
  access_log ${dir}/nginx-access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  nchan_max_reserved_memory 256M;
  nchan_message_buffer_length 1000;
  nchan_message_timeout 1h;
  server {
    listen ${HOST}:${port} backlog=4096;
    location ~ ^/pub/(\\w+)$ {
      nchan_publisher;
      nchan_channel_id $1;
    }
    location ~ ^/sub/(\\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }
  }
}
`;
}

/** Starts nginx (foreground master, one worker) with nchan on loopback. */
export async function startNchan(options: NchanOptions): Promise<Target> {
  const module = nchanModule();
  if (!module) {
    throw new Error(
      "nchan is not installed: apt-get install nginx libnginx-mod-nchan",
    );
  }
  const { dir } = options;
  const port = freePort();
  const connections = Math.max(
    1024,
    Math.min(options.fileLimit - 64, options.connections + 1024),
  );
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, nchanConfig(module, dir, port, connections));
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", conf],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = drain(child.stderr);
  // Ready once the master has started its worker.
  const ready = await untilListening(
    child,
    port,
    () => childrenOf(child.pid).length > 0,
  );
  const errorLog = () => {
    try {
      return Deno.readTextFileSync(`${dir}/nginx-error.log`).slice(-4096);
    } catch {
      return "";
    }
  };
  if (!ready) {
    await terminate(child, "SIGKILL", 1000);
    throw new Error(
      `nginx did not start\nstderr: ${stderr()}\nerror log: ${errorLog()}`,
    );
  }
  // The workers, to kill them by PID should the master not take them along.
  let workers = childrenOf(child.pid);
  return {
    name: "nchan",
    host: HOST,
    httpPort: port,
    subscribePrefix: "/sub/",
    publishPrefix: "/pub/",
    pids: () => {
      const now = childrenOf(child.pid);
      if (now.length > 0) workers = now;
      return [child.pid, ...now];
    },
    diagnostics: () => `${stderr()}\n${errorLog()}`,
    stop: async () => {
      // SIGTERM: nginx's fast shutdown; the master stops its workers.
      await terminate(child, "SIGTERM", 5000);
      for (const pid of workers) {
        try {
          // Only if it is still one of our nginx workers (not a reused PID).
          const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
          if (cmdline.startsWith("nginx: worker")) Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone, as expected.
        }
      }
    },
  };
}

// ---- the cluster: instances sharing a redis-server --------------------------

const encoder = new TextEncoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/**
 * Sends one command to the Redis on `port` and returns its reply as text
 * (a simple string, an integer or a bulk string; an error reply throws).
 * Enough for PING and CLIENT LIST without a Redis client library.
 */
export async function redisCommand(
  port: number,
  args: readonly string[],
  timeoutMs = 2000,
): Promise<string> {
  const conn = await Deno.connect({ hostname: HOST, port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed meanwhile.
    }
  }, timeoutMs);
  try {
    let request = `*${args.length}\r\n`;
    for (const arg of args) {
      request += `$${encoder.encode(arg).length}\r\n${arg}\r\n`;
    }
    const bytes = encoder.encode(request);
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
    let reply: Uint8Array = new Uint8Array(0);
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("Redis closed the connection");
      reply = concat(reply, buffer.subarray(0, n));
      const text = new TextDecoder().decode(reply);
      const lineEnd = text.indexOf("\r\n");
      if (lineEnd < 0) continue;
      const line = text.slice(1, lineEnd);
      switch (text[0]) {
        case "+":
        case ":":
          return line;
        case "-":
          throw new Error(`Redis: ${line}`);
        case "$": {
          const length = Number(line);
          if (length < 0) return "";
          // The length counts bytes: compare with the bytes received.
          const headBytes = encoder.encode(text.slice(0, lineEnd + 2)).length;
          if (reply.length < headBytes + length + 2) continue;
          return new TextDecoder().decode(
            reply.subarray(headBytes, headBytes + length),
          );
        }
        default:
          throw new Error(`unexpected Redis reply ${JSON.stringify(line)}`);
      }
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

/** A redis-server started by the benchmark. */
export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:PORT/0`. */
  readonly url: string;
  readonly pid: number;
  /** The end of its log file. */
  log(): string;
  /** Stops it by its PID (SIGTERM, SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free loopback port without persistence
 * (`--save "" --appendonly no`), its directory (log) a new one in `parent`,
 * removed by `stop()` unless `keep`. Redis has no "port 0": a free port is
 * picked by binding and releasing it, and another is tried when someone
 * took it in between.
 */
export async function startRedisServer(
  parent: string,
  keep = false,
): Promise<RedisProcess> {
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "redis-" });
  const logFile = `${dir}/redis.log`;
  const log = () => {
    try {
      return Deno.readTextFileSync(logFile).slice(-4096);
    } catch {
      return "";
    }
  };
  for (let attempt = 1;; attempt++) {
    const port = freePort();
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("redis-server", {
        args: [
          "--port",
          String(port),
          "--bind",
          HOST,
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          dir,
          "--logfile",
          logFile,
          "--daemonize",
          "no",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          "redis-server is not installed (the cluster scenario needs it): " +
            "apt-get install redis-server",
        );
      }
      throw error;
    }
    const stderr = drain(child.stderr);
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      try {
        ready = await redisCommand(port, ["PING"], 1000) === "PONG";
        if (ready) break;
      } catch {
        // Not listening yet.
      }
      await sleep(20);
    }
    if (ready) {
      return {
        port,
        url: `redis://${HOST}:${port}/0`,
        pid: child.pid,
        log,
        stop: async () => {
          await terminate(child, "SIGTERM", 5000);
          if (!keep) {
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      };
    }
    await terminate(child, "SIGKILL", 1000);
    const text = `${stderr()}\n${log()}`.trim();
    if (/address already in use/i.test(text) && attempt < 5) continue;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`redis-server did not start on port ${port}: ${text}`);
  }
}

/** Options for starting instances of our server sharing one Redis. */
export interface ClusterOptions extends OursOptions {
  readonly instances: number;
  /** Keep Redis's directory (its log) in `dir`. */
  readonly keep?: boolean;
}

/**
 * Starts a `redis-server` and `instances` instances of `main.ts` with
 * `--redis`, and waits until every instance follows the event stream (its
 * reader blocked in `XREAD`, as `CLIENT LIST` shows). The target publishes
 * to the first instance; its `pids()` are the instances', `backendPids()`
 * Redis's. `stop()` stops the instances, then Redis, each by its PID.
 */
export async function startCluster(options: ClusterOptions): Promise<Target> {
  const redis = await startRedisServer(options.dir, options.keep);
  const started = await Promise.allSettled(
    Array.from({ length: options.instances }, (_, k) =>
      startOurs({
        ...options,
        logName: `sse-server-${k + 1}.log`,
        extraArgs: [...(options.extraArgs ?? []), "--redis", redis.url],
      })),
  );
  const instances = started.flatMap((r) =>
    r.status === "fulfilled" ? [r.value] : []
  );
  const diagnostics = () =>
    [
      ...instances.map((t, k) =>
        `instance ${k + 1}: ${t.diagnostics().trim()}`
      ),
      `redis-server: ${redis.log().trim()}`,
    ].join("\n");
  const stop = async () => {
    await Promise.all(instances.map((t) => t.stop()));
    await redis.stop();
  };
  try {
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const deadline = Date.now() + 15_000;
    let following = 0;
    while (following < options.instances) {
      if (Date.now() > deadline) {
        throw new Error(
          `${following} of ${options.instances} instances follow the Redis ` +
            `stream after 15 s`,
        );
      }
      await sleep(50);
      const clients = await redisCommand(redis.port, ["CLIENT", "LIST"])
        .catch(() => "");
      following = clients.split("\n").filter((l) => / cmd=xread\b/.test(l))
        .length;
    }
  } catch (error) {
    const text = `${(error as Error)?.message ?? error}\n${diagnostics()}`;
    await stop();
    throw new Error(text);
  }
  const first = instances[0];
  return {
    name: "sse-server",
    host: HOST,
    httpPort: first.httpPort,
    controlPort: first.controlPort,
    instancePorts: instances.map((t) => t.httpPort),
    subscribePrefix: first.subscribePrefix,
    publishPrefix: first.publishPrefix,
    pids: () => instances.flatMap((t) => t.pids()),
    backendPids: () => [redis.pid],
    diagnostics,
    stop,
  };
}

/**
 * Waits, at most 15 s, until `port` on loopback accepts a connection and
 * `ready()` holds: true then; false when the time is up or `child` exited.
 */
async function untilListening(
  child: Deno.ChildProcess,
  port: number,
  ready: () => boolean = () => true,
): Promise<boolean> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !exited) {
    try {
      (await Deno.connect({ hostname: HOST, port })).close();
      if (ready()) return true;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  return false;
}

/**
 * Starts the floor server (`floor_server.ts`): the least a Deno `node:net`
 * server spends per publish, for the per-request scenarios. It runs with
 * the V8 flags given (those sse-server runs with), so that the runtime's
 * own cost is measured under the same heap settings.
 */
export async function startFloor(v8Flags?: string): Promise<Target> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--allow-net",
      ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
      new URL("./floor_server.ts", import.meta.url).pathname,
      String(port),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = drain(child.stderr);
  if (!await untilListening(child, port)) {
    await terminate(child, "SIGKILL", 1000);
    throw new Error(`the floor server did not start\nstderr: ${stderr()}`);
  }
  return {
    name: "floor",
    host: HOST,
    httpPort: port,
    subscribePrefix: "/",
    publishPrefix: "/",
    pids: () => [child.pid],
    diagnostics: () => stderr(),
    stop: () => terminate(child, "SIGTERM", 5000),
  };
}
