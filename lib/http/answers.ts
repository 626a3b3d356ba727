/**
 * The HTTP handler's answers: plain-text and JSON refusals (each logged,
 * each saying nothing was published), CORS headers and an event stream's
 * headers. Both engines send them as they are.
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
): Response {
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
): Response {
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
): Response {
  return new Response(body + "\n", {
    status,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      ...ctx.cors,
      ...headers,
    },
  });
}

/** A JSON answer (a line break added). */
export function json(
  ctx: Context,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "Content-Type": "application/json", ...ctx.cors, ...headers },
  });
}
