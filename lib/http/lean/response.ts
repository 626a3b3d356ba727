/**
 * The lean engine's responses: a `Response`'s status and headers turned
 * into an HTTP/1.1 head, and the short plain-text answers the engine gives
 * itself (to a refused head). Reason phrases come from `node:http`.
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import { concatBytes } from "../../core/bytes.ts";

const encoder = new TextEncoder();

/**
 * A response head; with `length` a Content-Length (none for streams), and
 * `Connection` as decided by the engine (the handler's own is not passed on).
 * Names are sent in lower case, as `Deno.serve` sends them; the values are
 * the handler's own text, written as they are.
 */
export function encodeHead(
  status: number,
  headers: Readonly<Record<string, string>>,
  keepAlive: boolean,
  length?: number,
): string {
  let head = statusLine(status);
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (lower === "connection" || lower === "content-length") continue;
    head += `${lower}: ${headers[name]}\r\n`;
  }
  if (length !== undefined) head += `content-length: ${length}\r\n`;
  // Said either way, since an HTTP/1.0 client keeps it only when told so.
  return head + `connection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
}

/**
 * A whole plain-text answer that closes the connection: for a request the
 * engine refuses before the handler sees it.
 */
export function simpleResponse(
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): Uint8Array {
  const body = encoder.encode(message + "\n");
  let head = statusLine(status) +
    "content-type: text/plain; charset=utf-8\r\n";
  for (const [name, value] of Object.entries(headers)) {
    head += `${name}: ${value}\r\n`;
  }
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  return concatBytes([encoder.encode(head), body]);
}

function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n`;
}
