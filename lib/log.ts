/**
 * Logging set-up on LogTape, in the original's line format:
 * `YYYY-MM-DD HH:MM:SS+0000 message`, warnings and errors marked as such.
 *
 * Modules log through `getLogger(["sse-server", …])`; until
 * {@linkcode setupLogging} runs (as in unit tests) their records go nowhere.
 *
 * @module
 */

import { getFileSink } from "@logtape/file";
import { configure, type LogRecord, reset, type Sink } from "@logtape/logtape";
import { errorMessage, ExitCode, StartupError } from "./errors.ts";

/** Where the log goes. */
export interface LogOptions {
  /** Write to standard output. */
  readonly stdout: boolean;
  /** Append to this file (created if missing). */
  readonly file?: string;
}

const encoder = new TextEncoder();

/** Formats a record as one log line, newline included. */
export function formatRecord(record: LogRecord): string {
  const iso = new Date(record.timestamp).toISOString();
  const stamp = `${iso.slice(0, 10)} ${iso.slice(11, 19)}+0000`;
  let message = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    message += i % 2 === 0 || typeof part === "string"
      ? String(part)
      : JSON.stringify(part);
  }
  const level = record.level === "info" || record.level === "debug"
    ? ""
    : `${record.level}: `;
  // A record never spans lines, whatever a value held.
  return `${stamp} ${level}${message.replaceAll(/[\r\n]/g, " ")}\n`;
}

/**
 * Configures LogTape. Throws {@linkcode StartupError} (exit 73) when the log
 * file cannot be opened. Dispose the result to flush and close the file.
 */
export async function setupLogging(
  options: LogOptions,
): Promise<AsyncDisposable> {
  const sinks: Record<string, Sink> = {};
  const disposables: Disposable[] = [];
  if (options.stdout) {
    sinks.stdout = (record) => {
      Deno.stdout.writeSync(encoder.encode(formatRecord(record)));
    };
  }
  if (options.file !== undefined) {
    try {
      const sink = getFileSink(options.file, {
        formatter: formatRecord,
        // Unbuffered: a line is in the file as soon as it is logged.
        bufferSize: 0,
      });
      sinks.file = sink;
      disposables.push(sink);
    } catch (error) {
      throw new StartupError(
        `cannot open log file ${options.file}: ${errorMessage(error)}`,
        ExitCode.cantCreate,
        { cause: error },
      );
    }
  }
  const names = Object.keys(sinks);
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["sse-server"], lowestLevel: "info", sinks: names },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: names },
    ],
  });
  return {
    async [Symbol.asyncDispose]() {
      await reset();
      for (const d of disposables) d[Symbol.dispose]();
    },
  };
}
