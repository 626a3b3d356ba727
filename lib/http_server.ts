/**
 * The HTTP port: `GET PREFIX/ch1/ch2` subscribes, `GET PREFIX/ch1/ch2?t=d`
 * and `POST PREFIX/ch1/ch2` publish, `HEAD` answers with the stream's headers
 * and no body, `OPTIONS` answers CORS preflights.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { describeSource, type Dispatcher, type Source } from "./dispatch.ts";
import type { Hub } from "./hub.ts";
import {
  CommandRefusedError,
  InstructionError,
  validateId,
  validateName,
} from "./instruction.ts";
import {
  BodyTooLargeError,
  fromQuery,
  parsePostBody,
  type PublishRequest,
  readBody,
  UnsupportedMediaTypeError,
} from "./post_body.ts";

const logger = getLogger(["sse-server", "http"]);

/** Settings of the HTTP handler. */
export interface HttpHandlerOptions {
  /** URL path prefix, starting with `/`. */
  readonly prefix: string;
  /** Longest request target accepted, in characters (else 414). */
  readonly maxUrlLength: number;
  /** Largest POST body, in bytes (else 413). */
  readonly maxBody: number;
  /** Accept publishing by GET query. */
  readonly getPublish: boolean;
  /** Sent as `retry:` when a stream opens. */
  readonly retryMs?: number;
}

const CORS_ALLOW_HEADERS =
  "Cache-Control,Last-Event-Id,X-Requested-With,Content-Type,Authorization";

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
 * const handler = createHttpHandler({
 *   prefix: "/sse", maxUrlLength: 65536, maxBody: 1 << 20, getPublish: true,
 * }, hub, dispatcher);
 * Deno.serve({ port: 8080 }, handler);
 * ```
 */
export function createHttpHandler(
  options: HttpHandlerOptions,
  hub: Hub,
  dispatcher: Dispatcher,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const prefix = options.prefix.replace(/\/+$/, "");
  return async (request, info) => {
    const remote = info.remoteAddr as Deno.NetAddr;
    const source: Source = {
      kind: "http",
      name: `${remote.hostname}:${remote.port}`,
    };
    if (request.url.length > options.maxUrlLength) {
      warn(source, `request URL too long (${request.url.length} characters)`);
      return text(
        414,
        `URL too long (limit ${options.maxUrlLength} characters)`,
      );
    }
    const url = new URL(request.url);
    const path = url.pathname;
    if (prefix !== "" && path !== prefix && !path.startsWith(prefix + "/")) {
      return text(404, "not found");
    }
    const method = request.method;
    if (method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: {
          "Access-Control-Allow-Origin": "*",
          "Access-Control-Allow-Methods": "GET, HEAD, POST",
          "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
          "Access-Control-Max-Age": "86400",
        },
      });
    }
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      return text(405, "method not allowed", {
        Allow: "GET, HEAD, POST, OPTIONS",
      });
    }
    let channels: string[];
    try {
      channels = parseChannels(path.slice(prefix.length));
    } catch (error) {
      if (!(error instanceof InstructionError)) throw error;
      return text(400, error.message);
    }
    if (method === "HEAD") {
      return new Response(null, { headers: STREAM_HEADERS });
    }
    if (method === "POST") return await post(request, url, channels, source);

    let query: PublishRequest;
    try {
      query = fromQuery(url.search.slice(1));
    } catch (error) {
      if (!(error instanceof InstructionError)) throw error;
      return refuse(source, 400, error.message);
    }
    if (query.events.length > 0 || query.commands.length > 0) {
      if (!options.getPublish) {
        return refuse(
          source,
          403,
          "publishing by GET is switched off (--no-get-publish); use POST",
        );
      }
      return publish(channels, query, source, "text");
    }
    return subscribe(request, url, channels, source, info.completed);
  };

  function subscribe(
    request: Request,
    url: URL,
    channels: string[],
    source: Source,
    completed: Promise<void>,
  ): Response {
    // The header is what EventSource sends when it reconnects, so it is
    // newer than a lastEventId written into the URL.
    const lastEventId = request.headers.get("last-event-id") ??
      url.searchParams.get("lastEventId") ?? undefined;
    if (lastEventId !== undefined) {
      try {
        validateId(lastEventId);
      } catch (error) {
        if (!(error instanceof InstructionError)) throw error;
        return text(400, `Last-Event-ID: ${error.message}`);
      }
    }
    const subscriber = hub.subscribe(channels, source.name, {
      lastEventId,
      retryMs: options.retryMs,
    });
    // Settles when the stream is over; rejects when the client went away.
    // Either way the subscriber is done (a no-op if it already closed).
    const done = () => subscriber.close("client disconnected");
    completed.then(done, done);
    return new Response(subscriber.readable(), { headers: STREAM_HEADERS });
  }

  async function post(
    request: Request,
    url: URL,
    channels: string[],
    source: Source,
  ): Promise<Response> {
    let parsed: PublishRequest;
    try {
      const body = await readBody(request, options.maxBody);
      parsed = parsePostBody(
        request.headers.get("content-type") ?? "",
        body,
        url.searchParams,
      );
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return refuse(source, 413, error.message, "json");
      }
      if (error instanceof UnsupportedMediaTypeError) {
        return refuse(source, 415, error.message, "json");
      }
      if (error instanceof InstructionError) {
        return refuse(source, 400, error.message, "json");
      }
      throw error;
    }
    if (parsed.events.length === 0 && parsed.commands.length === 0) {
      return refuse(source, 400, "the body holds no event", "json");
    }
    return publish(channels, parsed, source, "json");
  }

  function publish(
    channels: string[],
    request: PublishRequest,
    source: Source,
    answer: "text" | "json",
  ): Response {
    // Check every command before publishing anything, so a refused request
    // has no effect at all.
    for (const command of request.commands) {
      try {
        dispatcher.checkCommand(command, source);
      } catch (error) {
        if (!(error instanceof InstructionError)) throw error;
        return refuse(
          source,
          error instanceof CommandRefusedError ? 403 : 400,
          error.message,
          answer,
        );
      }
    }
    const result = dispatcher.publish(channels, request.events, source);
    for (const command of request.commands) dispatcher.command(command, source);
    if (answer === "json") {
      return json(202, { ids: result.ids, clients: result.clients });
    }
    const noun = result.events === 1 ? "event" : "events";
    return text(
      200,
      `OK: ${result.events} ${noun} sent to ${result.clients} client${
        result.clients === 1 ? "" : "s"
      }`,
    );
  }
}

/** Logs a refused request and answers it; nothing was published. */
function refuse(
  source: Source,
  status: number,
  message: string,
  answer: "text" | "json" = "text",
): Response {
  warn(source, message);
  const body = `${message}; nothing was published`;
  return answer === "json" ? json(status, { error: body }) : text(status, body);
}

function warn(source: Source, problem: string): void {
  logger.warn("{source}: {problem}", {
    source: describeSource(source),
    problem,
  });
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

const PLAIN_HEADERS = {
  "Content-Type": "text/plain; charset=utf-8",
  "Access-Control-Allow-Origin": "*",
};

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body + "\n", {
    status,
    headers: { ...PLAIN_HEADERS, ...headers },
  });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: {
      "Content-Type": "application/json",
      "Access-Control-Allow-Origin": "*",
    },
  });
}
