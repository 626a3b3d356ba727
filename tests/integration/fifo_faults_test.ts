// The FIFO when writers misbehave or the pipe goes away: a block whose end
// never comes cannot swallow other writers' lines, and a FIFO removed while
// the server runs is made again and read.
import assert from "node:assert/strict";
import { startServer } from "../helpers/server_process.ts";
import { writeFifo } from "../helpers/publishers.ts";
import { connect, typeAndData } from "../helpers/sse_client.ts";

Deno.test("FIFO: a <<TAG block not ended in time is refused, logged by name, and its lines and the next ones are read as lines", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer([
      "-F",
      fifo,
      "--fifo-block-timeout",
      "0.3",
    ]);
    await using sub = await connect(`${server.baseUrl}/news`);
    // A writer opens a block, writes one line that is an instruction, and
    // never ends it.
    await writeFifo(fifo, "notes <<END\nnews = inside the block\n");
    await server.waitForOutput(
      /block "notes\/message <<END" not ended within 0\.3 s, refused/,
    );
    // Its line was read as the line it is.
    assert.deepEqual(typeAndData(await sub.nextEvent()), {
      type: "message",
      data: "inside the block",
    });
    // Another writer's lines are lines again.
    await writeFifo(fifo, "news = from another writer\n");
    assert.equal((await sub.nextEvent()).data, "from another writer");
    // A block that ends in time is still one event.
    await writeFifo(fifo, "news <<END\nline one\nline two\nEND\n");
    assert.equal((await sub.nextEvent()).data, "line one\nline two");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FIFO: removed while the server runs, it is noticed, made again and read", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  try {
    await using server = await startServer(["-F", fifo]);
    await using sub = await connect(`${server.baseUrl}/news`);
    await Deno.remove(fifo);
    await server.waitForOutput(/FIFO \S+ was gone; made it again/);
    assert.ok((await Deno.stat(fifo)).isFifo);
    await writeFifo(fifo, "news = after the removal\n");
    assert.equal((await sub.nextEvent()).data, "after the removal");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
