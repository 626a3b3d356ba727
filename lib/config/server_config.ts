/**
 * What a server needs to start: the options as the option table declares
 * them (same names, same units), and the secrets `main.ts` reads before any
 * privilege is dropped. No option is copied or renamed on the way.
 *
 * @module
 */

import type { AuthConfig } from "../auth/auth.ts";
import type { Options } from "./options.ts";
import type { TlsFiles } from "./tls.ts";

/** Everything a server needs to start; no file is read after start-up but the FIFO. */
export interface ServerConfig extends Options {
  /** The certificate and key, read from `cert` and `privKey`. */
  readonly tls?: TlsFiles;
  /** Credentials for publishing and subscribing; none required if absent. */
  readonly auth?: AuthConfig;
  /** The Redis password, read from `redisPasswordFile`. */
  readonly redisPassword?: string;
  /** Mode of a FIFO the server creates (default 0o666, as the original). */
  readonly fifoMode?: number;
  /** How long `halt` lets streams drain before cutting them (default 2 s). */
  readonly haltGraceMs?: number;
}
