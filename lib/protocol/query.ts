/**
 * The publishing query of the HTTP port: `?type1=data1&type2=data2`, where
 * each `name=value` parameter is one event and a parameter without `=` is a
 * command. Parameters are separated by `&` or `;`.
 *
 * @module
 */

import { InstructionError, validateName } from "./instruction.ts";

/** An item of a query: an event to publish (without its channels) or a command. */
export type QueryItem =
  | { readonly kind: "event"; readonly type: string; readonly data: string }
  | { readonly kind: "command"; readonly command: string };

/**
 * Decodes one query component: `+` is a space (as browsers and HTML forms
 * encode it) and `%XX` are UTF-8 bytes.
 */
export function decodeComponent(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    // Not echoed: the parameter may carry a token (access_token=…).
    throw new InstructionError(
      `malformed %-escape in a query parameter of ${raw.length} characters`,
    );
  }
}

/**
 * Parses the query string (without the `?`) into events and commands, in
 * order. Empty parameters are skipped. Throws {@linkcode InstructionError} on
 * a bad escape or an invalid event type, so a caller can refuse the whole
 * request before publishing any of it.
 *
 * @example
 * ```ts
 * parseQuery("q1=go;q2=end&status");
 * // [{ kind: "event", type: "q1", data: "go" },
 * //  { kind: "event", type: "q2", data: "end" },
 * //  { kind: "command", command: "status" }]
 * ```
 */
export function parseQuery(query: string): QueryItem[] {
  const items: QueryItem[] = [];
  for (const part of query.split(/[&;]/)) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq < 0) {
      items.push({ kind: "command", command: decodeComponent(part) });
      continue;
    }
    const type = decodeComponent(part.slice(0, eq));
    validateName("event type", type);
    items.push({
      kind: "event",
      type,
      data: decodeComponent(part.slice(eq + 1)),
    });
  }
  return items;
}
