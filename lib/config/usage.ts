/**
 * The `--help` text, made from the option table: every option with its
 * flags, value, help and default, grouped by section; then the instruction
 * syntax and the exit statuses.
 *
 * @module
 */

import { OPTION_TABLE, type OptionSpec, type Section } from "./option_table.ts";

const WIDTH = 78;
/** Column where help text starts. */
const HELP_COLUMN = 29;

const SECTION_TITLES: Readonly<Record<Section, string | null>> = {
  main: null,
  security: "Security (all off by default):",
  limits: "Limits:",
  "scale-out": "Scale-out:",
};

/** One option's lines: flags, then its help wrapped beside them. */
function describe(spec: OptionSpec<unknown>): string {
  const short = spec.short ? `-${spec.short}, ` : "    ";
  const longs = [spec.long, ...(spec.aliases ?? [])].map((flag) => `--${flag}`)
    .join(", ");
  const flags = `  ${short}${longs}${spec.arg ? ` ${spec.arg}` : ""}`;
  const defaults = [
    ...(spec.default === undefined || spec.kind.type === "boolean"
      ? []
      : [`default ${spec.kind.show(spec.default)}`]),
    ...(spec.note ? [spec.note] : []),
  ];
  // A note starting with ":" explains the default itself ("0: no limit").
  const help = spec.help +
    (defaults.length > 0
      ? ` (${defaults.join("; ").replace("; :", ":")})`
      : "");
  const lines: string[] = [];
  let line = flags.length < HELP_COLUMN
    ? flags.padEnd(HELP_COLUMN)
    : flags + "  ";
  let empty = true;
  for (const word of help.split(" ")) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = " ".repeat(HELP_COLUMN);
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines.join("\n") + "\n";
}

function section(name: Section): string {
  const title = SECTION_TITLES[name];
  const specs: OptionSpec<unknown>[] = Object.values(OPTION_TABLE).filter(
    (spec: OptionSpec<unknown>) => spec.section === name,
  );
  return (title ? `\n${title}\n` : "") + specs.map(describe).join("");
}

/** The `--help` text. */
export const USAGE: string = `Usage: sse-server [options]

Server-Sent Events hub: web clients subscribe to channels by URL path;
events are published by HTTP query, on the control port or through a FIFO.

${section("main")}${section("security")}${section("limits")}${
  section("scale-out")
}
Instruction lines (FIFO and control port):
  channel/type = data        publish an event of that type
  channel = data             publish an event of type "message"
  {"channel":"c","event":"t","data":"d","id":"i"}
                             publish, with JSON escapes and an optional id
  channel/type <<END         publish the following lines, up to END, as the
                             data of one event
  status | halt              log the clients | stop the server
  halt-all                   with --redis, stop every instance

Exit status: 0 after halt, 64 usage error, 65 bad config file, 66 file not
readable, 67 unknown user, 69 TLS set-up failed, 73 cannot listen or create,
77 the -U user cannot read the program or Deno's cache (from source).
`;
