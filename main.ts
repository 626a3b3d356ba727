/**
 * sse-server: a Server-Sent Events hub, drop-in compatible with the C
 * SSE-Server. This entry point only wires the command line to `lib/`:
 * parse options, re-execute detached or as another user when asked, start
 * the server, turn signals into `halt`, and exit with the right status.
 *
 * @module
 */

import {
  type ChildPayload,
  readPayload,
  REEXEC_ENV,
  runChild,
  type SelfCommand,
} from "./lib/process/daemon.ts";
import { errorMessage, ExitCode, StartupError } from "./lib/errors.ts";
import { setupLogging } from "./lib/process/log.ts";
import { guardProcess } from "./lib/process/last_resort.ts";
import { type Options, parseOptions, USAGE } from "./lib/config/options.ts";
import { SseServer } from "./lib/server.ts";
import { readTlsFiles } from "./lib/config/tls.ts";
import type { AuthConfig } from "./lib/auth/auth.ts";
import {
  type Account,
  groupsOf,
  lookupUser,
  mayRead,
} from "./lib/process/user.ts";
import { V8_FLAGS } from "./lib/config/v8_flags.ts";

const encoder = new TextEncoder();

async function main(args: string[]): Promise<number> {
  if (Deno.env.get(REEXEC_ENV) === "1") {
    const payload = await readPayload(Deno.stdin.readable);
    return await serve(payload);
  }
  const options = await parseOptions(args);
  if (options.help) {
    await Deno.stdout.write(encoder.encode(USAGE));
    return ExitCode.ok;
  }
  const tls = options.cert !== undefined && options.privKey !== undefined
    ? await readTlsFiles(options.cert, options.privKey)
    : undefined;
  const account = options.user === undefined
    ? undefined
    : await lookupUser(options.user);
  const payload: ChildPayload = {
    options,
    tls,
    auth: await readAuthConfig(options),
    redisPassword: options.redisPasswordFile === undefined
      ? undefined
      : (await readSecretFile(options.redisPasswordFile, "Redis password"))
        .trim(),
    detached: !options.nodaemon,
  };
  if (!payload.detached && account === undefined) return await serve(payload);
  if (account !== undefined) checkReachable(account);
  const outcome = await runChild(selfCommand(), payload, account);
  if (outcome.kind === "ready") {
    await Deno.stdout.write(
      encoder.encode(
        `sse-server: running in the background, pid ${outcome.pid}\n`,
      ),
    );
    return ExitCode.ok;
  }
  if (outcome.message) {
    await Deno.stderr.write(encoder.encode(`sse-server: ${outcome.message}\n`));
  }
  return outcome.code;
}

/**
 * The credentials configuration, with secrets read now (before dropping
 * privileges): the publish token from its file, else the option, else the
 * environment; the JWT public key from its file.
 */
async function readAuthConfig(options: Options): Promise<AuthConfig> {
  const tokenFromFile = options.publishTokenFile === undefined
    ? undefined
    : (await readSecretFile(options.publishTokenFile, "publish token")).trim();
  const publishToken = tokenFromFile ?? options.publishToken ??
    Deno.env.get("SSE_PUBLISH_TOKEN");
  if (publishToken === "") {
    throw new StartupError("the publish token is empty", ExitCode.dataErr);
  }
  return {
    publishToken,
    jwtSecret: options.jwtSecret,
    jwtPublicKey: options.jwtPublicKey === undefined
      ? undefined
      : await readSecretFile(options.jwtPublicKey, "JWT public key"),
    subscribeAuth: options.subscribeAuth,
  };
}

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new StartupError(
      `cannot read ${what} file ${path}: ${errorMessage(error)}`,
      ExitCode.noInput,
      { cause: error },
    );
  }
}

/** Runs the server in this process until it halts. */
async function serve(payload: ChildPayload): Promise<number> {
  const { options, tls, auth, redisPassword, detached } = payload;
  try {
    await using logging = await setupLogging({
      stdout: options.nodaemon && !detached && options.logFile === undefined,
      file: options.logFile,
      level: options.logLevel,
    });
    using _guard = guardProcess();
    // Signals are caught from before start-up: one that comes while the
    // ports open halts the server as soon as it exists.
    const running: { server?: SseServer; haltAsked: boolean } = {
      haltAsked: false,
    };
    const halt = () => {
      running.haltAsked = true;
      void running.server?.halt();
    };
    const reopen = () => logging.reopen();
    Deno.addSignalListener("SIGTERM", halt);
    Deno.addSignalListener("SIGINT", halt);
    Deno.addSignalListener("SIGHUP", reopen);
    await using started = await SseServer.start({
      ...options,
      tls,
      auth,
      redisPassword,
    });
    running.server = started;
    if (running.haltAsked) void started.halt();
    if (detached) {
      await Deno.stdout.write(encoder.encode(`ready ${Deno.pid}\n`));
      Deno.stdout.close();
    }
    await started.finished;
    Deno.removeSignalListener("SIGTERM", halt);
    Deno.removeSignalListener("SIGINT", halt);
    Deno.removeSignalListener("SIGHUP", reopen);
    return ExitCode.ok;
  } catch (error) {
    if (!detached) throw error;
    const code = error instanceof StartupError
      ? error.exitCode
      : ExitCode.software;
    await Deno.stdout.write(
      encoder.encode(`error ${code} ${errorMessage(error)}\n`),
    );
    return code;
  }
}

/**
 * Run from source, the server re-executes `deno run` as the `-U` account,
 * which needs to read the program and Deno's cache: say what to do before
 * anything starts, rather than fail later in Deno's own words.
 */
function checkReachable(account: Account): void {
  if (Deno.build.standalone) return;
  const home = Deno.env.get("HOME");
  const cache = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/deno`;
  const groups = groupsOf(account);
  for (
    const [path, what] of [
      [new URL(import.meta.url).pathname, "the program"],
      [cache, "Deno's cache"],
    ]
  ) {
    if (mayRead(path, account, groups)) continue;
    throw new StartupError(
      `user ${account.name} cannot read ${what} (${path}), which -U needs when the server runs from source. ` +
        `Build the binary (deno task compile) and run it instead, or give ${account.name} a copy it can read: ` +
        `DENO_DIR=/var/cache/sse-server deno cache main.ts; chmod -R o+rX /var/cache/sse-server; ` +
        `then run with DENO_DIR=/var/cache/sse-server from a directory ${account.name} can read.`,
      ExitCode.noPerm,
    );
  }
}

/** How to start this program again, compiled or run by `deno run`. */
function selfCommand(): SelfCommand {
  if (Deno.build.standalone) return { command: Deno.execPath(), args: [] };
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--permission-set",
      "--config",
      new URL("./deno.json", import.meta.url).pathname,
      `--v8-flags=${V8_FLAGS}`,
      new URL(import.meta.url).pathname,
    ],
  };
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    await Deno.stderr.write(encoder.encode(`sse-server: ${error.message}\n`));
    if (error.exitCode === ExitCode.usage) {
      await Deno.stderr.write(encoder.encode("Try 'sse-server --help'.\n"));
    }
    code = error.exitCode;
  }
  Deno.exit(code);
}
