/**
 * Channel names from a URL path: the segments after the prefix, each
 * %-decoded and validated as a channel name.
 *
 * @module
 */

import { InstructionError, validateName } from "./instruction.ts";

/** Splits the path after the prefix into decoded, validated channel names. */
export function parseChannels(rest: string): string[] {
  const channels: string[] = [];
  for (const segment of rest.split("/")) {
    if (segment === "") continue;
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      throw new InstructionError(
        `malformed %-escape in channel ${JSON.stringify(segment.slice(0, 80))}`,
      );
    }
    validateName("channel", name);
    channels.push(name);
  }
  return channels;
}
