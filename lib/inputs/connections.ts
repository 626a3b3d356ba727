/**
 * What the control port's TCP listener needs around `Deno.listen`: an
 * accept loop that tracks each connection's task, and a close that does not
 * mind a connection already gone.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";

const logger = getLogger(["sse-server", "net"]);

/** How {@linkcode acceptLoop} runs. */
export interface AcceptLoopOptions {
  /** True once the owner closed the listener: the loop ends quietly. */
  readonly closed: () => boolean;
  /** Each connection's task is added here until it settles. */
  readonly tasks: Set<Promise<void>>;
  /** Serves one connection; `undefined` when it was turned away at once. */
  readonly serve: (conn: Deno.Conn) => Promise<void> | undefined;
  /** Names the listener in the log. */
  readonly name: string;
}

/**
 * Accepts connections until the listener closes. An accept error while open
 * (e.g. out of file descriptors) is logged and the loop goes on, after a
 * pause that grows while the errors last.
 */
export async function acceptLoop(
  listener: Deno.Listener,
  options: AcceptLoopOptions,
): Promise<void> {
  // After a failed accept (out of descriptors, say) the loop waits before
  // the next one: 10 ms doubling to 1 s, so it neither spins nor floods the
  // log while the cause lasts.
  let backoff = 0;
  while (!options.closed()) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
      backoff = 0;
    } catch (error) {
      if (options.closed()) return;
      backoff = Math.min(1000, backoff === 0 ? 10 : backoff * 2);
      logger.error("{name}: accept failed: {error}; next try in {ms} ms", {
        name: options.name,
        error: errorMessage(error),
        ms: backoff,
      });
      await new Promise((resolve) => setTimeout(resolve, backoff));
      continue;
    }
    const task = options.serve(conn);
    if (!task) continue;
    options.tasks.add(task);
    task.finally(() => options.tasks.delete(task));
  }
}

/** Closes a connection that may already be closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already, by the peer's end or by a reader.
  }
}
