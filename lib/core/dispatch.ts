/**
 * The contract between inputs and the server: every input (HTTP, control
 * port, FIFO) turns what it reads into calls on a {@linkcode Dispatcher},
 * naming itself as the {@linkcode Source}.
 *
 * @module
 */

import type { PublishResult } from "./hub.ts";
import type { SseEvent } from "./sse_format.ts";

/** Where an instruction came from, for permissions and logs. */
export interface Source {
  readonly kind: "http" | "control" | "fifo";
  /** The peer's address, or the FIFO's path. */
  readonly name: string;
}

/** Carries out validated instructions. */
export interface Dispatcher {
  /** Publishes events to channels; see `Hub.publish`. */
  publish(
    channels: readonly string[],
    events: readonly SseEvent[],
    source: Source,
  ): PublishResult | Promise<PublishResult>;
  /**
   * Throws `InstructionError` when the command is unknown, and its subclass
   * `CommandRefusedError` when it is not allowed from this source; lets an
   * input refuse a request before acting on it.
   */
  checkCommand(command: string, source: Source): void;
  /** Runs a command, after the same checks as `checkCommand`. */
  command(command: string, source: Source): void;
}

/** `kind address` as logs show a source. */
export function describeSource(source: Source): string {
  return `${source.kind} ${source.name}`;
}
