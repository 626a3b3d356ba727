import assert from "node:assert/strict";
import {
  type ClusterCommand,
  decodeCommand,
  describeCommand,
  encodeCommand,
} from "../../lib/broker/commands.ts";

Deno.test("cluster commands: halt stays the bare word; others round-trip as JSON", () => {
  assert.equal(encodeCommand({ kind: "halt" }), "halt");
  assert.deepEqual(decodeCommand("halt"), { kind: "halt" });
  const close: ClusterCommand = { kind: "close-channel", channel: "a\nb" };
  assert.deepEqual(decodeCommand(encodeCommand(close)), close);
  assert.equal(describeCommand(close), 'close-channel "a\\nb"');
});

Deno.test("cluster commands: what this version does not know is null", () => {
  for (
    const text of [
      "status",
      "",
      "{",
      '{"kind":"close-channel"}',
      '{"kind":"close-channel","channel":7}',
      '{"kind":"reboot","channel":"x"}',
      "null",
    ]
  ) {
    assert.equal(decodeCommand(text), null, text);
  }
});
