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
 * connection and tells the handler (`ended`); resolves then, never
 * rejects. Callbacks all the way: an idle stream holds no suspended async
 * function and no promise but the one returned, which its connection's
 * task waits on.
 */
export function writeStream(
  conn: SocketConn,
  answer: StreamAnswer,
): Promise<void> {
  // The callbacks below hold only what the stream needs while it lasts:
  // not the answer, its headers or the head's bytes (which are used here,
  // outside any callback, so that none keeps them).
  const { subscriber, ended } = answer;
  let settle!: () => void;
  const done = new Promise<void>((resolve) => settle = resolve);
  const over = (): void => {
    ended();
    settle();
  };
  // A subscriber dropped (a slow consumer, a client gone) cuts its socket
  // at once: a pending write to a client that does not read would
  // otherwise hold the socket and its kernel buffers for minutes.
  subscriber.onDrop(() => conn.close());
  conn.send(encoder.encode(encodeHead(200, answer.headers, false)), (error) => {
    if (error) {
      conn.close();
      return over();
    }
    // The stream is over once both the writing has stopped and the
    // connection has ended (closing it ends it).
    let written = false;
    let gone = false;
    // Noticing a client that goes away while nothing is written: its end
    // of the connection reads as end-of-file.
    conn.discardUntilEnd(() => {
      gone = true;
      subscriber.close("client disconnected");
      if (written) over();
    });
    pump(conn, subscriber, () => {
      written = true;
      conn.close();
      if (gone) over();
    });
  });
  return done;
}

/**
 * Writes a subscriber's chunks to the socket as they come, until the stream
 * ends or a write fails; then calls `done`. Driven by callbacks, not a
 * loop of awaits: a fan-out to 10,000 streams then costs one socket write
 * per stream and no promise, closure or async frame per write, and the
 * writes start in the same turn as the hub's wake-up. One write at a time:
 * the next chunk is taken when the kernel has the last one, so what a
 * connection owes stays in its subscriber's queue, where it is bounded.
 */
function pump(conn: SocketConn, subscriber: Subscriber, done: () => void) {
  const next = (): void => {
    const taken = subscriber.take();
    if (taken === null) return done();
    if (taken === undefined) return subscriber.whenReadable(next);
    conn.send(taken, written);
  };
  const written = (error?: Error | null): void => {
    if (error) done();
    else next();
  };
  next();
}
