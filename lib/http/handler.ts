/**
 * The HTTP port: `GET PREFIX/ch1/ch2` subscribes (asked for JSON, it answers
 * the history kept instead), `GET PREFIX/ch1/ch2?t=d`
 * and `POST PREFIX/ch1/ch2` publish, `HEAD` answers with the stream's headers
 * and no body, `OPTIONS` answers CORS preflights.
 *
 * Every request is checked in this order, so the cheap refusals come first
 * and nothing is read or published for a request that will be refused: URL
 * length, path, method, channels and names, credentials, client and rate
 * limits, then the body.
 *
 * @module
 */

import {
  type Authorizer,
  type AuthResult,
  bearerToken,
  cookieValue,
} from "../auth/auth.ts";
import type { AuthUrl } from "../auth/auth_url.ts";
import { alsoAskApp } from "./app_auth.ts";
import type { Dispatcher } from "../core/dispatch.ts";
import type { Broker } from "../broker/broker.ts";
import {
  InstructionError,
  validateLastEventId,
} from "../protocol/instruction.ts";
import { ShuttingDownError } from "../errors.ts";
import { checkNames, type NameLimits } from "../protocol/limits.ts";
import { parseChannels } from "../protocol/channels.ts";
import {
  fromQuery,
  parsePostBody,
  type PublishRequest,
  readBody,
} from "../protocol/post_body.ts";
import type { RateLimiter } from "../auth/rate_limit.ts";
import {
  isValidHost,
  parseTarget,
  type RequestTarget,
  targetOf,
} from "./target.ts";
import {
  type Context,
  CORS_ALLOW_HEADERS,
  json,
  refuse,
  refuseError,
  streamHeaders,
  text,
  warn,
  whole,
  type WholeAnswer,
} from "./answers.ts";
import type { HttpAnswer, HttpHandler, HttpRequest } from "./exchange.ts";
import { historyAnswer, wantsJson } from "./history_answer.ts";

/** Settings of the HTTP handler. */
export interface HttpHandlerOptions {
  /** URL path prefix, starting with `/`. */
  readonly prefix: string;
  /** Longest request target accepted, in characters (else 414). */
  readonly maxUrlLength: number;
  /** Largest POST body, in bytes (else 413). */
  readonly maxBody: number;
  /** Time for a POST body to arrive (else 408 and the connection closed). */
  readonly bodyTimeoutMs: number;
  /**
   * Refuse chunked request bodies with 411: for `Deno.serve`, which reads
   * a chunked body's trailers with no bound in size (the lean engine
   * bounds them itself).
   */
  readonly refuseChunked?: boolean;
  /**
   * Refuse with 400 any request from a connection (peer address and port)
   * whose event stream is open: `Deno.serve` runs requests pipelined
   * behind a subscription on HTTP/1.1 while the stream lasts. Not for
   * HTTP/2, where one connection rightly carries many requests.
   */
  readonly refusePipelined?: boolean;
  /** Accept publishing by GET query. */
  readonly getPublish: boolean;
  /** Sent as `retry:` when a stream opens. */
  readonly retryMs?: number;
  /** Who may publish and subscribe. */
  readonly auth: Authorizer;
  /** The application asked as well (`--auth-url`), if any. */
  readonly authUrl?: AuthUrl;
  /** Cookie that may carry a subscriber's token. */
  readonly authCookie?: string;
  /** Allowed origins; `["*"]` allows any (without credentials). */
  readonly corsOrigins: readonly string[];
  /** Name and channel-count limits. */
  readonly names: NameLimits;
  /** Most subscribers in all (else 503). */
  readonly maxClients: number;
  /** Most subscribers per address, 0 for none (else 429). */
  readonly maxClientsPerIp: number;
  /** Events per second per client address (else 429). */
  readonly publishRate: RateLimiter;
  /** Called for every refused credential, for metrics. */
  readonly onAuthFailure?: () => void;
  /**
   * True once the server halts: a body cut short then is the server's
   * doing, answered 503 rather than blamed on the client.
   */
  readonly halting?: () => boolean;
}

/**
 * Builds the request handler that both HTTP engines serve (the lean one
 * and `Deno.serve`): one place decides every answer.
 */
export function createHttpHandler(
  options: HttpHandlerOptions,
  broker: Broker,
  dispatcher: Dispatcher,
): HttpHandler {
  const prefix = options.prefix.replace(/\/+$/, "");
  const anyOrigin = options.corsOrigins.includes("*");
  /** Peers (`address:port`) with an open event stream. */
  const streaming = new Set<string>();
  /** Event streams whose connection is not over yet. */
  let openStreams = 0;
  const origins = new Set(options.corsOrigins);

  /** CORS headers for this request's origin. */
  const corsFor = (request: HttpRequest): Record<string, string> => {
    if (anyOrigin) return { "Access-Control-Allow-Origin": "*" };
    const origin = request.headers.get("origin");
    if (origin === null || !origins.has(origin)) return { Vary: "Origin" };
    return {
      "Access-Control-Allow-Origin": origin,
      Vary: "Origin",
      // A listed origin may send the auth cookie along (withCredentials).
      ...(options.authCookie
        ? { "Access-Control-Allow-Credentials": "true" }
        : {}),
    };
  };

  return async (request, info) => {
    const remote = info.remoteAddr;
    const ctx: Context = {
      source: { kind: "http", name: `${remote.hostname}:${remote.port}` },
      address: remote.hostname,
      cors: corsFor(request),
    };
    if (options.refusePipelined && streaming.has(ctx.source.name)) {
      return refuse(
        ctx,
        400,
        "a request pipelined behind an event stream is not served",
      );
    }
    // The Host header is checked before anything reads the URL the engine
    // built from it; the path then comes from the request target alone.
    const host = request.headers.get("host");
    if (host !== null && !isValidHost(host)) {
      return refuse(ctx, 400, "malformed Host header");
    }
    if (options.refuseChunked && request.headers.has("transfer-encoding")) {
      // Cancelled, the body makes the engine close the connection.
      request.body?.cancel().catch(() => {});
      return refuse(
        ctx,
        411,
        "chunked request bodies are not accepted by --http-engine serve; send Content-Length",
        request.method === "POST" ? "json" : "text",
        { Connection: "close" },
      );
    }
    const raw = targetOf(request.url);
    if (raw.length > options.maxUrlLength) {
      warn(ctx, `request URL too long (${raw.length} characters)`);
      return text(
        ctx,
        414,
        `URL too long (limit ${options.maxUrlLength} characters)`,
      );
    }
    let target: RequestTarget;
    try {
      target = parseTarget(raw);
    } catch (error) {
      return refuseError(ctx, error);
    }
    const path = target.path;
    if (prefix !== "" && path !== prefix && !path.startsWith(prefix + "/")) {
      return text(ctx, 404, "not found");
    }
    const method = request.method;
    if (method === "OPTIONS") {
      return whole(204, {
        ...ctx.cors,
        "Access-Control-Allow-Methods": "GET, HEAD, POST",
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": "86400",
      });
    }
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      return text(ctx, 405, "method not allowed", {
        Allow: "GET, HEAD, POST, OPTIONS",
      });
    }
    let channels: string[];
    try {
      channels = parseChannels(path.slice(prefix.length));
      checkNames(options.names, channels);
    } catch (error) {
      // A POST is answered in JSON whatever refuses it.
      return refuseError(ctx, error, method === "POST" ? "json" : "text");
    }
    if (method === "POST") return await post(request, target, channels, ctx);
    const params = new URLSearchParams(target.query);
    // HEAD is authorised as the subscription it describes, and never
    // publishes: it answers what GET would, without a stream.
    if (method === "HEAD") {
      return await subscribe(request, params, path, channels, ctx);
    }

    let query: PublishRequest;
    try {
      query = fromQuery(target.query);
    } catch (error) {
      return refuseError(ctx, error);
    }
    if (query.events.length > 0 || query.commands.length > 0) {
      if (!options.getPublish) {
        return refuse(
          ctx,
          403,
          "publishing by GET is switched off (--no-get-publish); use POST",
        );
      }
      const denied = await checkPublisher(request, path, channels, ctx);
      if (denied) return denied;
      return await publish(channels, query, ctx, "text");
    }
    return await subscribe(request, params, path, channels, ctx);
  };

  /** A refusal when the request may not publish to `channels`, else null. */
  async function checkPublisher(
    request: HttpRequest,
    path: string,
    channels: string[],
    ctx: Context,
    answer: "text" | "json" = "text",
  ): Promise<WholeAnswer | null> {
    const result = await alsoAskApp(
      options.authUrl,
      await options.auth.checkPublish(
        bearerToken(request.headers.get("authorization")),
        channels,
      ),
      { action: "publish", request, path, channels, ctx, answer },
      options.onAuthFailure,
    );
    if ("kind" in result) return result;
    return result.ok ? null : authFailure(ctx, result, answer);
  }

  function authFailure(
    ctx: Context,
    result: Extract<AuthResult, { ok: false }>,
    answer: "text" | "json",
  ): WholeAnswer {
    options.onAuthFailure?.();
    return refuse(ctx, result.status, result.reason, answer, {
      ...(result.status === 401 ? { "WWW-Authenticate": "Bearer" } : {}),
    });
  }

  async function subscribe(
    request: HttpRequest,
    params: URLSearchParams,
    path: string,
    channels: string[],
    ctx: Context,
  ): Promise<HttpAnswer> {
    // The header is what EventSource sends when it reconnects, so it is
    // newer than a lastEventId written into the URL.
    const lastEventId = request.headers.get("last-event-id") ??
      params.get("lastEventId") ?? undefined;
    if (lastEventId !== undefined) {
      try {
        validateLastEventId(lastEventId);
      } catch (error) {
        if (!(error instanceof InstructionError)) throw error;
        return text(ctx, 400, `Last-Event-ID: ${error.message}`);
      }
    }
    const auth = await alsoAskApp(
      options.authUrl,
      await options.auth.checkSubscribe(
        bearerToken(request.headers.get("authorization")) ??
          (options.authCookie === undefined
            ? undefined
            : cookieValue(request.headers.get("cookie"), options.authCookie)) ??
          params.get("access_token") ?? undefined,
        channels,
      ),
      { action: "subscribe", request, path, channels, ctx, answer: "text" },
      options.onAuthFailure,
    );
    if ("kind" in auth) return auth;
    if (!auth.ok) return authFailure(ctx, auth, "text");
    // Asked for JSON: the history as one answer, no stream, no client slot.
    if (wantsJson(request.headers.get("accept"))) {
      const head = request.method === "HEAD";
      return await historyAnswer(ctx, broker, channels, lastEventId, head);
    }
    // Streams count until their connection is really over (ended), not
    // only while their subscriber lives: a dropped client whose socket an
    // engine cannot cut at once still holds a place.
    if (Math.max(broker.hub.size, openStreams) >= options.maxClients) {
      return refuse(
        ctx,
        503,
        `too many clients (limit ${options.maxClients})`,
        "text",
        {
          "Retry-After": "10",
        },
      );
    }
    if (
      options.maxClientsPerIp > 0 &&
      broker.hub.clientsFrom(ctx.address) >= options.maxClientsPerIp
    ) {
      return refuse(
        ctx,
        429,
        `too many streams from ${ctx.address} (limit ${options.maxClientsPerIp})`,
      );
    }
    if (request.method === "HEAD") {
      return whole(200, streamHeaders(ctx));
    }
    const subscriber = await broker.subscribe(channels, ctx.source.name, {
      lastEventId,
      retryMs: options.retryMs,
      address: ctx.address,
      expiresAt: auth.grant.expiresAt,
      user: auth.grant.user,
    });
    // Settles when the stream is over; rejects when the client went away.
    // Either way the subscriber is done (a no-op if it already closed).
    const peer = ctx.source.name;
    streaming.add(peer);
    openStreams++;
    let over = false;
    return {
      kind: "stream",
      subscriber,
      headers: streamHeaders(ctx),
      ended: () => {
        if (!over) openStreams--;
        over = true;
        streaming.delete(peer);
        // A no-op if the subscriber ended first.
        subscriber.close("client disconnected");
      },
    };
  }

  async function post(
    request: HttpRequest,
    target: RequestTarget,
    channels: string[],
    ctx: Context,
  ): Promise<WholeAnswer> {
    // Credentials before the body: a refused publisher costs no reading.
    const denied = await checkPublisher(
      request,
      target.path,
      channels,
      ctx,
      "json",
    );
    if (denied) {
      await request.body?.cancel();
      return denied;
    }
    let parsed: PublishRequest;
    try {
      const body = await readBody(
        request,
        options.maxBody,
        options.bodyTimeoutMs,
      );
      parsed = parsePostBody(
        request.headers.get("content-type") ?? "",
        body,
        new URLSearchParams(target.query),
      );
    } catch (error) {
      if (options.halting?.()) {
        return refuseError(ctx, new ShuttingDownError(), "json");
      }
      return refuseError(ctx, error, "json");
    }
    if (parsed.events.length === 0 && parsed.commands.length === 0) {
      return refuse(ctx, 400, "the body holds no event", "json");
    }
    return await publish(channels, parsed, ctx, "json");
  }

  async function publish(
    channels: string[],
    request: PublishRequest,
    ctx: Context,
    answer: "text" | "json",
  ): Promise<WholeAnswer> {
    if (
      !options.publishRate.allow(
        ctx.address,
        Math.max(1, request.events.length),
      )
    ) {
      return refuse(ctx, 429, "publish rate limit exceeded", answer, {
        "Retry-After": "1",
      });
    }
    // Check every command before publishing anything, so a refused request
    // has no effect at all.
    for (const command of request.commands) {
      try {
        dispatcher.checkCommand(command, ctx.source);
      } catch (error) {
        return refuseError(ctx, error, answer);
      }
    }
    let result;
    try {
      result = await dispatcher.publish(channels, request.events, ctx.source);
    } catch (error) {
      return refuseError(ctx, error, answer);
    }
    for (const command of request.commands) {
      dispatcher.command(command, ctx.source);
    }
    if (answer === "json") {
      return json(ctx, 202, { ids: result.ids, clients: result.clients });
    }
    const noun = result.events === 1 ? "event" : "events";
    return text(
      ctx,
      200,
      `OK: ${result.events} ${noun} sent to ${result.clients} client${
        result.clients === 1 ? "" : "s"
      }`,
    );
  }
}
