/**
 * A real `redis-server` for integration tests: started on a free loopback
 * port with append-only persistence fsynced on every write (so acknowledged
 * events survive {@linkcode RedisServer.restart}) and its data in a temporary
 * directory that disposal removes.
 *
 * Redis has no "port 0", so a free port is picked by binding port 0 and
 * closing it; when another process takes it in between, Redis fails to bind
 * and another port is tried.
 *
 * @module
 */

/** A running (or stopped, between stop() and restart()) redis-server. */
export interface RedisServer extends AsyncDisposable {
  readonly port: number;
  /** `redis://127.0.0.1:PORT/0`. */
  readonly url: string;
  /** Holds the append-only file and `redis.log`. */
  readonly dir: string;
  /** The PID of the current redis-server process (0 while stopped). */
  readonly pid: number;
  /** Runs `redis-cli -p PORT --raw ...args` and returns its trimmed output. */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (SIGTERM, then waits for it to exit). */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory, and waits for PONG. */
  restart(): Promise<void>;
  /** What redis-server logged so far (for failure messages). */
  log(): Promise<string>;
}

const INSTALL_HINT =
  "run 'sudo bash scripts/install_test_deps.sh' (or 'apt-get install -y redis-server')";

/** How long a start may take before it counts as failed. */
const START_TIMEOUT_MS = 10_000;

/** Fails with an install hint when redis-server or redis-cli is missing. */
async function checkInstalled(): Promise<void> {
  for (const program of ["redis-server", "redis-cli"]) {
    try {
      const { success } = await new Deno.Command(program, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) continue;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    throw new Error(
      `${program} is not installed (needed by tests/cluster_test.ts): ${INSTALL_HINT}`,
    );
  }
}

/**
 * A loopback port that was free a moment ago: `preferred` if it is free,
 * else one the system picks.
 */
function freePort(preferred = 0): number {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port: preferred });
  } catch (error) {
    if (preferred === 0 || !(error instanceof Deno.errors.AddrInUse)) {
      throw error;
    }
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  }
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function cliOutput(port: number, args: string[]): Promise<string> {
  const output = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), "--raw", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(5000),
  }).output();
  const decoder = new TextDecoder();
  return (decoder.decode(output.stdout) + decoder.decode(output.stderr))
    .trim();
}

/** Why a start attempt failed. */
class StartFailure extends Error {
  readonly addressInUse: boolean;
  constructor(message: string, addressInUse: boolean) {
    super(message);
    this.addressInUse = addressInUse;
  }
}

/**
 * Spawns redis-server on `port` and resolves once `redis-cli ping` answers
 * PONG; throws {@linkcode StartFailure} when it exits first or times out.
 */
async function spawn(port: number, dir: string): Promise<Deno.ChildProcess> {
  const logFile = `${dir}/redis.log`;
  const process = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--dir",
      dir,
      "--logfile",
      logFile,
      "--daemonize",
      "no",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = process.status.then((s) => {
    exited = true;
    return s;
  });
  const readLog = () => Deno.readTextFile(logFile).catch(() => "");
  const deadline = Date.now() + START_TIMEOUT_MS;
  let delay = 10;
  while (true) {
    if (exited) {
      const log = await readLog();
      throw new StartFailure(
        `redis-server on port ${port} exited with ${
          (await status).code
        }:\n${log}`,
        /address already in use/i.test(log),
      );
    }
    const answer = await cliOutput(port, ["ping"]).catch(() => "");
    if (answer === "PONG") return process;
    if (Date.now() > deadline) {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await status;
      throw new StartFailure(
        `redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${await readLog()}`,
        false,
      );
    }
    // Polling: redis-server says nothing on a channel we could wait on.
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(100, delay * 2);
  }
}

/** Options of {@linkcode startRedis}. */
export interface RedisOptions {
  /** Use this port when it is free (else any free port). */
  readonly preferPort?: number;
}

/**
 * Starts redis-server on a free loopback port with AOF persistence
 * (`appendfsync always`) in a new temporary directory.
 */
export async function startRedis(
  options: RedisOptions = {},
): Promise<RedisServer> {
  await checkInstalled();
  const dir = await Deno.makeTempDir({ prefix: "sse-redis-" });
  let process: Deno.ChildProcess | null = null;
  let port = 0;
  try {
    for (let attempt = 1; process === null; attempt++) {
      port = freePort(attempt === 1 ? options.preferPort : 0);
      try {
        process = await spawn(port, dir);
      } catch (error) {
        // Someone took the port in between: try another one.
        if (!(error instanceof StartFailure) || !error.addressInUse) {
          throw error;
        }
        if (attempt >= 5) throw error;
      }
    }
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }

  const stop = async () => {
    const current = process;
    if (current === null) return;
    process = null;
    try {
      current.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        current.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, 5000);
    try {
      await current.status;
    } finally {
      clearTimeout(timer);
    }
  };

  const restart = async () => {
    await stop();
    // The port is ours only while Redis holds it; if another process took it
    // meanwhile, wait a little for it to go (there is no other port to use:
    // the instances under test know this one).
    for (let attempt = 1; process === null; attempt++) {
      try {
        process = await spawn(port, dir);
      } catch (error) {
        if (
          !(error instanceof StartFailure) || !error.addressInUse ||
          attempt >= 20
        ) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    get pid() {
      return process?.pid ?? 0;
    },
    cli: (...args: string[]) => cliOutput(port, args),
    stop,
    restart,
    log: () => Deno.readTextFile(`${dir}/redis.log`).catch(() => ""),
    [Symbol.asyncDispose]: async () => {
      try {
        await stop();
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  };
}

/** Whether process `pid` has a TCP connection to `port` on this machine. */
export function connectedTo(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // rem_address is the third field (ADDR:PORT), inode the tenth.
      if (fields.length > 9 && fields[2].endsWith(`:${hexPort}`)) {
        inodes.add(fields[9]);
      }
    }
  }
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const link = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode !== undefined && inodes.has(inode)) return true;
    } catch {
      // Closed meanwhile.
    }
  }
  return false;
}
