// Request heads and chunk lines are read byte for byte: every byte one
// char of the same code, obs-text (0x80-0xff) included.
import assert from "node:assert/strict";
import { latin1 } from "../../../lib/http/lean/body.ts";

Deno.test("latin1 maps every byte to the char of the same code", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = latin1(all);
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
});

Deno.test("latin1 decodes a view at its offset, and long inputs whole", () => {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256);
  const view = bytes.subarray(3, 69_999);
  const text = latin1(view);
  assert.equal(text.length, view.length);
  for (let i = 0; i < view.length; i += 997) {
    assert.equal(text.charCodeAt(i), view[i]);
  }
  assert.equal(text.charCodeAt(view.length - 1), view[view.length - 1]);
  assert.equal(latin1(new Uint8Array(0)), "");
});
