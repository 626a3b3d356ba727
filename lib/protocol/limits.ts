/**
 * Size limits on what clients and publishers may ask for, checked where
 * requests enter, each failing with an {@linkcode InstructionError} that says
 * which limit and what the value was.
 *
 * @module
 */

import { InstructionError } from "./instruction.ts";

/** Limits on names and subscriptions. */
export interface NameLimits {
  /** Longest channel name or event type, in characters. */
  readonly maxNameLength: number;
  /** Most channels in one subscription or publish. */
  readonly maxChannels: number;
}

/** Checks channel names, their number, and event types against the limits. */
export function checkNames(
  limits: NameLimits,
  channels: readonly string[],
  types: Iterable<string> = [],
): void {
  if (channels.length > limits.maxChannels) {
    throw new InstructionError(
      `${channels.length} channels, more than the limit of ${limits.maxChannels}`,
    );
  }
  for (const channel of channels) checkLength(limits, "channel name", channel);
  for (const type of types) checkLength(limits, "event type", type);
}

function checkLength(limits: NameLimits, what: string, name: string): void {
  if (name.length > limits.maxNameLength) {
    throw new InstructionError(
      `${what} of ${name.length} characters, more than the limit of ${limits.maxNameLength}`,
    );
  }
}
