import assert from "node:assert/strict";
import { V8_FLAGS } from "../../lib/config/v8_flags.ts";

const root = new URL("../../", import.meta.url);

Deno.test("deno task start runs the server with the V8 flags it ships with", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  ) as { tasks: Record<string, string> };
  assert.match(config.tasks.start, / --v8-flags=([^ ]+) main\.ts /);
  const flags = / --v8-flags=([^ ]+) main\.ts /.exec(config.tasks.start)![1];
  assert.equal(flags, V8_FLAGS);
});

Deno.test("scripts/build.sh can read the V8 flags from their module", async () => {
  // build.sh takes them with sed from a one-line declaration.
  const source = await Deno.readTextFile(
    new URL("lib/config/v8_flags.ts", root),
  );
  const line = /^export const V8_FLAGS = "(.*)";$/m.exec(source);
  assert.ok(line, "V8_FLAGS is declared on one line");
  assert.equal(line[1], V8_FLAGS);
});
