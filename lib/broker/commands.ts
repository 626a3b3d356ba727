/**
 * Commands every instance runs (`halt-all`, the admin's `DELETE
 * /channels/NAME` and `DELETE /clients/ID`), typed here and written as text where they travel
 * (the Redis stream's `cmd` field). `halt` stays the bare word it always
 * was, so instances of an earlier version still understand it.
 *
 * @module
 */

/** A command for every instance, this one included. */
export type ClusterCommand =
  | { readonly kind: "halt" }
  /** End every stream subscribed to `channel`. */
  | { readonly kind: "close-channel"; readonly channel: string }
  /** End client `id` of instance `instance` (the others ignore it). */
  | {
    readonly kind: "close-client";
    readonly instance: string;
    readonly id: number;
  };

/** The command as text, for the stream. */
export function encodeCommand(command: ClusterCommand): string {
  return command.kind === "halt" ? "halt" : JSON.stringify(command);
}

/** The command `text` stands for, or null when it is none this version knows. */
export function decodeCommand(text: string): ClusterCommand | null {
  if (text === "halt") return { kind: "halt" };
  try {
    const value: unknown = JSON.parse(text);
    if (
      typeof value === "object" && value !== null &&
      "kind" in value && value.kind === "close-channel" &&
      "channel" in value && typeof value.channel === "string"
    ) {
      return { kind: "close-channel", channel: value.channel };
    }
    if (
      typeof value === "object" && value !== null &&
      "kind" in value && value.kind === "close-client" &&
      "instance" in value && typeof value.instance === "string" &&
      "id" in value && Number.isSafeInteger(value.id)
    ) {
      return {
        kind: "close-client",
        instance: value.instance,
        id: value.id as number,
      };
    }
  } catch {
    // Not JSON: unknown, like any other text.
  }
  return null;
}

/** A command for logs. */
export function describeCommand(command: ClusterCommand): string {
  return command.kind === "halt"
    ? "halt"
    : command.kind === "close-channel"
    ? `close-channel ${JSON.stringify(command.channel)}`
    : `close-client ${command.id} of ${command.instance}`;
}
