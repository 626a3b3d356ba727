/**
 * The kinds of option values (flags, text, whole numbers, seconds, choices,
 * lists) and how an option is declared: each kind parses, validates and
 * shows its values, with the error message the user reads.
 *
 * @module
 */

import { ExitCode, StartupError } from "../errors.ts";

/** How an option's text becomes its value, and what is refused. */
export interface ValueKind<T> {
  /** `boolean` options take no value. */
  readonly type: "boolean" | "string";
  /** The value of `raw` (a flag's `true`), or a usage error naming `flag`. */
  parse(raw: string | boolean, flag: string): T;
  /** How `--help` shows a default of this kind. */
  show(value: T): string;
}

/** Where `--help` lists an option. */
export type Section = "main" | "security" | "limits" | "scale-out";

/** One option; `D` says whether it has a default. */
export interface OptionSpec<T, D extends boolean = boolean> {
  /** The long flag, without `--`. */
  readonly long: string;
  readonly short?: string;
  /** Other long flags with the same meaning. */
  readonly aliases?: readonly string[];
  readonly kind: ValueKind<T>;
  readonly default: D extends true ? T : undefined;
  /** The value's name in `--help` (`PORT`, `FILE`, `N`, `SECONDS`). */
  readonly arg?: string;
  readonly help: string;
  /**
   * Said after the default in `--help` ("0: never"); one starting with ":"
   * explains the default itself (": all" gives "default 0.0.0.0: all").
   */
  readonly note?: string;
  readonly section: Section;
  /** Never shown in reports (`/status`). */
  readonly secret?: boolean;
}

type Declared<T> = Omit<OptionSpec<T>, "default">;

/** An option with a default: its value is always there. */
export function option<T>(
  spec: Declared<T> & { readonly default: T },
): OptionSpec<T, true> {
  return spec as OptionSpec<T, true>;
}

/** An option without a default: absent unless given. */
export function optional<T>(spec: Declared<T>): OptionSpec<T, false> {
  return { ...spec, default: undefined } as OptionSpec<T, false>;
}

/** A usage error (exit 64) with the message the user reads. */
export function usageError(message: string): StartupError {
  return new StartupError(message, ExitCode.usage);
}

/** A flag: true when given. */
export const flag: ValueKind<boolean> = {
  type: "boolean",
  parse: (raw) => raw === true,
  show: String,
};

/** Text, with an optional check that throws a usage error. */
export function text(
  check?: (value: string, flag: string) => void,
): ValueKind<string> {
  return {
    type: "string",
    parse(raw, name) {
      const value = String(raw);
      check?.(value, name);
      return value;
    },
    show: (value) => value,
  };
}

/**
 * An absolute URL with one of `protocols` (such as `"https:"`), without a
 * user or password: it is logged and shown in `/status` as it is.
 */
export function url(...protocols: string[]): ValueKind<string> {
  return {
    type: "string",
    parse(raw, name) {
      const value = String(raw);
      const parsed = URL.canParse(value) ? new URL(value) : undefined;
      if (!parsed || !protocols.includes(parsed.protocol)) {
        throw usageError(
          `${name} must be a URL starting with ${
            protocols.map((p) => p + "//").join(" or ")
          }, got ${JSON.stringify(value)}`,
        );
      }
      if (parsed.username !== "" || parsed.password !== "") {
        throw usageError(
          `${name} must not hold a user or password (it is logged and shown in /status)`,
        );
      }
      return value;
    },
    show: (value) => value,
  };
}

/** Whole numbers from `min` to `max`; `bytes` shows defaults in KiB/MiB. */
export function integer(
  min: number,
  max: number,
  bytes = false,
): ValueKind<number> {
  return {
    type: "string",
    parse(raw, name) {
      const value = String(raw);
      if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw usageError(
          `${name} must be a whole number from ${min} to ${max}, got ${
            JSON.stringify(value)
          }`,
        );
      }
      return Number(value);
    },
    show: (value) =>
      bytes && value >= 1024 ? `${value} = ${size(value)}` : String(value),
  };
}

/** A decimal number of seconds from `min` to `max`. */
export function seconds(min: number, max: number): ValueKind<number> {
  return {
    type: "string",
    parse(raw, name) {
      const value = String(raw);
      if (
        !/^\d+(\.\d+)?$/.test(value) || Number(value) < min ||
        Number(value) > max
      ) {
        throw usageError(
          `${name} must be a number from ${min} to ${max}, got ${
            JSON.stringify(value)
          }`,
        );
      }
      return Number(value);
    },
    show: String,
  };
}

/** One of `values`. */
export function choice<T extends string>(...values: T[]): ValueKind<T> {
  return {
    type: "string",
    parse(raw, name) {
      const value = String(raw);
      if (!(values as string[]).includes(value)) {
        throw usageError(
          `${name} must be ${values.join(" or ")}, got ${
            JSON.stringify(value)
          }`,
        );
      }
      return value as T;
    },
    show: (value) => value,
  };
}

/** A comma-separated list; blanks around items are dropped. */
export const list: ValueKind<readonly string[]> = {
  type: "string",
  parse: (raw) =>
    String(raw).split(",").map((item) => item.trim()).filter((item) =>
      item !== ""
    ),
  show: (value) => value.join(","),
};

/** A TCP port number. */
export const port: ValueKind<number> = integer(0, 65535);

function size(bytes: number): string {
  return bytes >= 1 << 20 && bytes % (1 << 20) === 0
    ? `${bytes / (1 << 20)} MiB`
    : `${bytes / 1024} KiB`;
}
