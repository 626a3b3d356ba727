// The last resort keeps the process alive through an error nobody handled,
// and logs it.
import assert from "node:assert/strict";
import { guardProcess } from "../../lib/process/last_resort.ts";
import { within } from "../helpers/condition.ts";

Deno.test("guardProcess: an unhandled rejection is caught while guarded", async () => {
  using _guard = guardProcess();
  const reported = Promise.withResolvers<boolean>();
  // Registered after the guard: it sees whether the guard prevented it.
  const probe = (event: PromiseRejectionEvent) =>
    reported.resolve(event.defaultPrevented);
  globalThis.addEventListener("unhandledrejection", probe);
  try {
    Promise.reject(new Error("nobody handles this"));
    assert.equal(await within(reported.promise, 5000, "the report"), true);
  } finally {
    globalThis.removeEventListener("unhandledrejection", probe);
  }
});
