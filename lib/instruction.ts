/**
 * Instructions, the common language of every input, and the line syntax of
 * the FIFO and the control port: `channel/type = data`, `channel = data`
 * (type `message`), or a bare word, which is a command.
 *
 * @module
 */

/** Publish `data` as an event of `type` on `channel`. */
export interface PublishInstruction {
  readonly kind: "publish";
  readonly channel: string;
  readonly type: string;
  readonly data: string;
}

/** A command such as `status` or `halt`. */
export interface CommandInstruction {
  readonly kind: "command";
  readonly command: string;
}

/** What one input line or query parameter asks the server to do. */
export type Instruction = PublishInstruction | CommandInstruction;

/** The commands the server knows. */
export const COMMANDS: readonly string[] = ["status", "halt"];

/** A line or parameter that cannot be understood; the message names the fault. */
export class InstructionError extends Error {
  override name = "InstructionError";
}

/** A valid command that this source may not give (no `--allowcommands`). */
export class CommandRefusedError extends InstructionError {
  override name = "CommandRefusedError";
}

// Channel names and event types are single words: no white space or control
// characters (they would be trimmed or break the line syntax), no `/` (it
// separates channel from type) and no `=` (it separates the data).
// deno-lint-ignore no-control-regex
const FORBIDDEN_IN_NAME = /[\x00-\x20\x7f/=]/;

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

function describeChar(c: string): string {
  if (c === " ") return "a space";
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
  const eq = text.indexOf("=");
  if (eq < 0) {
    if (/[ \t\v\f]/.test(text)) {
      throw new InstructionError(
        `no '=' in ${JSON.stringify(text)} (a command is a single word)`,
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
