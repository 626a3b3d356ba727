/**
 * The `Deno.serve` engine of the HTTP port (`--http-engine serve`, and the
 * engine with TLS, which also speaks HTTP/2): the shared handler behind
 * `Deno.serve`, with what `Deno.serve` does not do itself.
 *
 * - An answer that says `Connection: close` (a body that timed out, a
 *   chunked body refused) really closes the connection. `Deno.serve` would
 *   keep it open, waiting for the rest of a body that a hostile client
 *   never sends; so the body of such an answer ends with an error after
 *   its text, which makes `Deno.serve` cut the connection.
 * - A stream dropped by the hub (a slow consumer) ends its body with an
 *   error: the connection is cut at once, and the error is not logged
 *   again.
 * - Anything else thrown is logged and answered with 500.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import type { HttpHandler } from "./exchange.ts";
import { headerOf, toResponse, type WholeAnswer } from "./answers.ts";
import { type Subscriber } from "../core/subscriber.ts";

const logger = getLogger(["sse-server", "http"]);

/** Settings of {@linkcode serveWithDeno}. */
export interface ServeOptions {
  readonly hostname: string;
  /** TCP port; 0 lets the system choose. */
  readonly port: number;
  /** Certificate and key (PEM) for HTTPS. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** The error that cuts a connection after a closing answer's text. */
class ConnectionCut extends Error {
  override name = "ConnectionCut";
}

/** The error a dropped stream's body ends with; the drop is logged already. */
class StreamDropped extends Error {
  override name = "StreamDropped";
  constructor(reason: string | null) {
    super(reason ?? "closed");
  }
}

/**
 * Serves `handler` with `Deno.serve`; throws {@linkcode StartupError} when
 * it cannot listen (73) or the TLS set-up fails (69).
 */
export function serveWithDeno(
  options: ServeOptions,
  handler: HttpHandler,
): Deno.HttpServer<Deno.NetAddr> {
  const common = {
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
    onError: (error: unknown) => {
      if (
        !(error instanceof StreamDropped || error instanceof ConnectionCut)
      ) {
        logger.error("HTTP handler failed: {error}", {
          error: errorMessage(error),
        });
      }
      return new Response("internal error\n", { status: 500 });
    },
  };
  const serving = async (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> => {
    const answer = await handler(request, { remoteAddr: info.remoteAddr });
    if (answer.kind === "whole") return closing(answer);
    // Settles when the stream is over, rejects when the client went away.
    info.completed.then(answer.ended, answer.ended);
    return new Response(streamBody(answer.subscriber), {
      headers: answer.headers,
    });
  };
  try {
    return options.tls
      ? Deno.serve(
        { ...common, cert: options.tls.cert, key: options.tls.key },
        serving,
      )
      : Deno.serve(common, serving);
  } catch (error) {
    throw new StartupError(
      `cannot listen on HTTP port ${options.hostname}:${options.port}: ${
        errorMessage(error)
      }`,
      options.tls && !(error instanceof Deno.errors.AddrInUse)
        ? ExitCode.unavailable
        : ExitCode.cantCreate,
      { cause: error },
    );
  }
}

/**
 * The answer as a `Response`, made to close its connection when it says
 * `Connection: close`: its text, then an error instead of its end.
 */
function closing(answer: WholeAnswer): Response {
  if (headerOf(answer.headers, "connection")?.toLowerCase() !== "close") {
    return toResponse(answer);
  }
  const headers = new Headers(answer.headers);
  const text = new TextEncoder().encode(answer.body ?? "");
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (text.length > 0) controller.enqueue(text);
    },
    pull(controller) {
      controller.error(new ConnectionCut("connection closed after the answer"));
    },
  });
  return new Response(body, { status: answer.status, headers });
}

/**
 * A subscriber's bytes as a response body. It takes from the queue only
 * when `Deno.serve` asks for more, so a client that stops reading makes the
 * queue grow to its limit, never the server's buffers; a dropped subscriber
 * errors the body at once, which makes `Deno.serve` cut the connection
 * instead of waiting on a client that does not read.
 */
export function streamBody(subscriber: Subscriber): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      subscriber.onDrop(() => {
        try {
          controller.error(new StreamDropped(subscriber.closeReason));
        } catch {
          // Already closed or errored.
        }
      });
    },
    pull(controller) {
      return new Promise<void>((resolve) => {
        const attempt = (): void => {
          const chunk = subscriber.take();
          if (chunk === undefined) return subscriber.whenReadable(attempt);
          if (chunk !== null) controller.enqueue(chunk);
          else if (subscriber.endedGracefully) controller.close();
          else controller.error(new StreamDropped(subscriber.closeReason));
          resolve();
        };
        attempt();
      });
    },
    cancel: () => subscriber.close("client disconnected"),
  }, { highWaterMark: 0 });
}
