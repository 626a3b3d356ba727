/**
 * What a server needs to start: the configuration `main.ts` makes from the
 * options, and the limits within it.
 *
 * @module
 */

import type { AuthConfig } from "../auth/auth.ts";
import type { NameLimits } from "../protocol/limits.ts";
import type { TlsFiles } from "./tls.ts";

/** Limits of a server; see the options of the same names. */
export interface ServerLimits extends NameLimits {
  readonly maxClients: number;
  readonly maxClientsPerIp: number;
  readonly maxControllers: number;
  readonly controlIdleTimeoutMs: number;
  /** Events per second per control connection or HTTP address; 0: none. */
  readonly publishRate: number;
}

/** No limit at all: what a server has for any limit not configured. */
export const NO_LIMITS: ServerLimits = {
  maxNameLength: Number.MAX_SAFE_INTEGER,
  maxChannels: Number.MAX_SAFE_INTEGER,
  maxClients: Number.MAX_SAFE_INTEGER,
  maxClientsPerIp: 0,
  maxControllers: Number.MAX_SAFE_INTEGER,
  controlIdleTimeoutMs: 0,
  publishRate: 0,
};

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
  /** Bytes owed to all clients past which publishers wait (0: no limit). */
  readonly maxBacklog?: number;
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
  /**
   * `lean` (HTTP/1.1; the program's default without TLS) or `serve`
   * (Deno.serve: TLS, HTTP/2; used when absent).
   */
  readonly httpEngine?: "serve" | "lean";
  /** Lean engine: time for a request head to arrive (default 10 s). */
  readonly headTimeoutMs?: number;
  /** Time for a request body to arrive, both engines (default 30 s). */
  readonly bodyTimeoutMs?: number;
  /** Port of the admin listener (status, metrics, dashboard); none if absent. */
  readonly adminPort?: number;
  /** Address of the admin listener (default 127.0.0.1). */
  readonly adminBind?: string;
  /** Address of the control port (default: `bind`). */
  readonly controlBind?: string;
  /** Share channels, ids and history with other instances through Redis. */
  readonly redis?: { readonly url: string; readonly password?: string };
  /** Credentials for publishing and subscribing; none required if absent. */
  readonly auth?: AuthConfig;
  /** Cookie that may carry a subscriber's token. */
  readonly authCookie?: string;
  /** Allowed CORS origins (default `["*"]`). */
  readonly corsOrigins?: readonly string[];
  /** Limits on clients, controllers, names and publishing (defaults: none). */
  readonly limits?: Partial<ServerLimits>;
  /** How long `halt` lets streams drain before cutting them (default 2 s). */
  readonly haltGraceMs?: number;
}
