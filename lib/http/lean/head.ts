/**
 * The lean engine's request head: parsing it strictly, so that nothing a
 * client sends reaches `new Request` (which throws on some methods and
 * URLs) or the handler in a shape `Deno.serve` would have refused.
 *
 * Strict where RFC 9112 allows a server to be: HTTP/1.0 or 1.1 only, an
 * origin-form target of visible ASCII, token header names, field values
 * without controls, exactly one valid `Host` (required on HTTP/1.1), no
 * `Transfer-Encoding` on HTTP/1.0 nor beside `Content-Length`, and only the
 * methods the handler serves (else 405 with `Allow`).
 *
 * @module
 */

import { RequestError } from "../../errors.ts";
import { BadTargetError, isValidHost, parseTarget } from "../target.ts";
import type { HeaderLookup } from "../exchange.ts";

/** A request head refused: the status to answer with and why. */
export class HeadError extends RequestError {
  override name = "HeadError";
  constructor(
    status: number,
    message: string,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(status, message, { headers });
  }
}

/** The methods the HTTP handler serves; others get 405. */
export const SERVED_METHODS: readonly string[] = [
  "GET",
  "HEAD",
  "POST",
  "OPTIONS",
];

/** A request head as the lean engine read it. */
export interface ParsedHead {
  readonly method: string;
  /** `1.0` or `1.1`. */
  readonly version: string;
  readonly target: string;
  readonly headers: FieldMap;
}

/**
 * Header fields by case-insensitive name, repeated ones joined with ", "
 * as `Headers` joins them. Not a `Headers`: the parser has checked every
 * name and value already, and `Headers` checks them again on each append.
 */
export class FieldMap implements HeaderLookup {
  readonly #fields = new Map<string, string>();

  /** Adds a field; a repeated name gets the value appended. */
  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const before = this.#fields.get(key);
    this.#fields.set(key, before === undefined ? value : `${before}, ${value}`);
  }

  get(name: string): string | null {
    return this.#fields.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase());
  }
}

/** Limits on a request head. */
export interface HeadLimits {
  /** Longest request target, in bytes (else 414). */
  readonly maxTargetBytes: number;
  /** Most bytes of header lines after the request line (else 431). */
  readonly maxHeaderBytes: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, space, tab and obs-text; no CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_LINE = /^([^ ]+) ([^ ]+) HTTP\/(1\.[01])$/;

/** Most header lines in a head or trailer section. */
export const MAX_FIELD_LINES = 100;

/**
 * Appends one `name: value` line to `headers`, refusing malformed ones
 * (for head and trailer lines alike).
 */
export function parseFieldLine(line: string, headers: FieldMap): void {
  const colon = line.indexOf(":");
  const name = colon > 0 ? line.slice(0, colon) : "";
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
    throw new HeadError(400, "malformed header line");
  }
  headers.append(name, value);
}

/**
 * Parses a request head (without its blank line), decoded byte for byte
 * (latin1), throwing {@linkcode HeadError} with the status to answer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const head = parseHead("GET /news HTTP/1.1\r\nHost: example.com", {
 *   maxTargetBytes: 65536,
 *   maxHeaderBytes: 16384,
 * });
 * assert.equal(head.target, "/news");
 * assert.throws(() =>
 *   parseHead("TRACE / HTTP/1.1\r\nHost: x", {
 *     maxTargetBytes: 65536,
 *     maxHeaderBytes: 16384,
 *   })
 * );
 * ```
 */
export function parseHead(text: string, limits: HeadLimits): ParsedHead {
  const lineEnd = text.indexOf("\r\n");
  const first = lineEnd < 0 ? text : text.slice(0, lineEnd);
  const requestLine = REQUEST_LINE.exec(first);
  if (!requestLine || !TOKEN.test(requestLine[1])) {
    throw new HeadError(400, "malformed request line");
  }
  const [, method, target, version] = requestLine;
  // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
  if (!SERVED_METHODS.includes(method)) {
    throw new HeadError(405, "method not allowed", {
      Allow: SERVED_METHODS.join(", "),
    });
  }
  if (target.length > limits.maxTargetBytes) {
    throw new HeadError(
      414,
      `request URL too long (${target.length} characters, limit ${limits.maxTargetBytes})`,
    );
  }
  // The handler reads the target from a URL, which would resolve dot
  // segments and backslashes: they are refused here, before it is built.
  try {
    parseTarget(target);
  } catch (error) {
    if (error instanceof BadTargetError) {
      throw new HeadError(400, error.message);
    }
    throw error;
  }
  const fields = lineEnd < 0 ? "" : text.slice(lineEnd + 2);
  if (fields.length > limits.maxHeaderBytes) {
    throw new HeadError(
      431,
      `request headers larger than ${limits.maxHeaderBytes} bytes`,
    );
  }
  const headers = new FieldMap();
  let hosts = 0;
  let lines = 0;
  for (const line of fields === "" ? [] : fields.split("\r\n")) {
    if (++lines > MAX_FIELD_LINES) {
      throw new HeadError(431, `more than ${MAX_FIELD_LINES} header lines`);
    }
    parseFieldLine(line, headers);
    if (/^host:/i.test(line)) hosts++;
  }
  const host = headers.get("host");
  if (hosts > 1) throw new HeadError(400, "more than one Host header");
  if (host === null ? version === "1.1" : !isValidHost(host)) {
    throw new HeadError(400, "missing or malformed Host header");
  }
  const encoding = headers.get("transfer-encoding");
  if (encoding !== null) {
    if (version === "1.0") {
      throw new HeadError(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (encoding.toLowerCase() !== "chunked") {
      throw new HeadError(
        400,
        `unsupported Transfer-Encoding ${JSON.stringify(encoding)}`,
      );
    }
    // Both would let a proxy and this server disagree on where bodies end.
    if (headers.has("content-length")) {
      throw new HeadError(400, "both Content-Length and Transfer-Encoding");
    }
  }
  const length = headers.get("content-length");
  if (length !== null && !/^\d{1,15}$/.test(length)) {
    throw new HeadError(400, "malformed Content-Length");
  }
  return { method, target, version, headers };
}

/** Whether a comma-separated header value holds `token` (any case). */
export function hasToken(value: string | null, token: string): boolean {
  return value !== null &&
    value.split(",").some((part) => part.trim().toLowerCase() === token);
}
