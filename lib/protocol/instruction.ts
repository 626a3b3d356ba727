/**
 * Instructions, the common language of every input, and the line syntax of
 * the FIFO and the control port: `channel/type = data`, `channel = data`
 * (type `message`), or a bare word, which is a command.
 *
 * @module
 */

import { RequestError } from "../errors.ts";
import { EARLIEST } from "../core/history.ts";

/** Publish `data` as an event of `type` on `channel`. */
export interface PublishInstruction {
  readonly kind: "publish";
  readonly channel: string;
  readonly type: string;
  readonly data: string;
  /** The event id the publisher chose (JSON lines only). */
  readonly id?: string;
}

/**
 * The header of a multi-line block: the lines that follow, up to a line that
 * is exactly `terminator`, are the data of one event.
 */
export interface BlockInstruction {
  readonly kind: "block";
  readonly channel: string;
  readonly type: string;
  readonly terminator: string;
}

/** A command such as `status` or `halt`. */
export interface CommandInstruction {
  readonly kind: "command";
  readonly command: string;
}

/** What one input line or query parameter asks the server to do. */
export type Instruction =
  | PublishInstruction
  | BlockInstruction
  | CommandInstruction;

/** The commands the server knows. */
export const COMMANDS: readonly string[] = ["status", "halt", "halt-all"];

/** A line or parameter that cannot be understood; the message names the fault. */
export class InstructionError extends RequestError {
  override name = "InstructionError";
  constructor(message: string, options?: ErrorOptions, status = 400) {
    super(status, message, options);
  }
}

/** A valid command that this source may not give (no `--allowcommands`). */
export class CommandRefusedError extends InstructionError {
  override name = "CommandRefusedError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, 403);
  }
}

// Channel names and event types are single words: no white space or control
// characters (they would be trimmed or break the line syntax), no `/` (it
// separates channel from type) and no `=` (it separates the data).
// Any white space counts, Unicode's too (\s), and the C1 controls.
// deno-lint-ignore no-control-regex
const FORBIDDEN_IN_NAME = /[\x00-\x20\x7f-\x9f/=\s]/;

/**
 * Checks a channel name or event type, throwing an {@linkcode InstructionError}
 * that says what is wrong.
 */
export function validateName(what: "channel" | "event type", name: string) {
  if (name.length === 0) throw new InstructionError(`empty ${what}`);
  const bad = FORBIDDEN_IN_NAME.exec(name);
  if (bad) {
    throw new InstructionError(
      `${what} ${JSON.stringify(name)} contains ${describeChar(bad[0])}`,
    );
  }
}

/**
 * Checks an event id a publisher chose: it is sent as an `id:` field, so a
 * line break would end it and let the rest forge fields; a NUL makes
 * browsers ignore it. Empty ids are refused too: `id:` alone resets a
 * client's last event id; and `earliest`, which a reconnecting client sends
 * to ask for the whole history.
 */
export function validateId(id: string): void {
  validateLastEventId(id);
  if (id === EARLIEST) {
    throw new InstructionError(
      `"${EARLIEST}" is reserved: it asks for the whole history`,
    );
  }
}

/** Checks a client's last event id: what an event id may be, or `earliest`. */
export function validateLastEventId(id: string): void {
  if (id === "") throw new InstructionError("empty event id");
  if (/[\r\n\0]/.test(id)) {
    throw new InstructionError(
      `event id ${
        JSON.stringify(id.slice(0, 80))
      } contains a line break or NUL`,
    );
  }
}

function describeChar(c: string): string {
  if (c === " ") return "a space";
  if (/\s/.test(c) && c.charCodeAt(0) > 0x20) {
    return `the white space U+${
      c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")
    }`;
  }
  if (c === "/" || c === "=") return `'${c}'`;
  return `the control character U+${
    c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")
  }`;
}

// The original trims with C's isspace(): ASCII white space only.
const LEADING_SPACE = /^[ \t\n\v\f\r]+/;
const TRAILING_SPACE = /[ \t\n\v\f\r]+$/;

/** Removes ASCII white space at both ends, as the original does. */
export function trimAscii(text: string): string {
  return text.replace(LEADING_SPACE, "").replace(TRAILING_SPACE, "");
}

/**
 * Parses one line of the FIFO or control port.
 *
 * Returns `null` for a blank line. White space at both ends of the line and
 * around the first `=` is ignored; the channel ends at the first `/`; data may
 * contain further `=`.
 *
 * @example
 * ```ts
 * parseInstructionLine("color/q1 = go");
 * // { kind: "publish", channel: "color", type: "q1", data: "go" }
 * parseInstructionLine("halt"); // { kind: "command", command: "halt" }
 * ```
 */
export function parseInstructionLine(line: string): Instruction | null {
  const text = trimAscii(line);
  if (text === "") return null;
  // A JSON object is a JSON line; anything else starting with "{" and holding
  // an "=" is a classic line whose channel starts with "{", as before.
  if (text.startsWith("{")) {
    const json = tryJson(text);
    if (json.ok) return jsonInstruction(json.value);
    if (!text.includes("=")) {
      throw new InstructionError(
        `a line starting with '{' must be a JSON object: ${json.error}`,
      );
    }
  }
  const eq = text.indexOf("=");
  const block = eq < 0 ? BLOCK_HEADER.exec(text) : null;
  if (block) {
    const [, channel, type = "message", terminator] = block;
    validateName("channel", channel);
    validateName("event type", type);
    return { kind: "block", channel, type, terminator };
  }
  if (eq < 0) {
    if (/[ \t\v\f]/.test(text)) {
      // Not echoed: a line without '=' may be a credential sent astray.
      throw new InstructionError(
        `no '=' in a line of ${text.length} characters (a command is a single word)`,
      );
    }
    return { kind: "command", command: text };
  }
  const target = trimAscii(text.slice(0, eq));
  const data = trimAscii(text.slice(eq + 1));
  if (target === "") throw new InstructionError("no channel before '='");
  const slash = target.indexOf("/");
  const channel = slash < 0 ? target : target.slice(0, slash);
  const type = slash < 0 ? "message" : target.slice(slash + 1);
  validateName("channel", channel);
  validateName("event type", type);
  return { kind: "publish", channel, type, data };
}

// `channel/type <<TAG`: a line with no `=` cannot be a publish in the
// original syntax, so this form changes the meaning of no valid line.
const BLOCK_HEADER = /^([^\s/]+)(?:\/(\S+))?[ \t]+<<([A-Za-z0-9_.-]+)$/;

const JSON_FIELDS = new Set(["channel", "event", "data", "id"]);

/**
 * A JSON line: `{"channel": "news", "event": "update", "data": "…", "id": "…"}`.
 * JSON's string escapes carry line breaks, spaces at either end and any
 * character; `event` defaults to `message`, `id` is optional, and `data`
 * that is not a string is sent as its JSON text.
 */
function jsonInstruction(value: unknown): PublishInstruction {
  const event = parseJsonEvent(value, true);
  return { kind: "publish", ...event, channel: event.channel! };
}

function tryJson(
  text: string,
): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** An event read from JSON, before it is given channels. */
export interface JsonEvent {
  readonly channel?: string;
  readonly type: string;
  readonly data: string;
  readonly id?: string;
}

/**
 * Validates one JSON event object (`{"event","data","id"}`, plus `channel`
 * where the input names channels this way). Unknown keys are refused, so a
 * misspelt field is not silently ignored.
 */
export function parseJsonEvent(
  value: unknown,
  withChannel: boolean,
): JsonEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InstructionError("an event must be a JSON object");
  }
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!JSON_FIELDS.has(key) || (key === "channel" && !withChannel)) {
      throw new InstructionError(
        `unknown field ${JSON.stringify(key)} in a JSON event`,
      );
    }
  }
  const text = (key: string): string | undefined => {
    const v = fields[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      throw new InstructionError(`"${key}" must be a string in a JSON event`);
    }
    return v;
  };
  const channel = text("channel");
  if (withChannel) {
    if (channel === undefined) {
      throw new InstructionError(`a JSON line needs "channel"`);
    }
    validateName("channel", channel);
  }
  const type = text("event") ?? "message";
  validateName("event type", type);
  if (!("data" in fields)) {
    throw new InstructionError(`a JSON event needs "data"`);
  }
  const data = typeof fields.data === "string"
    ? fields.data
    : JSON.stringify(fields.data);
  const id = text("id");
  if (id !== undefined) validateId(id);
  return {
    ...(channel === undefined ? {} : { channel }),
    type,
    data,
    ...(id === undefined ? {} : { id }),
  };
}
