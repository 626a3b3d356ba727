/**
 * Logging set-up on LogTape, in the original's line format:
 * `YYYY-MM-DD HH:MM:SS+0000 message`, warnings and errors marked as such.
 *
 * Modules log through `getLogger(["sse-server", …])`; until
 * {@linkcode setupLogging} runs (as in unit tests) their records go nowhere.
 *
 * @module
 */

import {
  configure,
  getLogger,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import { LineBatch } from "./line_batch.ts";

/** Where the log goes. */
export interface LogOptions {
  /** Write to standard output. */
  readonly stdout: boolean;
  /** Append to this file (created if missing). */
  readonly file?: string;
  /** Least severe records written (default `info`). */
  readonly level?: "debug" | "info" | "warning" | "error";
}

const encoder = new TextEncoder();
const logger = getLogger(["sse-server", "log"]);

/** `data` as JSON, cut after 200 characters: published data in a log line. */
export function shorten(data: string): string {
  return JSON.stringify(data.length > 200 ? data.slice(0, 200) + "…" : data);
}

/** The time stamp of the last second formatted, reused within it. */
let stampSecond = -1;
let stampText = "";

/** Formats a record as one log line, newline included. */
export function formatRecord(record: LogRecord): string {
  const second = Math.floor(record.timestamp / 1000);
  if (second !== stampSecond) {
    const iso = new Date(second * 1000).toISOString();
    stampSecond = second;
    stampText = `${iso.slice(0, 10)} ${iso.slice(11, 19)}+0000`;
  }
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
  if (message.includes("\n") || message.includes("\r")) {
    message = message.replaceAll(/[\r\n]/g, " ");
  }
  return `${stampText} ${level}${message}\n`;
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
  const atOnce = (record: LogRecord) =>
    record.level === "error" || record.level === "fatal";
  let out: LineBatch | undefined;
  if (options.stdout) {
    const batch = new LineBatch(Deno.stdout, reportWriteError);
    out = batch;
    sinks.stdout = (record) => batch.add(formatRecord(record), atOnce(record));
  }
  let file: LineBatch | undefined;
  if (options.file !== undefined) {
    file = openFile(options.file);
    // A stable sink in front of the current file, so reopening needs no
    // reconfiguration.
    sinks.file = (record) => file?.add(formatRecord(record), atOnce(record));
  }
  for (const sink of Object.values(sinks)) formatsAtOnce(sink);
  const names = Object.keys(sinks);
  await configure({
    reset: true,
    sinks,
    loggers: [
      {
        category: ["sse-server"],
        lowestLevel: options.level ?? "info",
        sinks: names,
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: names },
    ],
  });
  return {
    reopen() {
      if (options.file === undefined || file === undefined) return;
      let next: LineBatch;
      try {
        next = openFile(options.file);
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
      // Lines already handed to the old file are written before it closes.
      previous[Symbol.dispose]();
      logger.info("log file reopened");
    },
    async [Symbol.asyncDispose]() {
      await reset();
      file?.[Symbol.dispose]();
      file = undefined;
      out?.flush();
    },
  };
}

/**
 * Tells LogTape that `sink` formats each record while it is called (ours
 * do), so LogTape need not copy every record first in case a sink keeps it
 * for later: that copy was a third of the cost of a log line. LogTape's own
 * sinks that format at once carry the same registered symbol.
 */
function formatsAtOnce(sink: Sink): void {
  Object.defineProperty(
    sink,
    Symbol.for("LogTape.sinkSnapshotPolicy.immediate"),
    { value: true },
  );
}

/** A failed log write goes to standard error: the log cannot say it. */
function reportWriteError(error: unknown): void {
  try {
    Deno.stderr.writeSync(
      encoder.encode(`log write failed: ${errorMessage(error)}\n`),
    );
  } catch {
    // Nowhere left to say it.
  }
}

function openFile(path: string): LineBatch {
  try {
    const handle = Deno.openSync(path, {
      append: true,
      create: true,
      write: true,
    });
    return new LineBatch(handle, reportWriteError);
  } catch (error) {
    throw new StartupError(
      `cannot open log file ${path}: ${errorMessage(error)}`,
      ExitCode.cantCreate,
      { cause: error },
    );
  }
}
