/**
 * Writing an event stream on a lean-engine connection: the response head,
 * then the subscriber's chunks as they come, until the stream ends, the
 * subscriber is dropped (the socket is cut at once) or the client goes.
 *
 * @module
 */

import type { StreamAnswer } from "../exchange.ts";
import type { Subscriber } from "../../core/subscriber.ts";
import { encodeHead } from "./response.ts";
import type { SocketConn } from "./socket_conn.ts";

const encoder = new TextEncoder();

/**
 * Writes `answer`'s stream on `conn` until it is over, then closes the
 * connection and tells the handler (`ended`). Never throws.
 */
export async function writeStream(
  conn: SocketConn,
  answer: StreamAnswer,
): Promise<void> {
  const { subscriber } = answer;
  // A subscriber dropped (a slow consumer, a client gone) cuts its socket
  // at once: a pending write to a client that does not read would
  // otherwise hold the socket and its kernel buffers for minutes.
  subscriber.onDrop(() => conn.close());
  try {
    await conn.write(encoder.encode(encodeHead(200, answer.headers, false)));
    // Noticing a client that goes away while nothing is written: its end
    // of the connection reads as end-of-file.
    const watch = watchForClose(
      conn,
      () => subscriber.close("client disconnected"),
    );
    try {
      await pump(conn, subscriber);
    } finally {
      conn.close();
      await watch;
    }
  } catch {
    // The client went away, or the socket was cut: the stream is over.
  } finally {
    answer.ended();
  }
}

/**
 * Writes a subscriber's chunks to the socket as they come, until the stream
 * ends (resolves) or a write fails (rejects). Driven by callbacks, not a
 * loop of awaits: a fan-out to 10,000 streams then costs one socket write
 * per stream and no promise, closure or async frame per write, and the
 * writes start in the same turn as the hub's wake-up. One write at a time:
 * the next chunk is taken when the kernel has the last one, so what a
 * connection owes stays in its subscriber's queue, where it is bounded.
 */
function pump(conn: SocketConn, subscriber: Subscriber): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const next = (): void => {
      const taken = subscriber.take();
      if (taken === null) return resolve();
      if (taken === undefined) return subscriber.whenReadable(next);
      conn.send(taken, written);
    };
    const written = (error?: Error | null): void => {
      if (error) reject(error);
      else next();
    };
    next();
  });
}

/**
 * Waits until the peer closes, dropping what it sends (a subscriber has
 * nothing more to say); then calls `onClose`.
 */
async function watchForClose(
  conn: SocketConn,
  onClose: () => void,
): Promise<void> {
  await conn.discardUntilEnd();
  onClose();
}
