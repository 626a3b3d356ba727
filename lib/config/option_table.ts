/**
 * The one table of options: each declared once, with its flags, value kind
 * (type, unit, validation), default and help text. The command-line parser,
 * the config file reader, `--help`, the defaults and the configuration the
 * server takes are all made from it (`options.ts`, `usage.ts`).
 *
 * Units are the user's: seconds stay seconds, bytes stay bytes; the server
 * converts where it wires its parts.
 *
 * @module
 */

import {
  choice,
  flag,
  integer,
  option,
  optional,
  type OptionSpec,
  port,
  seconds,
  text,
  usageError,
} from "./value_kinds.ts";

import { SECURITY_OPTIONS } from "./security_options.ts";

export type { OptionSpec, Section, ValueKind } from "./value_kinds.ts";
export { usageError } from "./value_kinds.ts";

/** Every option, in `--help` order. */
export const OPTION_TABLE = {
  help: option({
    long: "help",
    short: "h",
    kind: flag,
    default: false,
    help: "print this help and exit",
    section: "main",
  }),
  nodaemon: option({
    long: "nodaemon",
    short: "n",
    kind: flag,
    default: false,
    help: "stay in the foreground; log to stdout unless -l",
    section: "main",
  }),
  urlPath: option({
    long: "urlpath",
    short: "u",
    aliases: ["url"],
    kind: text((value, name) => {
      if (!value.startsWith("/")) {
        throw usageError(
          `${name} must start with '/', got ${JSON.stringify(value)}`,
        );
      }
    }),
    default: "/",
    arg: "PATH",
    help: "URL path prefix, must start with /",
    section: "main",
  }),
  port: option({
    long: "port",
    short: "p",
    kind: port,
    default: 8080,
    arg: "PORT",
    help: "HTTP port for web clients",
    note: "0: any",
    section: "main",
  }),
  logFile: optional({
    long: "logfile",
    short: "l",
    kind: text(),
    arg: "FILE",
    help: "append the log to FILE",
    section: "main",
  }),
  logLevel: option({
    long: "log-level",
    kind: choice("debug", "info", "warning", "error"),
    default: "info" as const,
    arg: "LEVEL",
    help:
      "least severe records logged: info logs every connection, instruction and event, as the original; warning only refusals and problems",
    section: "main",
  }),
  cert: optional({
    long: "cert",
    short: "c",
    kind: text(),
    arg: "FILE",
    help: "TLS certificate (PEM); needs -k",
    section: "main",
  }),
  privKey: optional({
    long: "privkey",
    short: "k",
    kind: text(),
    arg: "FILE",
    help: "TLS private key (PEM); needs -c",
    section: "main",
  }),
  fifo: optional({
    long: "fifo",
    short: "F",
    kind: text(),
    arg: "FILE",
    help: "read instructions from FILE, a FIFO (created if missing)",
    section: "main",
  }),
  fifoBlockTimeout: option({
    long: "fifo-block-timeout",
    kind: seconds(0.01, 3600),
    default: 5,
    arg: "SECONDS",
    help:
      "time for a <<TAG block on the FIFO to end; past it the block is refused and its lines are read as lines",
    section: "main",
  }),
  controlPort: optional({
    long: "controlport",
    short: "P",
    kind: port,
    arg: "PORT",
    help: "read instructions on this TCP port (TLS with -c/-k)",
    section: "main",
  }),
  user: optional({
    long: "user",
    short: "U",
    kind: text(),
    arg: "USER",
    help: "run as USER (after reading config and certificate)",
    section: "main",
  }),
  config: optional({
    long: "config",
    short: "C",
    kind: text(),
    arg: "FILE",
    help:
      "read options from FILE, one per line; # comments; the command line wins",
    section: "main",
  }),
  allowCommands: option({
    long: "allowcommands",
    short: "a",
    kind: flag,
    default: false,
    help: "accept status/halt on the control port and HTTP",
    section: "main",
  }),
  bind: option({
    long: "bind",
    kind: text((value, name) => {
      if (value === "") throw usageError(`${name} needs an address`);
    }),
    default: "0.0.0.0",
    arg: "ADDRESS",
    help: "listen on this address only",
    note: ": all",
    section: "main",
  }),
  maxLine: option({
    long: "max-line",
    kind: integer(16, 1 << 24, true),
    default: 65536,
    arg: "N",
    help:
      "longest instruction line or request target, in characters; longer ones are refused and logged",
    section: "main",
  }),
  maxClientBuffer: option({
    long: "max-client-buffer",
    kind: integer(65536, 1 << 30, true),
    default: 1 << 20,
    arg: "N",
    help:
      "bytes queued for one client past which it must keep reading: taking nothing for 1 s, or staying past it for 10 s, drops it as a slow consumer",
    note: "at least 65536",
    section: "main",
  }),
  maxBacklog: option({
    long: "max-backlog",
    kind: integer(0, 2 ** 40, true),
    default: 16 << 20,
    arg: "N",
    help:
      "bytes queued for all clients together past which publishers are made to wait",
    note: "0: never",
    section: "main",
  }),
  keepAlive: option({
    long: "keepalive",
    kind: seconds(0.01, 86400),
    default: 15,
    arg: "SECONDS",
    help: "keep-alive comment after this much silence",
    section: "main",
  }),
  history: option({
    long: "history",
    kind: integer(0, 1_000_000),
    default: 1000,
    arg: "N",
    help: "events kept per channel for Last-Event-ID replay",
    note: "0: no history and no ids",
    section: "main",
  }),
  historyAge: option({
    long: "history-age",
    kind: seconds(0.01, 31_536_000),
    default: 3600,
    arg: "SECONDS",
    help: "how long events are kept",
    section: "main",
  }),
  historyBytes: option({
    long: "history-bytes",
    kind: integer(0, 2 ** 40, true),
    default: 64 << 20,
    arg: "N",
    help:
      "bytes of history kept for all channels together (without --redis); past it the oldest events go first",
    note: "0: no limit",
    section: "main",
  }),
  retry: optional({
    long: "retry",
    kind: integer(0, 86_400_000),
    arg: "MS",
    help: "reconnection delay sent to clients (retry:)",
    section: "main",
  }),
  presence: option({
    long: "presence",
    kind: flag,
    default: false,
    help:
      "tell subscribers how many subscribe to each of their channels (event: sse-presence), at most once a second per channel",
    section: "main",
  }),
  maxBody: option({
    long: "max-body",
    kind: integer(1024, 1 << 30, true),
    default: 1 << 20,
    arg: "N",
    help: "largest POST body (bytes) and multi-line block (characters)",
    section: "main",
  }),
  noGetPublish: option({
    long: "no-get-publish",
    kind: flag,
    default: false,
    help: "refuse publishing by GET query (use POST)",
    section: "main",
  }),
  httpEngine: optional({
    long: "http-engine",
    kind: choice("serve", "lean"),
    arg: "ENGINE",
    help:
      "lean (HTTP/1.1, far less memory and CPU per stream, every request bound; HTTPS too) or serve (Deno.serve: TLS and HTTP/2)",
    note: "default: lean, serve with -c/-k",
    section: "main",
  }),
  headTimeout: option({
    long: "head-timeout",
    kind: seconds(0.01, 3600),
    default: 10,
    arg: "SECONDS",
    help:
      "lean engine: time for a request head to arrive, then 408; idle kept-alive connections close after it",
    section: "main",
  }),
  bodyTimeout: option({
    long: "body-timeout",
    kind: seconds(0.01, 3600),
    default: 30,
    arg: "SECONDS",
    help:
      "time for a request body to arrive, then 408 and the connection closed",
    section: "main",
  }),
  adminPort: optional({
    long: "admin-port",
    kind: port,
    arg: "PORT",
    help:
      "serve /status (JSON), /metrics (Prometheus) and a live dashboard at / on this port",
    note: "default: off",
    section: "main",
  }),
  adminBind: option({
    long: "admin-bind",
    kind: text(),
    default: "127.0.0.1",
    arg: "ADDRESS",
    help: "address of the admin port",
    section: "main",
  }),
  ...SECURITY_OPTIONS,
  controlBind: optional({
    long: "control-bind",
    kind: text(),
    arg: "ADDRESS",
    help: "address of the control port",
    note: "default: --bind",
    section: "security",
  }),
  maxClients: option({
    long: "max-clients",
    kind: integer(1, 10_000_000),
    default: 100_000,
    arg: "N",
    help: "subscribers in all; then 503",
    section: "limits",
  }),
  maxClientsPerIp: option({
    long: "max-clients-per-ip",
    kind: integer(0, 10_000_000),
    default: 0,
    arg: "N",
    help: "subscribers per address",
    note: ": no limit",
    section: "limits",
  }),
  maxChannels: option({
    long: "max-channels",
    kind: integer(1, 100_000),
    default: 100,
    arg: "N",
    help: "channels per subscription or publish",
    section: "limits",
  }),
  maxNameLength: option({
    long: "max-name-length",
    kind: integer(1, 1 << 20),
    default: 256,
    arg: "N",
    help: "characters in a channel name or event type",
    section: "limits",
  }),
  maxControllers: option({
    long: "max-controllers",
    kind: integer(1, 1_000_000),
    default: 100,
    arg: "N",
    help: "control-port connections at once",
    section: "limits",
  }),
  controlIdleTimeout: option({
    long: "control-idle-timeout",
    kind: seconds(0, 31_536_000),
    default: 3600,
    arg: "SECONDS",
    help: "close silent control connections",
    note: "0: never",
    section: "limits",
  }),
  publishRate: option({
    long: "publish-rate",
    kind: integer(0, 100_000_000),
    default: 0,
    arg: "N",
    help: "events per second per control connection or HTTP address; then 429",
    note: ": no limit",
    section: "limits",
  }),
  redis: optional({
    long: "redis",
    kind: text((value, name) => {
      if (!/^rediss?:\/\/[^\s]+$/.test(value)) {
        throw usageError(
          `${name} must be a redis:// or rediss:// URL, got ${
            JSON.stringify(value)
          }`,
        );
      }
    }),
    arg: "URL",
    help:
      "share channels, ids and history with other instances through Redis (redis://HOST:PORT/DB, rediss:// for TLS)",
    section: "scale-out",
  }),
  redisTimeout: option({
    long: "redis-timeout",
    kind: seconds(0.01, 3600),
    default: 2,
    arg: "SECONDS",
    help:
      'time for Redis to answer; past it a publish gets 503 and a replay sse-gap "unavailable"',
    section: "scale-out",
  }),
  redisStartTimeout: option({
    long: "redis-start-timeout",
    kind: seconds(0, 3600),
    default: 10,
    arg: "SECONDS",
    help:
      "time to reach Redis at start before the ports open; past it the server exits (69)",
    section: "scale-out",
  }),
  redisPasswordFile: optional({
    long: "redis-password-file",
    kind: text(),
    arg: "FILE",
    help: "the Redis password, if not in the URL",
    section: "scale-out",
  }),
} as const;

/** The name of an option in the table. */
export type OptionName = keyof typeof OPTION_TABLE;

/** The value an option spec gives: `T`, or `T | undefined` without a default. */
export type ValueOf<S> = S extends OptionSpec<infer T, infer D>
  ? (D extends true ? T : T | undefined)
  : never;

/** Every option's value, as the table declares it. */
export type OptionValues = {
  readonly [K in OptionName]: ValueOf<typeof OPTION_TABLE[K]>;
};
