// The FIFO input against the real program: lines, every line of a write,
// writers that come and go, bad lines, commands, creation and clean-up.
import assert from "node:assert/strict";
import { runProgram, startServer } from "../helpers/server_process.ts";
import { writeFifo } from "../helpers/publishers.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

Deno.test("FIFO: created if missing, every line of one write is handled, removed at halt", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    const server = await startServer(["-F", fifo]);
    try {
      assert.ok((await Deno.stat(fifo)).isFifo);
      await using sub = await connect(`${server.baseUrl}/color/page`);
      await writeFifo(
        fifo,
        "color/q1 = go\npage/q1 = go\n  color  =  spaced data  \r\nchannel/message = x\n",
      );
      assert.deepEqual(typeAndData(await sub.nextEvent()), {
        type: "q1",
        data: "go",
      });
      // One line = one publish: the page line is a second delivery.
      assert.deepEqual(typeAndData(await sub.nextEvent()), {
        type: "q1",
        data: "go",
      });
      assert.deepEqual(typeAndData(await sub.nextEvent()), {
        type: "message",
        data: "spaced data",
      });
      await writeFifo(fifo, "halt\n");
      assert.equal(await server.exited, 0);
    } finally {
      await server.stop();
    }
    await assert.rejects(Deno.stat(fifo), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: keeps working after writers close, and a last line without newline counts", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(["-F", fifo]);
    await using sub = await connect(`${server.baseUrl}/n`);
    for (let i = 0; i < 20; i++) await writeFifo(fifo, `n = ${i}\n`);
    await writeFifo(fifo, "n = no newline");
    for (let i = 0; i < 20; i++) {
      assert.equal((await sub.nextEvent()).data, String(i));
    }
    assert.equal((await sub.nextEvent()).data, "no newline");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: a bad line is logged with its source and the next lines still work", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(["-F", fifo, "--max-line", "100"]);
    await using sub = await connect(`${server.baseUrl}/n`);
    await writeFifo(
      fifo,
      [
        "no equals sign here",
        "= no channel",
        "bad chan/t = x",
        "n/bad type = x",
        `n = ${"x".repeat(101)}`,
        `n = ${"y".repeat(100 - 4)}`,
        "n = after",
        "",
      ].join("\n"),
    );
    assert.equal((await sub.nextEvent()).data, "y".repeat(96));
    assert.equal((await sub.nextEvent()).data, "after");
    // The log may be written a moment after the events it tells of.
    for (
      const line of [
        /fifo \S+sse\.fifo: no '=' in a line of 19 characters/,
        /fifo \S+: no channel before '='/,
        /fifo \S+: channel "bad chan" contains a space/,
        /fifo \S+: event type "bad type" contains a space/,
        /fifo \S+: line too long \(105 characters, limit 100\)/,
      ]
    ) await server.waitForOutput(line);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: status lists controllers and clients in the log", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(["-F", fifo]);
    await using _sub = await connect(`${server.baseUrl}/a/b`);
    await writeFifo(fifo, "status\n");
    await server.waitForOutput(/status: 1 controllers, 1 clients/);
    await server.waitForOutput(/controller fifo \S+sse\.fifo/);
    await server.waitForOutput(/client 1 127\.0\.0\.1:\d+ channels a,b/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: an existing FIFO is used and left in place at halt", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/mine.fifo`;
  try {
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const server = await startServer(["-F", fifo]);
    await writeFifo(fifo, "halt\n");
    assert.equal(await server.exited, 0);
    assert.ok((await Deno.stat(fifo)).isFifo);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: a path that exists and is not a FIFO is refused and never touched", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/precious.txt`;
  try {
    await Deno.writeTextFile(file, "keep me");
    const result = await runProgram([
      "-n",
      "--bind",
      "127.0.0.1",
      "-p",
      "0",
      "-F",
      file,
    ]);
    assert.equal(result.code, 73);
    assert.match(result.stderr, /precious\.txt exists and is not a FIFO/);
    assert.equal(await Deno.readTextFile(file), "keep me");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: writers in quick succession never meet a closed pipe, and nothing is lost", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(["-F", fifo]);
    await using sub = await connect(`${server.baseUrl}/n`);
    // Each write is its own open/write/close, like `echo … > fifo` in a loop;
    // a reader that closed and reopened between them would make some fail.
    for (let i = 0; i < 300; i++) await writeFifo(fifo, `n = ${i}\n`);
    for (let i = 0; i < 300; i++) {
      assert.equal((await sub.nextEvent()).data, String(i));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
