/**
 * The running server: one hub fed by the HTTP port, the control port and the
 * FIFO, and the commands (`status`, `halt`) that act on all of them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ControlPort } from "./control_port.ts";
import { describeSource, type Dispatcher, type Source } from "./dispatch.ts";
import { errorMessage, ExitCode, StartupError } from "./errors.ts";
import { FifoInput } from "./fifo.ts";
import { createHttpHandler } from "./http_server.ts";
import { describe, Hub, type PublishResult } from "./hub.ts";
import {
  CommandRefusedError,
  COMMANDS,
  InstructionError,
} from "./instruction.ts";
import type { SseEvent } from "./sse_format.ts";
import type { TlsFiles } from "./tls.ts";

const logger = getLogger(["sse-server", "server"]);

/** Everything a server needs to start; no file is read after start-up but the FIFO. */
export interface ServerConfig {
  readonly urlPath: string;
  readonly port: number;
  readonly bind: string;
  readonly tls?: TlsFiles;
  readonly fifo?: string;
  /** Mode of a FIFO the server creates (default 0o666, as the original). */
  readonly fifoMode?: number;
  readonly controlPort?: number;
  readonly allowCommands: boolean;
  readonly maxLine: number;
  readonly maxClientBuffer: number;
  readonly keepAliveMs: number;
  /** Events kept per channel for replay (0: none, and no ids). */
  readonly history: number;
  readonly historyAgeMs: number;
  /** Sent as `retry:` when a stream opens. */
  readonly retryMs?: number;
  /** Largest POST body and multi-line block, in bytes. */
  readonly maxBody: number;
  /** Accept publishing by GET query (the original's way). */
  readonly getPublish: boolean;
  /** How long `halt` lets streams drain before cutting them (default 2 s). */
  readonly haltGraceMs?: number;
}

/**
 * A started server. Stop it with {@linkcode SseServer.halt} (or `await using`);
 * {@linkcode SseServer.finished} settles once it has stopped, whoever asked.
 *
 * @example
 * ```ts
 * await using server = await SseServer.start({
 *   urlPath: "/", port: 0, bind: "127.0.0.1", allowCommands: false,
 *   maxLine: 65536, maxClientBuffer: 1 << 20, keepAliveMs: 15_000,
 * });
 * console.log(server.httpAddr.port);
 * ```
 */
export class SseServer implements Dispatcher, AsyncDisposable {
  readonly hub: Hub;
  readonly #config: ServerConfig;
  readonly #http: Deno.HttpServer<Deno.NetAddr>;
  readonly #control?: ControlPort;
  readonly #fifo?: FifoInput;
  #halting: Promise<void> | null = null;
  readonly #finished: PromiseWithResolvers<void> = Promise.withResolvers();

  private constructor(
    config: ServerConfig,
    hub: Hub,
    http: Deno.HttpServer<Deno.NetAddr>,
    control: ControlPort | undefined,
    fifo: FifoInput | undefined,
  ) {
    this.#config = config;
    this.hub = hub;
    this.#http = http;
    this.#control = control;
    this.#fifo = fifo;
  }

  /**
   * Opens the HTTP port, then the control port, then the FIFO. Throws
   * {@linkcode StartupError} if any fails, after closing what was opened.
   */
  static async start(config: ServerConfig): Promise<SseServer> {
    const hub = new Hub({
      maxQueuedBytes: config.maxClientBuffer,
      keepAliveMs: config.keepAliveMs,
      history: {
        maxPerChannel: config.history,
        maxAgeMs: config.historyAgeMs,
      },
    });
    const limits = {
      maxLineLength: config.maxLine,
      maxBlockLength: config.maxBody,
    };
    // The dispatcher is needed by the inputs before the server object
    // exists; it forwards to the server once constructed.
    let server: SseServer | undefined;
    const dispatcher: Dispatcher = {
      publish: (channels, events, source) =>
        server!.publish(channels, events, source),
      checkCommand: (command, source) => server!.checkCommand(command, source),
      command: (command, source) => server!.command(command, source),
    };
    let http: Deno.HttpServer<Deno.NetAddr> | undefined;
    let control: ControlPort | undefined;
    try {
      http = serveHttp(config, hub, dispatcher);
      if (config.controlPort !== undefined) {
        control = ControlPort.listen({
          hostname: config.bind,
          port: config.controlPort,
          tls: config.tls,
          limits,
        }, dispatcher);
      }
      const fifo = config.fifo === undefined
        ? undefined
        : await FifoInput.open({
          path: config.fifo,
          limits,
          mode: config.fifoMode ?? 0o666,
        }, dispatcher);
      server = new SseServer(config, hub, http, control, fifo);
    } catch (error) {
      hub.close();
      await control?.close();
      await http?.shutdown();
      throw error;
    }
    server.#logStart();
    return server;
  }

  /** The HTTP port's address. */
  get httpAddr(): Deno.NetAddr {
    return this.#http.addr;
  }

  /** The control port's address, if there is one. */
  get controlAddr(): Deno.NetAddr | undefined {
    return this.#control?.addr;
  }

  /** Settles once the server has stopped. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  publish(
    channels: readonly string[],
    events: readonly SseEvent[],
    source: Source,
  ): PublishResult {
    const result = this.hub.publish(channels, events);
    logger.info(
      "{source} published {events} to {channels}: {clients} clients",
      {
        source: describeSource(source),
        events: events.map((e) => `${e.type}=${shorten(e.data)}`).join(" "),
        channels: describe(channels),
        clients: result.clients,
      },
    );
    return result;
  }

  checkCommand(command: string, source: Source): void {
    if (!COMMANDS.includes(command)) {
      throw new InstructionError(
        `unknown command ${JSON.stringify(command)} (known: ${
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
  }

  /** Writes the controllers and clients into the log. */
  status(): void {
    const controllers = [
      ...(this.#fifo ? [`fifo ${this.#fifo.path}`] : []),
      ...(this.#control?.peers() ?? []).map((peer) => `control ${peer}`),
    ];
    logger.info("status: {controllers} controllers, {clients} clients", {
      controllers: controllers.length,
      clients: this.hub.size,
    });
    for (const controller of controllers) {
      logger.info("  controller {controller}", { controller });
    }
    for (const sub of this.hub.subscribers()) {
      logger.info(
        "  client {id} {addr} channels {channels} since {since}, {events} events, {queued} bytes queued",
        {
          id: sub.id,
          addr: sub.remoteAddr,
          channels: describe(sub.channels),
          since: sub.connectedAt.toISOString(),
          events: sub.eventsQueued,
          queued: sub.queuedBytes,
        },
      );
    }
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
    this.hub.close();
    await Promise.all([this.#control?.close(), this.#fifo?.close()]);
    const shutdown = this.#http.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      shutdown.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(
          () => resolve(true),
          this.#config.haltGraceMs ?? 2000,
        );
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      // Clients that do not read would hold the shutdown forever.
      for (const sub of streams) sub.abort();
      await shutdown;
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
  }
}

function serveHttp(
  config: ServerConfig,
  hub: Hub,
  dispatcher: Dispatcher,
): Deno.HttpServer<Deno.NetAddr> {
  const handler = createHttpHandler(
    {
      prefix: config.urlPath,
      maxUrlLength: config.maxLine,
      maxBody: config.maxBody,
      getPublish: config.getPublish,
      retryMs: config.retryMs,
    },
    hub,
    dispatcher,
  );
  const common = {
    hostname: config.bind,
    port: config.port,
    onListen: () => {},
    onError: (error: unknown) => {
      logger.error("HTTP handler failed: {error}", {
        error: errorMessage(error),
      });
      return new Response("internal error\n", { status: 500 });
    },
  };
  try {
    return config.tls
      ? Deno.serve(
        { ...common, cert: config.tls.cert, key: config.tls.key },
        handler,
      )
      : Deno.serve(common, handler);
  } catch (error) {
    throw new StartupError(
      `cannot listen on HTTP port ${config.bind}:${config.port}: ${
        errorMessage(error)
      }`,
      config.tls && !(error instanceof Deno.errors.AddrInUse)
        ? ExitCode.unavailable
        : ExitCode.cantCreate,
      { cause: error },
    );
  }
}

function shorten(data: string): string {
  return JSON.stringify(data.length > 200 ? data.slice(0, 200) + "…" : data);
}
