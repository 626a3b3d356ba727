/**
 * The HTTP port: the shared handler on the engine the configuration names
 * (the lean engine, or `Deno.serve` with TLS), with each engine's settings.
 *
 * @module
 */

import type { ServerConfig } from "../config/server_config.ts";
import type { Dispatcher } from "../core/dispatch.ts";
import type { Broker } from "../broker/broker.ts";
import { createHttpHandler, type HttpHandlerOptions } from "./handler.ts";
import { LeanHttpServer } from "./lean/engine.ts";
import { serveWithDeno } from "./serve_engine.ts";

/** What the server needs of its HTTP engine, `Deno.serve` or the lean one. */
export interface HttpListener {
  readonly addr: Deno.NetAddr;
  shutdown(): Promise<void>;
  /** Cuts every connection (the lean engine; Deno.serve has no such call). */
  abortAll?(): void;
}

/**
 * Request heads the lean engine accepts: header lines (and trailer lines) of
 * this many bytes (the request line may add `--max-line`).
 */
const LEAN_MAX_HEAD_BYTES = 16384;

/**
 * Serves the HTTP port with `config`'s engine; throws `StartupError` when
 * it cannot listen.
 */
export function listenHttp(
  config: ServerConfig,
  broker: Broker,
  dispatcher: Dispatcher,
  access: Pick<
    HttpHandlerOptions,
    | "auth"
    | "authUrl"
    | "authCookie"
    | "corsOrigins"
    | "names"
    | "maxClients"
    | "maxClientsPerIp"
    | "publishRate"
    | "onAuthFailure"
    | "halting"
  >,
): HttpListener | Promise<HttpListener> {
  const handler = createHttpHandler(
    {
      prefix: config.urlPath,
      maxUrlLength: config.maxLine,
      maxBody: config.maxBody,
      bodyTimeoutMs: config.bodyTimeout * 1000,
      refuseChunked: config.httpEngine !== "lean",
      // Without TLS there is no HTTP/2 to tell apart from pipelining.
      refusePipelined: config.httpEngine !== "lean" && !config.tls,
      getPublish: !config.noGetPublish,
      retryMs: config.retry,
      ...access,
    },
    broker,
    dispatcher,
  );
  if (config.httpEngine === "lean") {
    return LeanHttpServer.listen({
      hostname: config.bind,
      port: config.port,
      maxHeadBytes: LEAN_MAX_HEAD_BYTES,
      maxTargetBytes: config.maxLine,
      headTimeoutMs: config.headTimeout * 1000,
      tls: config.tls,
    }, handler);
  }
  return serveWithDeno(
    { hostname: config.bind, port: config.port, tls: config.tls },
    handler,
  );
}
