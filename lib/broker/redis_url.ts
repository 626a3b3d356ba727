/**
 * Redis URLs as logs and reports show them. Apart from the Redis broker, so
 * that a server without `--redis` never loads the Redis client.
 *
 * @module
 */

/**
 * A Redis URL without its password, for logs and reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   redactRedisUrl("redis://user:secret@host:6379/0"),
 *   "redis://***@host:6379/0",
 * );
 * ```
 */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
