/**
 * Starts the real program (`main.ts`) as a subprocess on free loopback
 * ports, for integration tests. The server is asked for port 0 and the test
 * reads the ports it actually got from its log, so tests never race for a
 * port.
 *
 * @module
 */

import { V8_FLAGS } from "../../lib/config/v8_flags.ts";
import { Condition } from "./condition.ts";

const ROOT = new URL("../../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const CONFIG = new URL("deno.json", ROOT).pathname;

/** The command that runs the program, as `deno task start` does. */
export function programCommand(
  args: readonly string[],
  deno = Deno.execPath(),
): [string, string[]] {
  return [deno, [
    "run",
    "-q",
    "-P",
    "--config",
    CONFIG,
    `--v8-flags=${V8_FLAGS}`,
    MAIN,
    ...args,
  ]];
}

/** A server started by {@linkcode startServer}. */
export interface RunningServer extends AsyncDisposable {
  readonly process: Deno.ChildProcess;
  /** `http://127.0.0.1:PORT` (or https with TLS). */
  readonly baseUrl: string;
  readonly httpPort: number;
  readonly controlPort?: number;
  /** Everything the server wrote to stdout so far. */
  output(): string;
  /** Everything the server wrote to stderr so far. */
  errors(): string;
  /** Waits until the output matches `pattern` (searching from `from`). */
  waitForOutput(
    pattern: RegExp,
    timeoutMs?: number,
    from?: number,
  ): Promise<RegExpExecArray>;
  /** Sends SIGTERM (if still running) and returns the exit code. */
  stop(): Promise<number>;
  /** Resolves with the exit code when the process ends by itself. */
  readonly exited: Promise<number>;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  /** Use https in `baseUrl`. */
  readonly tls?: boolean;
  /** Expect a control port in the output. */
  readonly control?: boolean;
  /** Don't add `-n --bind 127.0.0.1 -p 0`. */
  readonly raw?: boolean;
  readonly cwd?: string;
  /** Extra environment variables. */
  readonly env?: Record<string, string>;
  /** The deno executable to run the program with (default: this one). */
  readonly deno?: string;
  /** The server logs to this file (-l): read the ports from it, not stdout. */
  readonly logFile?: string;
  /** The HTTP engine (`--http-engine`); the program's default if absent. */
  readonly engine?: HttpEngine;
}

/** The two HTTP engines; tests of HTTP behaviour run against both. */
export const ENGINES = ["serve", "lean"] as const;
export type HttpEngine = typeof ENGINES[number];

/**
 * Registers a test once per HTTP engine, named `[engine] name`, so the same
 * behaviour is checked on `Deno.serve` and on the lean engine. In a run
 * with `SSE_TEST_HTTP_ENGINE` set (the second pass over the integration
 * tests, on one engine) it registers nothing: these already ran on both.
 */
export function testBothEngines(
  name: string,
  fn: (engine: HttpEngine) => Promise<void>,
): void {
  if (Deno.env.get("SSE_TEST_HTTP_ENGINE") !== undefined) return;
  for (const engine of ENGINES) {
    Deno.test(`[${engine}] ${name}`, () => fn(engine));
  }
}

/**
 * Starts the server with `args` plus `-n --bind 127.0.0.1 -p 0` and waits
 * until it listens.
 */
export async function startServer(
  args: readonly string[],
  options: StartOptions = {},
): Promise<RunningServer> {
  // SSE_TEST_HTTP_ENGINE runs every other test on that engine too (TLS ones
  // excepted: they run on Deno.serve, the default with TLS, unless a test
  // names the engine).
  const fromEnv = Deno.env.get("SSE_TEST_HTTP_ENGINE");
  const tls = args.includes("-c") || args.includes("-k");
  const engine = options.engine ??
    (fromEnv === "serve" || (fromEnv === "lean" && !tls) ? fromEnv : undefined);
  const engineArgs = engine ? ["--http-engine", engine] : [];
  const fullArgs = options.raw
    ? [...args, ...engineArgs]
    : ["-n", "--bind", "127.0.0.1", "-p", "0", ...engineArgs, ...args];
  const [command, cmdArgs] = programCommand(fullArgs, options.deno);
  const process = new Deno.Command(command, {
    args: cmdArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: options.cwd,
    env: options.env,
  }).spawn();
  let out = "";
  let err = "";
  const changed = new Condition();
  const notify = () => changed.notify();
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    append: (s: string) => void,
  ) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      append(chunk);
      notify();
    }
  };
  const pumps = Promise.all([
    pump(process.stdout, (s) => out += s),
    pump(process.stderr, (s) => err += s),
  ]);
  let done = false;
  const exited = (async () => {
    const status = await process.status;
    await pumps;
    done = true;
    notify();
    return status.code;
  })();

  const waitForOutput = (
    pattern: RegExp,
    timeoutMs = 10_000,
    from = 0,
  ): Promise<RegExpExecArray> =>
    changed.wait(() => pattern.exec(out.slice(from)) ?? undefined, {
      timeoutMs,
      fail: () =>
        done
          ? new Error(
            `server exited before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`,
          )
          : undefined,
      timeout: () =>
        new Error(
          `timed out waiting for ${pattern}\nstdout:\n${out}\nstderr:\n${err}`,
        ),
    });

  const stop = async () => {
    if (!done) {
      try {
        process.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    return await exited;
  };

  let httpPort = 0;
  let controlPort: number | undefined;
  try {
    const listening = /listening for https? on [^ ]*:(\d+)/;
    const http = options.logFile === undefined
      ? await waitForOutput(listening)
      : await waitForFile(options.logFile, listening, () => done);
    httpPort = Number(http[1]);
    if (options.control) {
      const control = await waitForOutput(/control port.* on [^ ]*:(\d+)/);
      controlPort = Number(control[1]);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    process,
    baseUrl: `${options.tls ? "https" : "http"}://127.0.0.1:${httpPort}`,
    httpPort,
    controlPort,
    output: () => out,
    errors: () => err,
    waitForOutput,
    stop,
    exited,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/**
 * The admin port's base URL (`http://127.0.0.1:PORT`), once the server has
 * logged where it listens; for a server started with `--admin-port 0`.
 */
export async function adminUrl(
  server: Pick<RunningServer, "waitForOutput">,
): Promise<string> {
  const [, port] = await server.waitForOutput(
    /admin \(status, metrics, dashboard\) on [^ ]+:(\d+)/,
  );
  return `http://127.0.0.1:${port}`;
}

/** Runs the program to completion (for option errors, --help). */
export async function runProgram(
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } =
    {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, cmdArgs] = programCommand(args);
  const output = await new Deno.Command(command, {
    args: cmdArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: options.cwd,
    env: options.env,
    signal: AbortSignal.timeout(options.timeoutMs ?? 20_000),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Waits until the file's text matches `pattern`, for a server that logs to a
 * file. Files give no change notification here, so this re-reads them every
 * 25 ms until the deadline; `gone` ends the wait early when the writer died.
 */
export async function waitForFile(
  path: string,
  pattern: RegExp,
  gone: () => boolean = () => false,
  timeoutMs = 10_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const text = await Deno.readTextFile(path).catch(() => "");
    const match = pattern.exec(text);
    if (match) return match;
    if (gone()) throw new Error(`the server exited; ${path} holds:\n${text}`);
    if (Date.now() > deadline) {
      throw new Error(`${path} never matched ${pattern}; it holds:\n${text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
