/**
 * The running server: one hub fed by the HTTP port, the control port and the
 * FIFO, and the commands (`status`, `halt`) that act on all of them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { AdminServer } from "./observe/admin_server.ts";
import { ControlPort } from "./inputs/control_port.ts";
import type { Broker } from "./broker/broker.ts";
import { openBroker } from "./broker/open_broker.ts";
import { type ClusterCommand, describeCommand } from "./broker/commands.ts";
import { ChannelAdmin } from "./observe/admin_actions.ts";
import { Presence } from "./core/presence.ts";
import {
  describeSource,
  type Dispatcher,
  type Source,
} from "./core/dispatch.ts";
import { errorMessage, ShuttingDownError } from "./errors.ts";
import { FifoInput } from "./inputs/fifo.ts";
import { Authorizer, type AuthResult } from "./auth/auth.ts";
import { AuthUrl } from "./auth/auth_url.ts";
import { checkNames } from "./protocol/limits.ts";
import { RateLimiter } from "./auth/rate_limit.ts";
import { describe, Hub, type PublishResult } from "./core/hub.ts";
import {
  RecentEvents,
  type ServerView,
  type Snapshot,
  takeSnapshot,
} from "./observe/reports.ts";
import { type ControllerStatus, logStatus } from "./observe/status.ts";
import {
  CommandRefusedError,
  COMMANDS,
  InstructionError,
} from "./protocol/instruction.ts";
import type { SseEvent } from "./core/sse_format.ts";
import type { ServerConfig } from "./config/server_config.ts";
import { type HttpListener, listenHttp } from "./http/listen.ts";
import { within } from "./process/grace.ts";
import { shorten } from "./process/log.ts";

const logger = getLogger(["sse-server", "server"]);

export type { ServerConfig };

/**
 * A started server. Stop it with {@linkcode SseServer.halt} (or `await using`);
 * {@linkcode SseServer.finished} settles once it has stopped, whoever asked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultOptions } from "./config/options.ts";
 * await using server = await SseServer.start({
 *   ...defaultOptions(),
 *   port: 0,
 *   bind: "127.0.0.1",
 * });
 * assert.ok(server.httpAddr.port > 0);
 * ```
 */
export class SseServer implements Dispatcher, AsyncDisposable {
  readonly hub: Hub;
  readonly #config: ServerConfig;
  // Set by start(), in this order; absent when not configured.
  #http?: HttpListener;
  #control?: ControlPort;
  #fifo?: FifoInput;
  #admin?: AdminServer;
  #presence?: Presence;
  /** Set by start() before anything can publish or subscribe. */
  #broker!: Broker;
  #halting: Promise<void> | null = null;
  readonly #recent = new RecentEvents();
  /** When the server started. */
  readonly startedAt: Date = new Date();
  /** Credentials refused so far. */
  authFailures = 0;
  /** Events published so far, by input. */
  readonly published: Record<Source["kind"], number> = {
    http: 0,
    control: 0,
    fifo: 0,
  };
  readonly #finished: PromiseWithResolvers<void> = Promise.withResolvers();

  private constructor(config: ServerConfig, hub: Hub) {
    this.#config = config;
    this.hub = hub;
  }

  /**
   * Connects to Redis (if configured; in the background), then opens the
   * HTTP port, the control port, the FIFO and the admin port. Throws
   * {@linkcode StartupError} if any fails, after closing what was opened.
   */
  static async start(config: ServerConfig): Promise<SseServer> {
    const auth = await Authorizer.create(
      config.auth ?? { subscribeAuth: false },
    );
    // Counts are kept for presence events, and with Redis for the admin's
    // channel list too (every instance's subscribers).
    const presence: Presence | undefined = config.presence ||
        (config.redis !== undefined && config.adminPort !== undefined)
      ? new Presence({
        events: config.presence,
        exchange: config.redis === undefined
          ? undefined
          // Nothing to exchange until the broker is open (it may wait
          // for Redis longer than a presence interval).
          : (local) =>
            server.#broker === undefined
              ? Promise.resolve(new Map())
              : server.#broker.exchangeCounts(local),
      })
      : undefined;
    const hub = new Hub({
      onMembership: presence?.onMembership,
      maxQueuedBytes: config.maxClientBuffer,
      maxBacklogBytes: config.maxBacklog,
      keepAliveMs: config.keepAlive * 1000,
      // With Redis, ids and history live there; the hub keeps none.
      history: config.redis ? undefined : {
        maxPerChannel: config.history,
        maxBytes: config.historyBytes,
        maxAgeMs: config.historyAge * 1000,
      },
    });
    const lineLimits = {
      maxLineLength: config.maxLine,
      maxBlockLength: config.maxBody,
    };
    // The server exists before any input, so none can reach it half-made.
    const server: SseServer = new SseServer(config, hub);
    server.#presence = presence;
    const channelAdmin = new ChannelAdmin({
      hub,
      broker: () => server.#broker,
      presence,
    });
    const limits = config;
    // Counts refusals for metrics; the reason is logged where it happens.
    const counted = async (check: Promise<AuthResult>) => {
      const result = await check;
      if (!result.ok) server.authFailures++;
      return result;
    };
    try {
      const onCommand = (command: ClusterCommand) => {
        logger.info("cluster: command {command}", {
          command: describeCommand(command),
        });
        if (command.kind === "halt") void server.halt();
        else if (command.kind === "close-channel") {
          channelAdmin.closeChannel(command.channel);
        } else channelAdmin.closeClientHere(command.instance, command.id);
      };
      server.#broker = await openBroker(config, hub, onCommand);
      server.#http = await listenHttp(config, server.#broker, server, {
        auth,
        // Asked for HTTP subscriptions and publishes only: the control
        // port and the FIFO are local, trusted inputs.
        authUrl: config.authUrl === undefined ? undefined : new AuthUrl({
          url: config.authUrl,
          timeoutMs: config.authTimeout * 1000,
          cacheMs: config.authCache * 1000,
        }),
        authCookie: config.authCookie,
        corsOrigins: config.corsOrigins,
        names: limits,
        maxClients: limits.maxClients,
        maxClientsPerIp: limits.maxClientsPerIp,
        publishRate: new RateLimiter(limits.publishRate),
        onAuthFailure: () => server.authFailures++,
        halting: () => server.#halting !== null,
      });
      if (config.controlPort !== undefined) {
        server.#control = ControlPort.listen({
          hostname: config.controlBind ?? config.bind,
          port: config.controlPort,
          tls: config.tls,
          limits: lineLimits,
          maxConnections: limits.maxControllers,
          idleTimeoutMs: config.controlIdleTimeout * 1000,
          publishRate: limits.publishRate,
          authenticate: auth.publishProtected
            ? (credential) => counted(auth.authenticatePublisher(credential))
            : undefined,
        }, server);
      }
      if (config.fifo !== undefined) {
        server.#fifo = await FifoInput.open({
          path: config.fifo,
          limits: lineLimits,
          blockTimeoutMs: config.fifoBlockTimeout * 1000,
          // With a publish secret the FIFO must not be an open door.
          mode: config.fifoMode ?? (auth.publishProtected ? 0o600 : 0o666),
        }, server);
      }
      if (config.adminPort !== undefined) {
        server.#admin = AdminServer.listen({
          hostname: config.adminBind,
          port: config.adminPort,
          // Protected like publishing: the token, or a JWT that may publish
          // everywhere.
          authorize: auth.publishProtected
            ? async (credential) => {
              const result = await counted(
                auth.authenticatePublisher(credential),
              );
              return result.ok &&
                (result.grant.patterns === null ||
                  result.grant.patterns.includes("*"));
            }
            : undefined,
          actions: channelAdmin,
        }, server);
      }
    } catch (error) {
      presence?.close();
      hub.close();
      await server.#fifo?.close();
      await server.#control?.close();
      await server.#http?.shutdown();
      await server.#broker?.close();
      throw error;
    }
    server.#logStart();
    return server;
  }

  /** The HTTP port's address. */
  get httpAddr(): Deno.NetAddr {
    return this.#http!.addr; // set by start() before anyone can ask
  }

  /** The control port's address, if there is one. */
  get controlAddr(): Deno.NetAddr | undefined {
    return this.#control?.addr;
  }

  /** Settles once the server has stopped. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Publishes events from `source`. With Redis the events are appended there
   * first (the result counts this instance's clients), and the local fan-out
   * follows when this instance reads them back.
   */
  publish(
    channels: readonly string[],
    events: readonly SseEvent[],
    source: Source,
  ): PublishResult | Promise<PublishResult> {
    checkNames(this.#config, channels, events.map((event) => event.type));
    // Push-back: while subscribers owe too much, the publisher waits (the
    // control port and the FIFO stop reading meanwhile).
    const ready = this.hub.ready();
    if (ready) {
      return ready.then(() => this.#publishNow(channels, events, source));
    }
    return this.#publishNow(channels, events, source);
  }

  #publishNow(
    channels: readonly string[],
    events: readonly SseEvent[],
    source: Source,
  ): PublishResult | Promise<PublishResult> {
    // Once halting, the hub takes no more events: a publish that comes too
    // late (or waited for push-back meanwhile) is refused, never
    // acknowledged and lost.
    if (this.#halting) throw new ShuttingDownError();
    const result = this.#broker.publish(channels, events);
    return result instanceof Promise
      ? result.then((stored) =>
        this.#published(channels, events, source, stored)
      )
      : this.#published(channels, events, source, result);
  }

  /** Counts, remembers and logs a publish. */
  #published(
    channels: readonly string[],
    events: readonly SseEvent[],
    source: Source,
    result: PublishResult,
  ): PublishResult {
    this.published[source.kind] += events.length;
    this.#recent.add(source.kind, channels, events, result.ids);
    // The line per publish is the log's most frequent: made only when it
    // is written, and handed over whole (as a template's one value, so
    // that braces in the data are never read as placeholders).
    if (logger.isEnabledFor("info")) {
      const line = `${describeSource(source)} published ${
        events.map((e) => `${e.type}=${shorten(e.data)}`).join(" ")
      } to ${describe(channels)}: ${result.clients} clients`;
      logger.info`${line}`;
    }
    return result;
  }

  checkCommand(command: string, source: Source): void {
    if (!COMMANDS.includes(command)) {
      // Not echoed: a bare word may be a token sent in the wrong place.
      throw new InstructionError(
        `unknown command of ${command.length} characters (known: ${
          COMMANDS.join(", ")
        })`,
      );
    }
    if (source.kind !== "fifo" && !this.#config.allowCommands) {
      throw new CommandRefusedError(
        `command "${command}" refused: commands are accepted on the FIFO only, unless the server runs with --allowcommands (-a)`,
      );
    }
  }

  command(command: string, source: Source): void {
    this.checkCommand(command, source);
    logger.info("{source}: command {command}", {
      source: describeSource(source),
      command,
    });
    if (command === "status") this.status();
    else if (command === "halt") void this.halt();
    else if (command === "halt-all") {
      // Every instance, this one included, halts when it gets this.
      this.#broker.broadcast({ kind: "halt" }).catch((error) => {
        logger.error(
          "halt-all not sent ({error}); halting this instance only",
          {
            error: errorMessage(error),
          },
        );
        void this.halt();
      });
    }
  }

  /** Writes the status report into the log (the `status` command). */
  status(): void {
    logStatus(logger, this.snapshot(0).status);
  }

  /** The controllers: the FIFO and every control-port peer. */
  controllers(): ControllerStatus[] {
    return [
      ...(this.#fifo ? [{ kind: "fifo" as const, name: this.#fifo.path }] : []),
      ...(this.#control?.peers() ?? []).map((name) => ({
        kind: "control" as const,
        name,
      })),
    ];
  }

  /** Null when it accepts subscribers and publishes, else why not. */
  notReady(): string | null {
    if (this.#halting) return "halting";
    return this.#broker.notReady();
  }

  /**
   * What the server reports of itself now, for `/status`, `/metrics`, the
   * dashboard and the `status` command; `eventLoopLagSeconds` is measured
   * by the caller.
   */
  snapshot(
    eventLoopLagSeconds: number,
    options?: { readonly clients?: boolean },
  ): Snapshot {
    return takeSnapshot(this.#view(), eventLoopLagSeconds, options);
  }

  #view(): ServerView {
    return {
      hub: this.hub,
      startedAt: this.startedAt,
      published: this.published,
      authFailures: this.authFailures,
      recent: this.#recent.list(),
      options: this.#config,
      controllers: () => this.controllers(),
    };
  }

  /**
   * Ends every stream cleanly, closes the ports and the FIFO (removing it if
   * this server made it) and settles {@linkcode SseServer.finished}.
   */
  halt(): Promise<void> {
    this.#halting ??= this.#halt();
    return this.#halting;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.halt();
  }

  async #halt(): Promise<void> {
    logger.info("halting: closing {clients} clients", {
      clients: this.hub.size,
    });
    const streams = [...this.hub.subscribers()];
    this.#presence?.close();
    this.hub.close();
    // The admin port stays up while the streams drain, so /readyz says
    // "halting" to a load balancer until the HTTP port is closed.
    await Promise.all([
      this.#control?.close(),
      this.#fifo?.close(),
      this.#broker.close(),
    ]);
    const grace = this.#config.haltGraceMs ?? 2000;
    const shutdown = this.#http!.shutdown();
    if (!(await within(shutdown, grace))) {
      // Clients that do not read would hold the shutdown forever.
      for (const sub of streams) sub.abort();
      this.#http!.abortAll?.();
      // Deno.serve cannot cut a connection whose write is stuck: stop
      // waiting for it after another grace rather than never halt.
      if (!(await within(shutdown, grace))) {
        logger.warn(
          "halting: connections whose clients do not read are left to the exit",
        );
      }
    }
    // The admin port likewise (a dashboard whose client stopped reading).
    if (this.#admin && !(await within(this.#admin.close(), grace))) {
      logger.warn("halting: the admin port did not close in time");
    }
    logger.info("halted");
    this.#finished.resolve();
  }

  #logStart(): void {
    const c = this.#config;
    const scheme = c.tls ? "https" : "http";
    logger.info("sse-server started, pid {pid}", { pid: Deno.pid });
    logger.info("listening for {scheme} on {host}:{port}, URL path {path}", {
      scheme,
      host: this.httpAddr.hostname,
      port: this.httpAddr.port,
      path: c.urlPath,
    });
    if (this.#control) {
      logger.info("control port{tls} on {host}:{port}, commands {commands}", {
        tls: c.tls ? " (TLS)" : "",
        host: this.#control.addr.hostname,
        port: this.#control.addr.port,
        commands: c.allowCommands ? "allowed" : "refused",
      });
    }
    if (this.#fifo) {
      logger.info("reading FIFO {path}", { path: this.#fifo.path });
    }
    if (this.#admin) {
      logger.info("admin (status, metrics, dashboard) on {host}:{port}", {
        host: this.#admin.addr.hostname,
        port: this.#admin.addr.port,
      });
    }
  }
}
