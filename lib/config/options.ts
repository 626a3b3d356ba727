/**
 * The command line and the config file, with the original's options and
 * exit codes, parsed by `node:util`'s `parseArgs`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";

export { USAGE } from "./usage.ts";

/** Everything the options decide, with defaults filled in. */
export interface Options {
  readonly help: boolean;
  readonly nodaemon: boolean;
  /** URL path prefix, starting with `/`. */
  readonly urlPath: string;
  readonly port: number;
  readonly bind: string;
  readonly logFile?: string;
  readonly cert?: string;
  readonly privKey?: string;
  readonly fifo?: string;
  readonly controlPort?: number;
  readonly user?: string;
  readonly allowCommands: boolean;
  /** Longest instruction line and request URL, in characters. */
  readonly maxLine: number;
  /** Most bytes queued for one client before it is dropped. */
  readonly maxClientBuffer: number;
  /** Bytes owed to all clients past which publishers wait; 0: no limit. */
  readonly maxBacklog: number;
  /** Seconds without traffic before a keep-alive comment. */
  readonly keepAlive: number;
  /** Events kept per channel for replay; 0 turns ids and replay off. */
  readonly history: number;
  /** Seconds an event is kept for replay. */
  readonly historyAge: number;
  /** Reconnection delay announced to clients (`retry:`), in ms. */
  readonly retry?: number;
  /** Largest POST body and FIFO/control-port block, in bytes. */
  readonly maxBody: number;
  /** False with `--no-get-publish`. */
  readonly getPublish: boolean;
  /** The HTTP engine: `lean` (default without TLS) or `serve` (with TLS). */
  readonly httpEngine: "serve" | "lean";
  /** Seconds the lean engine waits for a request head. */
  readonly headTimeout: number;
  /** Seconds a request body may take to arrive, on both engines. */
  readonly bodyTimeout: number;
  /** Port of the admin listener; none if absent. */
  readonly adminPort?: number;
  /** Address of the admin listener. */
  readonly adminBind: string;
  /** Address of the control port (default: `bind`). */
  readonly controlBind?: string;
  /** Shared publish secret, as given on the command line. */
  readonly publishToken?: string;
  /** File holding the publish secret (wins over the other sources). */
  readonly publishTokenFile?: string;
  /** HS256 secret for JWTs. */
  readonly jwtSecret?: string;
  /** File with the PEM public key for RS256/ES256 JWTs. */
  readonly jwtPublicKey?: string;
  /** Subscriptions need a JWT. */
  readonly subscribeAuth: boolean;
  /** Cookie that may carry a subscriber's JWT. */
  readonly authCookie?: string;
  /** Origins allowed by CORS; `["*"]` is any. */
  readonly corsOrigins: readonly string[];
  /** Most subscribers in all. */
  readonly maxClients: number;
  /** Most subscribers per client address; 0: no limit. */
  readonly maxClientsPerIp: number;
  /** Most channels in one subscription or publish. */
  readonly maxChannels: number;
  /** Longest channel name or event type. */
  readonly maxNameLength: number;
  /** Most control-port connections at once. */
  readonly maxControllers: number;
  /** Seconds after which a silent control connection is closed; 0: never. */
  readonly controlIdleTimeout: number;
  /** Events per second per control connection or HTTP client address; 0: no limit. */
  readonly publishRate: number;
  /** Redis URL for scale-out; none if absent. */
  readonly redis?: string;
  /** File with the Redis password. */
  readonly redisPasswordFile?: string;
}

/** Defaults of the options that have one. */
export const DEFAULTS = {
  urlPath: "/",
  port: 8080,
  bind: "0.0.0.0",
  maxLine: 65536,
  maxClientBuffer: 1048576,
  maxBacklog: 16 * 1048576,
  keepAlive: 15,
  history: 1000,
  historyAge: 3600,
  maxBody: 1048576,
  adminBind: "127.0.0.1",
  maxClients: 100_000,
  maxClientsPerIp: 0,
  maxChannels: 100,
  maxNameLength: 256,
  maxControllers: 100,
  controlIdleTimeout: 3600,
  publishRate: 0,
} as const;

const SPEC = {
  help: { type: "boolean", short: "h" },
  nodaemon: { type: "boolean", short: "n" },
  urlpath: { type: "string", short: "u" },
  url: { type: "string" },
  port: { type: "string", short: "p" },
  logfile: { type: "string", short: "l" },
  cert: { type: "string", short: "c" },
  privkey: { type: "string", short: "k" },
  fifo: { type: "string", short: "F" },
  controlport: { type: "string", short: "P" },
  user: { type: "string", short: "U" },
  config: { type: "string", short: "C" },
  allowcommands: { type: "boolean", short: "a" },
  bind: { type: "string" },
  "max-line": { type: "string" },
  "max-client-buffer": { type: "string" },
  "max-backlog": { type: "string" },
  keepalive: { type: "string" },
  history: { type: "string" },
  "history-age": { type: "string" },
  retry: { type: "string" },
  "max-body": { type: "string" },
  "no-get-publish": { type: "boolean" },
  "http-engine": { type: "string" },
  "head-timeout": { type: "string" },
  "body-timeout": { type: "string" },
  "admin-port": { type: "string" },
  "admin-bind": { type: "string" },
  "control-bind": { type: "string" },
  "publish-token": { type: "string" },
  "publish-token-file": { type: "string" },
  "jwt-secret": { type: "string" },
  "jwt-public-key": { type: "string" },
  "subscribe-auth": { type: "boolean" },
  "auth-cookie": { type: "string" },
  "cors-origin": { type: "string" },
  "max-clients": { type: "string" },
  "max-clients-per-ip": { type: "string" },
  "max-channels": { type: "string" },
  "max-name-length": { type: "string" },
  "max-controllers": { type: "string" },
  "control-idle-timeout": { type: "string" },
  "publish-rate": { type: "string" },
  redis: { type: "string" },
  "redis-password-file": { type: "string" },
} as const;

type Parsed = ReturnType<typeof parseArgs<{ options: typeof SPEC }>>["values"];

/**
 * Parses command-line arguments, reading the config file named by `-C`
 * first. Throws {@linkcode StartupError}: exit 64 for a bad argument, 65 for
 * bad config-file content, 66 for a config file that cannot be read.
 *
 * @example
 * ```ts
 * const options = await parseOptions(["-n", "-p", "9000", "-F", "sse.fifo"]);
 * options.port; // 9000
 * ```
 */
export async function parseOptions(args: readonly string[]): Promise<Options> {
  const cli = parseLine(args, ExitCode.usage, "");
  if (cli.help) return resolve({ help: true });
  let merged: Parsed = cli;
  if (cli.config !== undefined) {
    const fromFile = await readConfigFile(cli.config);
    // Command line wins: its values are laid over the file's.
    merged = { ...fromFile, ...definedOnly(cli) };
  }
  return resolve(merged);
}

function parseLine(
  args: readonly string[],
  exitCode: ExitCode,
  where: string,
): Parsed {
  try {
    return parseArgs({
      args: [...args],
      options: SPEC,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new StartupError(`${where}${errorMessage(error)}`, exitCode, {
      cause: error,
    });
  }
}

async function readConfigFile(path: string): Promise<Parsed> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new StartupError(
      `cannot read config file ${path}: ${errorMessage(error)}`,
      ExitCode.noInput,
      { cause: error },
    );
  }
  let values: Parsed = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${path}:${i + 1}: `;
    if (!line.startsWith("-")) {
      throw new StartupError(
        `${where}expected an option such as "--port 8080", got ${
          JSON.stringify(line)
        }`,
        ExitCode.dataErr,
      );
    }
    // The value is the rest of the line, so file names may hold spaces.
    const match = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
    const tokens = match[2] === undefined ? [match[1]] : [match[1], match[2]];
    const parsed = parseLine(tokens, ExitCode.dataErr, where);
    if (parsed.config !== undefined) {
      throw new StartupError(
        `${where}-C cannot be used in a config file`,
        ExitCode.dataErr,
      );
    }
    try {
      // Check the line's value alone; --cert/--privkey pairing is checked
      // once the command line is merged in.
      resolve({ ...parsed, cert: undefined, privkey: undefined });
    } catch (error) {
      throw new StartupError(
        `${where}${errorMessage(error)}`,
        ExitCode.dataErr,
      );
    }
    values = { ...values, ...definedOnly(parsed) };
  }
  return values;
}

function definedOnly(values: Parsed): Parsed {
  return Object.fromEntries(
    Object.entries(values).filter(([, v]) => v !== undefined),
  ) as Parsed;
}

function resolve(values: Parsed): Options {
  const urlPath = values.urlpath ?? values.url ?? DEFAULTS.urlPath;
  if (!urlPath.startsWith("/")) {
    throw usage(
      `--urlpath must start with '/', got ${JSON.stringify(urlPath)}`,
    );
  }
  if ((values.cert === undefined) !== (values.privkey === undefined)) {
    throw usage(
      values.cert === undefined
        ? "--privkey needs --cert (-c) as well"
        : "--cert needs --privkey (-k) as well",
    );
  }
  const bind = values.bind ?? DEFAULTS.bind;
  if (bind === "") throw usage("--bind needs an address");
  return {
    help: values.help ?? false,
    nodaemon: values.nodaemon ?? false,
    urlPath,
    port: integer("--port", values.port, DEFAULTS.port, 0, 65535),
    bind,
    logFile: values.logfile,
    cert: values.cert,
    privKey: values.privkey,
    fifo: values.fifo,
    controlPort: values.controlport === undefined
      ? undefined
      : integer("--controlport", values.controlport, 0, 0, 65535),
    user: values.user,
    allowCommands: values.allowcommands ?? false,
    maxLine: integer(
      "--max-line",
      values["max-line"],
      DEFAULTS.maxLine,
      16,
      1 << 24,
    ),
    maxClientBuffer: integer(
      "--max-client-buffer",
      values["max-client-buffer"],
      DEFAULTS.maxClientBuffer,
      65536,
      1 << 30,
    ),
    maxBacklog: integer(
      "--max-backlog",
      values["max-backlog"],
      DEFAULTS.maxBacklog,
      0,
      2 ** 40,
    ),
    keepAlive: number(
      "--keepalive",
      values.keepalive,
      DEFAULTS.keepAlive,
      0.01,
      86400,
    ),
    history: integer(
      "--history",
      values.history,
      DEFAULTS.history,
      0,
      1_000_000,
    ),
    historyAge: number(
      "--history-age",
      values["history-age"],
      DEFAULTS.historyAge,
      0.01,
      31_536_000,
    ),
    retry: values.retry === undefined
      ? undefined
      : integer("--retry", values.retry, 0, 0, 86_400_000),
    maxBody: integer(
      "--max-body",
      values["max-body"],
      DEFAULTS.maxBody,
      1024,
      1 << 30,
    ),
    getPublish: !(values["no-get-publish"] ?? false),
    httpEngine: httpEngine(values["http-engine"], values.cert !== undefined),
    headTimeout: number(
      "--head-timeout",
      values["head-timeout"],
      10,
      0.01,
      3600,
    ),
    bodyTimeout: number(
      "--body-timeout",
      values["body-timeout"],
      30,
      0.01,
      3600,
    ),
    adminPort: values["admin-port"] === undefined
      ? undefined
      : integer("--admin-port", values["admin-port"], 0, 0, 65535),
    adminBind: values["admin-bind"] ?? DEFAULTS.adminBind,
    controlBind: values["control-bind"],
    publishToken: values["publish-token"],
    publishTokenFile: values["publish-token-file"],
    jwtSecret: values["jwt-secret"],
    jwtPublicKey: values["jwt-public-key"],
    subscribeAuth: values["subscribe-auth"] ?? false,
    authCookie: values["auth-cookie"],
    corsOrigins: (values["cors-origin"] ?? "*").split(",").map((o) => o.trim())
      .filter((o) => o !== ""),
    maxClients: integer(
      "--max-clients",
      values["max-clients"],
      DEFAULTS.maxClients,
      1,
      10_000_000,
    ),
    maxClientsPerIp: integer(
      "--max-clients-per-ip",
      values["max-clients-per-ip"],
      DEFAULTS.maxClientsPerIp,
      0,
      10_000_000,
    ),
    maxChannels: integer(
      "--max-channels",
      values["max-channels"],
      DEFAULTS.maxChannels,
      1,
      100_000,
    ),
    maxNameLength: integer(
      "--max-name-length",
      values["max-name-length"],
      DEFAULTS.maxNameLength,
      1,
      1 << 20,
    ),
    maxControllers: integer(
      "--max-controllers",
      values["max-controllers"],
      DEFAULTS.maxControllers,
      1,
      1_000_000,
    ),
    controlIdleTimeout: number(
      "--control-idle-timeout",
      values["control-idle-timeout"],
      DEFAULTS.controlIdleTimeout,
      0,
      31_536_000,
    ),
    redis: redisUrl(values.redis),
    redisPasswordFile: values["redis-password-file"],
    publishRate: integer(
      "--publish-rate",
      values["publish-rate"],
      DEFAULTS.publishRate,
      0,
      100_000_000,
    ),
  };
}

function integer(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw usage(
      `${name} must be a whole number from ${min} to ${max}, got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return Number(raw);
}

function number(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max) {
    throw usage(
      `${name} must be a number from ${min} to ${max}, got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return value;
}

function usage(message: string): StartupError {
  return new StartupError(message, ExitCode.usage);
}

function redisUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^rediss?:\/\/[^\s]+$/.test(raw)) {
    throw usage(
      `--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

function httpEngine(raw: string | undefined, tls: boolean): "serve" | "lean" {
  // Plain HTTP: the lean engine (far less memory and CPU per stream). With
  // TLS, Deno.serve by default, for HTTP/2; the lean engine speaks HTTPS too
  // (HTTP/1.1 only), with every bound of the HTTP edge.
  if (raw === undefined) return tls ? "serve" : "lean";
  if (raw === "serve") return "serve";
  if (raw !== "lean") {
    throw usage(
      `--http-engine must be serve or lean, got ${JSON.stringify(raw)}`,
    );
  }
  return "lean";
}
