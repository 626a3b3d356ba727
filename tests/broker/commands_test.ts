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
  const client: ClusterCommand = {
    kind: "close-client",
    instance: "i-1",
    id: 7,
  };
  assert.deepEqual(decodeCommand(encodeCommand(client)), client);
  assert.equal(describeCommand(client), "close-client 7 of i-1");
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
      '{"kind":"close-client","instance":"i","id":"7"}',
      '{"kind":"close-client","id":7}',
      '{"kind":"close-client","instance":"i","id":1.5}',
      "null",
    ]
  ) {
    assert.equal(decodeCommand(text), null, text);
  }
});
