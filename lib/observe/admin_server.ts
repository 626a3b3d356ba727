/**
 * The admin listener (`--admin-port`): `/status` (JSON), `/metrics`
 * (Prometheus), `/` (a live dashboard), `/events` (the dashboard's own
 * event stream, one snapshot a second) and the channel and client actions
 * of `admin_actions.ts`. Off by default and bound to loopback unless
 * `--admin-bind` says otherwise.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { bearerToken } from "../auth/auth.ts";
import { DASHBOARD_HTML } from "./dashboard_page.ts";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import { Hub } from "../core/hub.ts";
import { streamBody } from "../http/serve_engine.ts";
import {
  isValidHost,
  parseTarget,
  type RequestTarget,
  targetOf,
} from "../http/target.ts";
import { renderMetrics } from "./metrics.ts";
import type { RecentEvent, Snapshot } from "./reports.ts";

const logger = getLogger(["sse-server", "admin"]);

/** What the admin listener reads from the server. */
export interface AdminSource {
  /**
   * Null when the server accepts subscribers and publishes, else why not
   * (for `/readyz`).
   */
  notReady(): string | null;
  /** A snapshot; `clients`: with the list of clients (for `/status`). */
  snapshot(
    eventLoopLagSeconds: number,
    options?: { readonly clients?: boolean },
  ): Snapshot;
}

/** Settings of an {@linkcode AdminServer}. */
export interface AdminOptions {
  readonly hostname: string;
  /** TCP port; 0 lets the system choose. */
  readonly port: number;
  /** How often the dashboard stream gets a snapshot (default 1000 ms). */
  readonly intervalMs?: number;
  /**
   * When set, every request needs a credential (`Authorization: Bearer`, or
   * `?access_token=` for the dashboard page and its stream) that this accepts.
   */
  readonly authorize?: (credential: string | undefined) => Promise<boolean>;
  /**
   * The channel and client actions (`admin_actions.ts`): the answer for
   * their paths, null for any other.
   */
  readonly actions?: {
    handle(method: string, path: string): Promise<Response | null>;
  };
}

/** What the dashboard receives every interval. */
export interface DashboardSnapshot {
  readonly time: number;
  readonly version: string;
  readonly startedAt: string;
  readonly clients: number;
  readonly controllers: number;
  readonly channels: number;
  readonly topChannels: readonly (readonly [string, number])[];
  readonly published: Readonly<Record<string, number>>;
  readonly deliveries: number;
  readonly bytesSent: number;
  readonly slowConsumers: number;
  readonly historyEvents: number;
  readonly eventLoopLagSeconds: number;
  readonly recent: readonly RecentEvent[];
}

/**
 * A running admin listener. It owns its HTTP server, its timer and the small
 * hub that carries dashboard snapshots; {@linkcode AdminServer.close} ends
 * all three.
 */
export class AdminServer implements AsyncDisposable {
  readonly #http: Deno.HttpServer<Deno.NetAddr>;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #dashboard = new Hub({
    maxQueuedBytes: 1 << 20,
    keepAliveMs: 15_000,
    label: "dashboard client",
  });
  readonly #source: AdminSource;
  #lagSeconds = 0;
  #lastTick: number;
  #closing: Promise<void> | null = null;

  private constructor(
    options: AdminOptions,
    source: AdminSource,
  ) {
    this.#source = source;
    const interval = options.intervalMs ?? 1000;
    try {
      this.#http = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        onListen: () => {},
        onError: (error) => {
          logger.error("admin request failed: {error}", {
            error: errorMessage(error),
          });
          return new Response("internal error\n", { status: 500 });
        },
      }, async (request, info) => {
        // The probes reveal nothing and a load balancer has no token.
        // The URL is never parsed with the Host in it (see http/target.ts).
        const target = requestTarget(request);
        if (target === null) {
          return new Response("bad request\n", { status: 400 });
        }
        const probe = probeAnswer(target.path, source);
        if (probe) return probe;
        if (options.authorize) {
          const credential =
            bearerToken(request.headers.get("authorization")) ??
              new URLSearchParams(target.query).get("access_token") ??
              undefined;
          if (!(await options.authorize(credential))) {
            const remote = info.remoteAddr as Deno.NetAddr;
            logger.warn("admin request from {addr} refused: {reason}", {
              addr: remote.hostname,
              reason: credential === undefined
                ? "no token"
                : "token not accepted",
            });
            return new Response(
              credential === undefined
                ? "a token is needed\n"
                : "token not accepted\n",
              {
                status: credential === undefined ? 401 : 403,
                headers: credential === undefined
                  ? { "WWW-Authenticate": "Bearer" }
                  : {},
              },
            );
          }
        }
        const action = await options.actions?.handle(
          request.method,
          target.path,
        );
        return action ?? this.#handle(request, target.path, info);
      });
    } catch (error) {
      this.#dashboard.close();
      throw new StartupError(
        `cannot listen on admin port ${options.hostname}:${options.port}: ${
          errorMessage(error)
        }`,
        ExitCode.cantCreate,
        { cause: error },
      );
    }
    // One timer measures event-loop lag and feeds the dashboard.
    this.#lastTick = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lagSeconds = Math.max(0, now - this.#lastTick - interval) / 1000;
      this.#lastTick = now;
      if (this.#dashboard.size > 0) this.#pushSnapshot();
    }, interval);
  }

  /** Starts listening; throws {@linkcode StartupError} (exit 73) on failure. */
  static listen(options: AdminOptions, source: AdminSource): AdminServer {
    return new AdminServer(options, source);
  }

  /** The address actually bound. */
  get addr(): Deno.NetAddr {
    return this.#http.addr;
  }

  /** Stops the timer, ends the dashboard streams and closes the listener. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      this.#dashboard.close();
      await this.#http.shutdown();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The current snapshot, as the dashboard gets it. */
  snapshot(): DashboardSnapshot {
    const { time, status, metrics: m, recent } = this.#source.snapshot(
      this.#lagSeconds,
      { clients: false },
    );
    return {
      time,
      version: status.server.version,
      startedAt: status.server.startedAt,
      clients: status.totals.clients,
      controllers: m.controllers,
      channels: m.channels,
      topChannels: m.topChannels,
      published: m.published,
      deliveries: m.deliveries,
      bytesSent: m.bytesSent,
      slowConsumers: m.slowConsumers,
      historyEvents: m.historyEvents,
      eventLoopLagSeconds: m.eventLoopLagSeconds,
      recent: recent.slice(-15),
    };
  }

  #pushSnapshot(): void {
    this.#dashboard.publish([], [{
      type: "snapshot",
      data: JSON.stringify(this.snapshot()),
    }]);
  }

  #handle(
    request: Request,
    path: string,
    info: Deno.ServeHandlerInfo,
  ): Response {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { Allow: "GET, HEAD" },
      });
    }
    switch (path) {
      case "/":
        return new Response(DASHBOARD_HTML, {
          headers: { "Content-Type": "text/html; charset=utf-8" },
        });
      case "/status":
        return Response.json(this.#source.snapshot(this.#lagSeconds).status);
      case "/metrics":
        return new Response(
          renderMetrics(
            this.#source.snapshot(this.#lagSeconds, { clients: false })
              .metrics,
          ),
          {
            headers: {
              "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
            },
          },
        );
      case "/events": {
        const remote = info.remoteAddr as Deno.NetAddr;
        const sub = this.#dashboard.subscribe(
          [],
          `${remote.hostname}:${remote.port}`,
        );
        // The first snapshot at once, so the page is never empty.
        this.#pushSnapshot();
        const done = () => sub.close("client disconnected");
        info.completed.then(done, done);
        return new Response(streamBody(sub), {
          headers: {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
          },
        });
      }
      default:
        return new Response("not found\n", { status: 404 });
    }
  }
}

/**
 * `GET /healthz` (the process serves: always 200) and `GET /readyz` (it
 * accepts subscribers and publishes: 200, else 503 with the reason), or
 * null for any other request. Unauthenticated and cheap: no snapshot.
 */
function probeAnswer(path: string, source: AdminSource): Response | null {
  if (path === "/healthz") return new Response("ok\n");
  if (path !== "/readyz") return null;
  const reason = source.notReady();
  return reason === null
    ? new Response("ready\n")
    : new Response(`not ready: ${reason}\n`, { status: 503 });
}

/** The request's path and query, or null for a malformed Host or target. */
function requestTarget(request: Request): RequestTarget | null {
  const host = request.headers.get("host");
  if (host !== null && !isValidHost(host)) return null;
  try {
    return parseTarget(targetOf(request.url));
  } catch {
    return null;
  }
}
