/**
 * The HTTP handler's answers: plain-text and JSON refusals (each logged,
 * each saying nothing was published), CORS headers and an event stream's
 * headers. Both engines send them as they are.
 *
 * A whole answer is a {@linkcode WholeAnswer}, not a `Response`: the lean
 * engine writes its status, headers and body straight into one socket
 * write, and only `Deno.serve` makes a `Response` of it. A `Response`
 * (its headers validated, its body a stream read back asynchronously) cost
 * the lean engine more per publish than the publish itself.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { describeSource, type Source } from "../core/dispatch.ts";
import { RequestError } from "../errors.ts";

const logger = getLogger(["sse-server", "http"]);

/** Headers a CORS preflight may ask for. */
export const CORS_ALLOW_HEADERS =
  "Cache-Control,Last-Event-Id,X-Requested-With,Content-Type,Authorization";

/** Headers of an event stream, as the original sends them (CORS added per request). */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  "Access-Control-Allow-Methods": "GET",
  "Access-Control-Allow-Headers":
    "Cache-Control,Last-Event-Id,X-Requested-With",
  // Tells nginx not to buffer the stream when it is the reverse proxy.
  "X-Accel-Buffering": "no",
};

/** One request's facts that every answer needs. */
export interface Context {
  readonly source: Source;
  /** The client's address without port. */
  readonly address: string;
  readonly cors: Readonly<Record<string, string>>;
}

/**
 * A whole answer: status, headers and an optional body, known at once.
 * Header names are as the handler writes them; each name once.
 */
export interface WholeAnswer {
  readonly kind: "whole";
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body (text is sent as UTF-8); null for none (204, HEAD). */
  readonly body: string | null;
}

/** A whole answer with these parts. */
export function whole(
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string | null = null,
): WholeAnswer {
  return { kind: "whole", status, headers, body };
}

/** The value of an answer's header, by case-insensitive name. */
export function headerOf(
  headers: Readonly<Record<string, string>>,
  name: string,
): string | undefined {
  for (const key in headers) {
    if (key.toLowerCase() === name) return headers[key];
  }
  return undefined;
}

/** The `Response` `Deno.serve` sends for a whole answer. */
export function toResponse(answer: WholeAnswer): Response {
  return new Response(answer.body, {
    status: answer.status,
    headers: answer.headers,
  });
}

/** Headers of an event stream. */
export function streamHeaders(ctx: Context): Record<string, string> {
  return { ...STREAM_HEADERS, ...ctx.cors };
}

/**
 * The one place an error becomes an HTTP answer: a {@linkcode RequestError}
 * is refused with its status, headers and message; anything else is a bug
 * and is thrown on (the engine logs it and answers 500).
 */
export function refuseError(
  ctx: Context,
  error: unknown,
  answer: "text" | "json" = "text",
): WholeAnswer {
  if (!(error instanceof RequestError)) throw error;
  return refuse(
    ctx,
    error.status,
    error.message,
    answer,
    error.headers,
    error.outcomeUnknown,
  );
}

/** Logs a refused request and answers it; nothing was published. */
export function refuse(
  ctx: Context,
  status: number,
  message: string,
  answer: "text" | "json" = "text",
  headers: Record<string, string> = {},
  outcomeUnknown = false,
): WholeAnswer {
  warn(ctx, message);
  const body = outcomeUnknown
    ? `${message}; it was not acknowledged, but may still be published`
    : `${message}; nothing was published`;
  return answer === "json"
    ? json(ctx, status, { error: body }, headers)
    : text(ctx, status, body, headers);
}

/** Logs why a request was refused, with its source. */
export function warn(ctx: Context, problem: string): void {
  logger.warn("{source}: {problem}", {
    source: describeSource(ctx.source),
    problem,
  });
}

/** A plain-text answer (a line break added). */
export function text(
  ctx: Context,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): WholeAnswer {
  return whole(status, {
    "Content-Type": "text/plain; charset=utf-8",
    ...ctx.cors,
    ...headers,
  }, body + "\n");
}

/** A JSON answer (a line break added). */
export function json(
  ctx: Context,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): WholeAnswer {
  return whole(
    status,
    { "Content-Type": "application/json", ...ctx.cors, ...headers },
    JSON.stringify(body) + "\n",
  );
}
