/**
 * The command line and the config file, with the original's options and
 * exit codes, parsed by `node:util`'s `parseArgs` from the one option table
 * (`option_table.ts`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import {
  OPTION_TABLE,
  type OptionName,
  type OptionSpec,
  type OptionValues,
  usageError,
} from "./option_table.ts";

export { USAGE } from "./usage.ts";

/**
 * Everything the options decide, with defaults filled in; the HTTP engine
 * chosen (by default the lean one, `Deno.serve` with TLS).
 */
export type Options = Omit<OptionValues, "httpEngine"> & {
  readonly httpEngine: "serve" | "lean";
};

/** Raw values by option name, as given (strings, or true for flags). */
type RawValues = Partial<Record<OptionName, string | boolean>>;

const NAMES = Object.keys(OPTION_TABLE) as OptionName[];

/** What `parseArgs` is told: every flag of the table, aliases included. */
const PARSE_SPEC: Record<
  string,
  { type: "boolean" | "string"; short?: string }
> = {};
/** Each flag (long or alias) to its option. */
const BY_FLAG = new Map<string, OptionName>();
for (const name of NAMES) {
  const spec: OptionSpec<unknown> = OPTION_TABLE[name];
  PARSE_SPEC[spec.long] = {
    type: spec.kind.type,
    ...(spec.short ? { short: spec.short } : {}),
  };
  BY_FLAG.set(spec.long, name);
  for (const alias of spec.aliases ?? []) {
    PARSE_SPEC[alias] = { type: spec.kind.type };
    BY_FLAG.set(alias, name);
  }
}

/**
 * Every option at its default: a complete configuration to start from (in
 * tests and examples) without a command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const options = defaultOptions();
 * assert.equal(options.port, 8080);
 * assert.equal(options.httpEngine, "lean");
 * ```
 */
export function defaultOptions(): Options {
  return resolve({});
}

/**
 * Parses command-line arguments, reading the config file named by `-C`
 * first. Throws {@linkcode StartupError}: exit 64 for a bad argument, 65 for
 * bad config-file content, 66 for a config file that cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const options = await parseOptions(["-n", "-p", "9000", "-F", "sse.fifo"]);
 * assert.equal(options.port, 9000);
 * assert.equal(options.fifo, "sse.fifo");
 * ```
 */
export async function parseOptions(args: readonly string[]): Promise<Options> {
  const cli = parseLine(args, ExitCode.usage, "");
  if (cli.help) return resolve({ help: true });
  let merged = cli;
  if (typeof cli.config === "string") {
    // Command line wins: its values are laid over the file's.
    merged = { ...(await readConfigFile(cli.config)), ...cli };
  }
  return resolve(merged);
}

/** One command line (or config-file line), by option name. */
function parseLine(
  args: readonly string[],
  exitCode: ExitCode,
  where: string,
): RawValues {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...args],
      options: PARSE_SPEC,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new StartupError(`${where}${errorMessage(error)}`, exitCode, {
      cause: error,
    });
  }
  const raw: RawValues = {};
  for (const [flag, value] of Object.entries(values)) {
    if (value !== undefined) raw[BY_FLAG.get(flag)!] = value;
  }
  return raw;
}

async function readConfigFile(path: string): Promise<RawValues> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new StartupError(
      `cannot read config file ${path}: ${errorMessage(error)}`,
      ExitCode.noInput,
      { cause: error },
    );
  }
  let values: RawValues = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${path}:${i + 1}: `;
    if (!line.startsWith("-")) {
      throw new StartupError(
        `${where}expected an option such as "--port 8080", got ${
          JSON.stringify(line)
        }`,
        ExitCode.dataErr,
      );
    }
    // The value is the rest of the line, so file names may hold spaces.
    const match = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
    const tokens = match[2] === undefined ? [match[1]] : [match[1], match[2]];
    const parsed = parseLine(tokens, ExitCode.dataErr, where);
    if (parsed.config !== undefined) {
      throw new StartupError(
        `${where}-C cannot be used in a config file`,
        ExitCode.dataErr,
      );
    }
    // Each line's value is checked alone, so the error names its line.
    try {
      for (const [name, raw] of Object.entries(parsed)) {
        valueOf(name as OptionName, raw);
      }
    } catch (error) {
      throw new StartupError(
        `${where}${errorMessage(error)}`,
        ExitCode.dataErr,
      );
    }
    values = { ...values, ...parsed };
  }
  return values;
}

/** An option's value from its raw text, or its default. */
function valueOf(name: OptionName, raw: string | boolean | undefined): unknown {
  const spec: OptionSpec<unknown> = OPTION_TABLE[name];
  return raw === undefined
    ? spec.default
    : spec.kind.parse(raw, `--${spec.long}`);
}

/** Every option's value, then the checks that span several options. */
function resolve(raw: RawValues): Options {
  const values = Object.fromEntries(
    NAMES.map((name) => [name, valueOf(name, raw[name])]),
  ) as OptionValues;
  if ((values.cert === undefined) !== (values.privKey === undefined)) {
    throw usageError(
      values.cert === undefined
        ? "--privkey needs --cert (-c) as well"
        : "--cert needs --privkey (-k) as well",
    );
  }
  // Plain HTTP: the lean engine (far less memory and CPU per stream). With
  // TLS, Deno.serve by default, for HTTP/2; the lean engine speaks HTTPS too
  // (HTTP/1.1 only), with every bound of the HTTP edge.
  return {
    ...values,
    httpEngine: values.httpEngine ??
      (values.cert !== undefined ? "serve" : "lean"),
  };
}
