/**
 * The last resort: an error that escapes every handler (a promise rejected
 * with nobody to observe it, an exception thrown from a callback) is a bug
 * to log, not a reason for the process to end. Every connection already has
 * its own guard; this one keeps the others served if a bug slips past them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";

const logger = getLogger(["sse-server", "internal"]);

/**
 * Logs uncaught errors and unhandled rejections instead of letting them end
 * the process, until disposed.
 */
export function guardProcess(): Disposable {
  const rejected = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    logger.error("internal error, the server goes on: {error}", {
      error: describe(event.reason),
    });
  };
  const thrown = (event: ErrorEvent) => {
    event.preventDefault();
    logger.error("internal error, the server goes on: {error}", {
      error: describe(event.error ?? event.message),
    });
  };
  globalThis.addEventListener("unhandledrejection", rejected);
  globalThis.addEventListener("error", thrown);
  return {
    [Symbol.dispose]() {
      globalThis.removeEventListener("unhandledrejection", rejected);
      globalThis.removeEventListener("error", thrown);
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error && error.stack
    ? error.stack
    : errorMessage(error);
}
