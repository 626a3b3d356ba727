// --history-bytes: the history of all channels together is bounded; past
// it the oldest events go, whatever their channel, and a client that
// missed them is told with sse-gap.
import assert from "node:assert/strict";
import { adminUrl, startServer } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";
import { jsonOf, post, type PostResult } from "../helpers/publishers.ts";

Deno.test("history bound: 40 events of 100 KB on 40 channels keep about 1 MiB; a client that missed the dropped ones gets sse-gap", async () => {
  await using server = await startServer([
    "--history-bytes",
    "1048576",
    "--admin-port",
    "0",
  ]);
  const admin = await adminUrl(server);
  const body = "x".repeat(100_000);
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const answer = await post(`${server.baseUrl}/c${i}`, body, "text/plain");
    assert.equal(answer.status, 202);
    ids.push(jsonOf<PostResult>(answer).ids[0]!);
  }
  const status = await (await fetch(`${admin}/status`)).json();
  // About 1 MiB of 100 KB events: ten, the newest.
  assert.ok(
    status.totals.historyEvents >= 9 && status.totals.historyEvents <= 10,
    `${status.totals.historyEvents} events kept`,
  );
  // c1's event was dropped: a client that saw the first event missed it.
  await using missed = await connect(`${server.baseUrl}/c1`, {
    headers: { "Last-Event-ID": ids[0] },
  });
  const gap = await missed.nextEvent();
  assert.equal(gap.type, "sse-gap");
  assert.deepEqual(JSON.parse(gap.data), {
    lastEventId: ids[0],
    reason: "expired",
  });
  // The newest are still there to replay.
  await using recent = await connect(`${server.baseUrl}/c39`, {
    headers: { "Last-Event-ID": ids[38] },
  });
  const replayed = await recent.nextEvent();
  assert.equal(replayed.id, ids[39]);
  assert.equal(replayed.data.length, 100_000);
});
