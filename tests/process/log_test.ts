import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { formatRecord } from "../../lib/process/log.ts";

function record(
  message: readonly unknown[],
  level: LogRecord["level"] = "info",
  timestamp = Date.UTC(2026, 11, 7, 5, 6, 7, 890),
): LogRecord {
  return {
    category: ["sse-server"],
    level,
    message,
    rawMessage: "",
    properties: {},
    timestamp,
  } as LogRecord;
}

Deno.test("formatRecord: the original's line, warnings marked, values as JSON, one line whatever a value holds", () => {
  assert.equal(
    formatRecord(record(["published ", "x", " to ", 3, ""])),
    "2026-12-07 05:06:07+0000 published x to 3\n",
  );
  assert.equal(
    formatRecord(record(["refused: ", "a\r\nb\nc", ""], "warning")),
    "2026-12-07 05:06:07+0000 warning: refused: a  b c\n",
  );
  // The stamp kept for a second is not reused for the next one.
  assert.equal(
    formatRecord(
      record(["later"], "error", Date.UTC(2026, 11, 7, 5, 6, 8, 1)),
    ),
    "2026-12-07 05:06:08+0000 error: later\n",
  );
});
