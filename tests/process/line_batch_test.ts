import assert from "node:assert/strict";
import { BATCH_CHARS, LineBatch } from "../../lib/process/line_batch.ts";
import { pollUntil } from "../helpers/condition.ts";

/** A target that records each write, writing at most `max` bytes at once. */
function recorder(max = Infinity) {
  const writes: string[] = [];
  let closed = false;
  const decoder = new TextDecoder();
  return {
    writes,
    get closed() {
      return closed;
    },
    target: {
      writeSync(bytes: Uint8Array): number {
        const n = Math.min(bytes.length, max);
        writes.push(decoder.decode(bytes.subarray(0, n)));
        return n;
      },
      close() {
        closed = true;
      },
    },
  };
}

Deno.test("LineBatch: a line after a quiet spell is written at once; lines coming fast wait and go out in one write, soon after", async () => {
  const { writes, target } = recorder();
  using batch = new LineBatch(target, (error) => {
    throw error;
  });
  batch.add("one\n");
  assert.deepEqual(writes, ["one\n"]);
  batch.add("two\n");
  batch.add("three\n");
  assert.deepEqual(writes, ["one\n"]);
  await pollUntil(() => writes.length > 1, {
    timeoutMs: 5000,
    intervalMs: 5,
    timeout: () => new Error("the batch was never written"),
  });
  assert.deepEqual(writes, ["one\n", "two\nthree\n"]);
});

Deno.test("LineBatch: an urgent line and a full batch are written at once; partial writes are resumed", () => {
  const { writes, target } = recorder(5);
  using batch = new LineBatch(target, (error) => {
    throw error;
  });
  batch.add("a\n");
  batch.add("error\n", true);
  assert.equal(writes.join(""), "a\nerror\n");
  writes.length = 0;
  const long = "x".repeat(BATCH_CHARS) + "\n";
  batch.add(long);
  assert.equal(writes.join(""), long);
});

Deno.test("LineBatch: dispose writes what waits and closes the target", () => {
  const rec = recorder();
  {
    using batch = new LineBatch(rec.target, (error) => {
      throw error;
    });
    batch.add("last\n");
  }
  assert.deepEqual(rec.writes, ["last\n"]);
  assert.ok(rec.closed);
});

Deno.test("LineBatch: a failed write is reported, and later lines are still written", () => {
  const errors: unknown[] = [];
  let fail = true;
  const written: string[] = [];
  using batch = new LineBatch({
    writeSync(bytes) {
      if (fail) throw new Error("disk full");
      written.push(new TextDecoder().decode(bytes));
      return bytes.length;
    },
  }, (error) => errors.push(error));
  batch.add("lost\n", true);
  fail = false;
  batch.add("kept\n", true);
  assert.equal((errors[0] as Error).message, "disk full");
  assert.deepEqual(written, ["kept\n"]);
});
