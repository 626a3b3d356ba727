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
import {
  configure,
  getLogger,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";

/** Where the log goes. */
export interface LogOptions {
  /** Write to standard output. */
  readonly stdout: boolean;
  /** Append to this file (created if missing). */
  readonly file?: string;
}

const encoder = new TextEncoder();
const logger = getLogger(["sse-server", "log"]);

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

/** The configured logging: reopen the file, or dispose to flush and close. */
export interface Logging extends AsyncDisposable {
  /**
   * Closes and reopens the log file, for log rotation (SIGHUP): after
   * logrotate renames the file, the next line starts a new one. Errors are
   * logged to the old file and leave it in use.
   */
  reopen(): void;
}

/**
 * Configures LogTape. Throws {@linkcode StartupError} (exit 73) when the log
 * file cannot be opened.
 */
export async function setupLogging(options: LogOptions): Promise<Logging> {
  const sinks: Record<string, Sink> = {};
  if (options.stdout) {
    sinks.stdout = (record) => {
      Deno.stdout.writeSync(encoder.encode(formatRecord(record)));
    };
  }
  let file: (Sink & AsyncDisposable) | undefined;
  if (options.file !== undefined) {
    file = openFileSink(options.file);
    // A stable sink in front of the current file, so reopening needs no
    // reconfiguration.
    sinks.file = (record) => file!(record);
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
    reopen() {
      if (options.file === undefined || file === undefined) return;
      let next: Sink & AsyncDisposable;
      try {
        next = openFileSink(options.file);
      } catch (error) {
        logger.error(
          "{error}; still logging to the old file",
          {
            error: errorMessage(error),
          },
        );
        return;
      }
      const previous = file;
      file = next;
      // Lines already handed to the old sink are written out before it closes.
      void previous[Symbol.asyncDispose]();
      logger.info("log file reopened");
    },
    async [Symbol.asyncDispose]() {
      await reset();
      await file?.[Symbol.asyncDispose]();
      file = undefined;
    },
  };
}

function openFileSink(path: string): Sink & AsyncDisposable {
  try {
    // With nonBlocking the sink is AsyncDisposable; the typings pick the
    // first (synchronous) overload, hence the cast.
    return getFileSink(path, {
      formatter: formatRecord,
      // Written in the background and synced in batches at least every
      // 200 ms: syncing the file for every line costs more than the events
      // being logged, and must not block the event loop.
      bufferSize: 16384,
      flushInterval: 200,
      nonBlocking: true,
    }) as unknown as Sink & AsyncDisposable;
  } catch (error) {
    throw new StartupError(
      `cannot open log file ${path}: ${errorMessage(error)}`,
      ExitCode.cantCreate,
      { cause: error },
    );
  }
}
