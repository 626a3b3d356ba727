/**
 * What a request names: its `Host` header checked against the URI syntax,
 * and its target split into path and query without any URL normalisation.
 *
 * Why not `new URL(request.url)`: both HTTP engines build `request.url` as
 * `http://` + Host + target, so a Host such as `x/sse/secret#` moved the
 * path, and the WHATWG parser resolves `..`, `%2e%2e` and `\` in paths,
 * so `/public/..%2fsecret`-like targets could reach a channel that a
 * reverse proxy authorising by path never saw named. Here the Host header
 * must be a valid `host[:port]` (RFC 9110 §7.2, RFC 3986 §3.2.2), and the
 * path is the target's own bytes up to `?`: dot segments, backslashes and
 * fragments are refused, never resolved.
 *
 * @module
 */

import { RequestError } from "../errors.ts";

/** A request target or Host header that is refused with 400. */
export class BadTargetError extends RequestError {
  override name = "BadTargetError";
  constructor(message: string) {
    super(400, message);
  }
}

// IP-literal (IPv6 or IPvFuture, loosely) or reg-name (unreserved,
// pct-encoded, sub-delims), then an optional port of digits.
const HOST =
  /^(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=%]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::([0-9]*))?$/;

/**
 * Whether `value` is a valid `Host` header: `host[:port]`, the port at most
 * 65535. No `/`, `?`, `#`, `@`, `\` or white space can pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(isValidHost("example.com:8080"));
 * assert.ok(!isValidHost("x/sse/secret#"));
 * assert.ok(!isValidHost("x:99999"));
 * ```
 */
export function isValidHost(value: string): boolean {
  const match = HOST.exec(value);
  if (match === null) return false;
  const port = match[1];
  return port === undefined || port.length <= 5 && Number(port) <= 65535;
}

/** A request target split into its raw path and raw query. */
export interface RequestTarget {
  /** The path as sent, still %-encoded, starting with `/`. */
  readonly path: string;
  /** What follows the first `?`, without it; empty when there is none. */
  readonly query: string;
}

// Visible ASCII only: raw bytes above 0x7f, controls and spaces are not
// allowed in a request target (RFC 9112 §3.2; RFC 3986 §2).
const TARGET_CHARS = /^[\x21-\x7e]*$/;

/**
 * Splits an origin-form request target (`/path?query`) into path and query,
 * refusing with {@linkcode BadTargetError} what a strict reading of
 * RFC 9112 would and what could make a proxy and this server disagree on
 * the path: non-ASCII, a fragment, a backslash, a dot segment (`.` or `..`,
 * %-encoded or not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseTarget("/news/sport?lastEventId=7"), {
 *   path: "/news/sport",
 *   query: "lastEventId=7",
 * });
 * ```
 */
export function parseTarget(target: string): RequestTarget {
  if (!target.startsWith("/")) {
    throw new BadTargetError("the request target must start with /");
  }
  if (!TARGET_CHARS.test(target)) {
    throw new BadTargetError(
      "the request target holds a character that must be %-encoded",
    );
  }
  if (target.includes("#")) {
    throw new BadTargetError("the request target holds a fragment (#)");
  }
  const mark = target.indexOf("?");
  const path = mark < 0 ? target : target.slice(0, mark);
  if (path.includes("\\")) {
    throw new BadTargetError("the request path holds a backslash");
  }
  for (const segment of path.split("/")) {
    if (/^(?:\.|%2e){1,2}$/i.test(segment)) {
      throw new BadTargetError("the request path holds a dot segment");
    }
  }
  return { path, query: mark < 0 ? "" : target.slice(mark + 1) };
}

/**
 * The target of a request whose URL an HTTP engine built as
 * `scheme://authority` + target: what follows the authority. Only sound
 * once the Host header has passed {@linkcode isValidHost}, since a valid
 * authority holds no `/`.
 */
export function targetOf(url: string): string {
  const scheme = url.indexOf("://");
  const slash = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  return slash < 0 ? "/" : url.slice(slash);
}
