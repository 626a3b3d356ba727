/**
 * The program's version, from `deno.json`, so `/status` and `--help` say
 * which build is running.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** The version of sse-server. */
export const VERSION: string = config.version;
