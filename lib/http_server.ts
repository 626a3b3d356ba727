/**
 * The HTTP port: `GET PREFIX/ch1/ch2` subscribes, `GET PREFIX/ch1/ch2?t=d`
 * publishes, `HEAD` answers with the stream's headers and no body.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { describeSource, type Dispatcher, type Source } from "./dispatch.ts";
import type { Hub } from "./hub.ts";
import {
  CommandRefusedError,
  InstructionError,
  validateName,
} from "./instruction.ts";
import { parseQuery } from "./query.ts";
import type { SseEvent } from "./sse_format.ts";

const logger = getLogger(["sse-server", "http"]);

/** Settings of the HTTP handler. */
export interface HttpHandlerOptions {
  /** URL path prefix, starting with `/`. */
  readonly prefix: string;
  /** Longest request target accepted, in characters (else 414). */
  readonly maxUrlLength: number;
}

/** Headers of an event stream, as the original sends them. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET",
  "Access-Control-Allow-Headers":
    "Cache-Control,Last-Event-Id,X-Requested-With",
  // Tells nginx not to buffer the stream when it is the reverse proxy.
  "X-Accel-Buffering": "no",
};

/**
 * Builds the request handler for `Deno.serve`.
 *
 * @example
 * ```ts
 * const handler = createHttpHandler(
 *   { prefix: "/sse", maxUrlLength: 65536 },
 *   hub,
 *   dispatcher,
 * );
 * Deno.serve({ port: 8080 }, handler);
 * ```
 */
export function createHttpHandler(
  options: HttpHandlerOptions,
  hub: Hub,
  dispatcher: Dispatcher,
): (request: Request, info: Deno.ServeHandlerInfo) => Response {
  const prefix = options.prefix.replace(/\/+$/, "");
  return (request, info) => {
    const remote = info.remoteAddr as Deno.NetAddr;
    const remoteAddr = `${remote.hostname}:${remote.port}`;
    if (request.url.length > options.maxUrlLength) {
      logger.warn("{addr}: request URL too long ({length} characters)", {
        addr: remoteAddr,
        length: request.url.length,
      });
      return text(
        414,
        `URL too long (limit ${options.maxUrlLength} characters)`,
      );
    }
    const url = new URL(request.url);
    const path = url.pathname;
    if (path !== prefix && !path.startsWith(prefix + "/") && prefix !== "") {
      return text(404, "not found");
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "method not allowed", { Allow: "GET, HEAD" });
    }
    let channels: string[];
    try {
      channels = parseChannels(path.slice(prefix.length));
    } catch (error) {
      if (!(error instanceof InstructionError)) throw error;
      return text(400, error.message);
    }
    const query = url.search.slice(1);
    if (request.method === "HEAD") {
      return new Response(null, { headers: STREAM_HEADERS });
    }
    if (query.replaceAll(/[&;]/g, "") !== "") {
      return publish(channels, query, { kind: "http", name: remoteAddr });
    }
    const subscriber = hub.subscribe(channels, remoteAddr);
    // Settles when the stream is over; rejects when the client went away.
    // Either way the subscriber is done (a no-op if it already closed).
    const done = () => subscriber.close("client disconnected");
    info.completed.then(done, done);
    return new Response(subscriber.readable(), { headers: STREAM_HEADERS });
  };

  function publish(
    channels: string[],
    query: string,
    source: Source,
  ): Response {
    const events: SseEvent[] = [];
    const commands: string[] = [];
    try {
      for (const item of parseQuery(query)) {
        if (item.kind === "event") {
          events.push({ type: item.type, data: item.data });
        } else {
          commands.push(item.command);
        }
      }
    } catch (error) {
      if (!(error instanceof InstructionError)) throw error;
      logger.warn("{source}: bad publish query: {problem}", {
        source: describeSource(source),
        problem: error.message,
      });
      return text(400, `${error.message}; nothing was published`);
    }
    // Check every command before publishing anything, so a refused request
    // has no effect at all.
    for (const command of commands) {
      try {
        dispatcher.checkCommand(command, source);
      } catch (error) {
        if (!(error instanceof InstructionError)) throw error;
        logger.warn("{source}: {problem}", {
          source: describeSource(source),
          problem: error.message,
        });
        return text(
          error instanceof CommandRefusedError ? 403 : 400,
          `${error.message}; nothing was published`,
        );
      }
    }
    const result = dispatcher.publish(channels, events, source);
    for (const command of commands) dispatcher.command(command, source);
    const noun = result.events === 1 ? "event" : "events";
    return text(
      200,
      `OK: ${result.events} ${noun} sent to ${result.clients} client${
        result.clients === 1 ? "" : "s"
      }`,
    );
  }
}

/** Splits the path after the prefix into decoded, validated channel names. */
export function parseChannels(rest: string): string[] {
  const channels: string[] = [];
  for (const segment of rest.split("/")) {
    if (segment === "") continue;
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      throw new InstructionError(
        `malformed %-escape in channel ${JSON.stringify(segment.slice(0, 80))}`,
      );
    }
    validateName("channel", name);
    channels.push(name);
  }
  return channels;
}

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body + "\n", {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "Access-Control-Allow-Origin": "*",
      ...headers,
    },
  });
}
