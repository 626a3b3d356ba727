import assert from "node:assert/strict";
import { defaultOptions } from "../../lib/config/options.ts";
import { publicOptions } from "../../lib/observe/reports.ts";

Deno.test("publicOptions: the --auth-url password is not shown", () => {
  const shown = publicOptions({
    ...defaultOptions(),
    authUrl: "https://app:s3cret@app.example/auth",
  });
  assert.equal(shown.authUrl, "https://app:***@app.example/auth");
  assert.ok(!JSON.stringify(shown).includes("s3cret"));
  assert.equal(publicOptions(defaultOptions()).authUrl, undefined);
});
