/**
 * Re-executing the server as a child process: detached into the background
 * (no `-n`) and/or under another user (`-U`).
 *
 * The parent has already parsed the options and read the certificate, so it
 * hands both to the child on its standard input as JSON: the child then needs
 * neither the config file nor the key file, which the new user may not be
 * allowed to read. A detached child reports on its standard output, one line:
 * `ready PID` once it serves, or `error CODE MESSAGE` if start-up failed, so
 * the parent can exit with the right status instead of guessing.
 *
 * @module
 */

import type { AuthConfig } from "../auth/auth.ts";
import type { Account } from "./user.ts";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import type { Options } from "../config/options.ts";
import type { TlsFiles } from "../config/tls.ts";

/** Set to `1` in a re-executed child's environment. */
export const REEXEC_ENV = "SSE_SERVER_REEXEC";

/** What the parent hands to the child. */
export interface ChildPayload {
  readonly options: Options;
  readonly tls?: TlsFiles;
  /** Secrets read by the parent (token file, JWT key). */
  readonly auth?: AuthConfig;
  /** The Redis password, read by the parent from its file. */
  readonly redisPassword?: string;
  /** The child runs detached and must report readiness on stdout. */
  readonly detached: boolean;
}

/** How to start this program again: the executable and its leading arguments. */
export interface SelfCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** How a child ended or got going. */
export type ChildOutcome =
  | { readonly kind: "ready"; readonly pid: number }
  | {
    readonly kind: "exited";
    readonly code: number;
    readonly message?: string;
  };

/**
 * Starts the child and passes it the payload. With `payload.detached` it
 * waits for the child's report and returns; otherwise it waits for the
 * child to exit, forwarding SIGTERM and SIGINT to it.
 */
export async function runChild(
  self: SelfCommand,
  payload: ChildPayload,
  account: Account | undefined,
): Promise<ChildOutcome> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(self.command, {
      args: [...self.args],
      env: { [REEXEC_ENV]: "1" },
      stdin: "piped",
      stdout: payload.detached ? "piped" : "inherit",
      stderr: payload.detached ? "null" : "inherit",
      detached: payload.detached,
      uid: account?.uid,
      gid: account?.gid,
    }).spawn();
  } catch (error) {
    throw new StartupError(
      account
        ? `cannot start as user ${account.name}: ${errorMessage(error)}`
        : `cannot start in the background: ${errorMessage(error)}`,
      account ? ExitCode.noUser : ExitCode.software,
      { cause: error },
    );
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(payload)));
  await writer.close();
  if (payload.detached) return await awaitReport(child);
  const forward = (signal: Deno.Signal) => () => child.kill(signal);
  const onTerm = forward("SIGTERM");
  const onInt = forward("SIGINT");
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);
  try {
    const status = await child.status;
    return { kind: "exited", code: status.code };
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onInt);
  }
}

async function awaitReport(child: Deno.ChildProcess): Promise<ChildOutcome> {
  // Only the first line counts: the child's stdout may stay open after it.
  let report = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!report.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    report += value;
  }
  await reader.cancel();
  report = report.trim();
  const ready = /^ready (\d+)$/.exec(report);
  if (ready) {
    child.unref();
    return { kind: "ready", pid: Number(ready[1]) };
  }
  const status = await child.status;
  const failed = /^error (\d+) (.*)$/s.exec(report);
  return failed
    ? { kind: "exited", code: Number(failed[1]), message: failed[2] }
    : {
      kind: "exited",
      code: status.code || ExitCode.software,
      message: "the background process ended without reporting",
    };
}

/** Reads the payload a parent passed on standard input. */
export async function readPayload(
  stdin: ReadableStream<Uint8Array>,
): Promise<ChildPayload> {
  return JSON.parse(await new Response(stdin).text()) as ChildPayload;
}
