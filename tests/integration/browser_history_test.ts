/**
 * A real browser rendering the history first, then live events, as the
 * README's page does: headless Chromium on a page of another origin fetches
 * the channel's history with `Accept: application/json` (a CORS request),
 * shows it, then opens an `EventSource` at the answer's `lastEventId`. An
 * event published between the two is not lost, and none comes twice.
 *
 * Needs Chromium (`apt-get install chromium`, or scripts/install_test_deps.sh).
 *
 * @module
 */

import assert from "node:assert/strict";
import { findChromium, launchChromium, servePage } from "../helpers/cdp.ts";
import { startServer } from "../helpers/server_process.ts";
import { get } from "../helpers/publishers.ts";

/**
 * The page: the README's pattern, with a pause between the history and the
 * stream that the test ends (`window.go()`), to publish in between.
 */
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>sse-server history test</title></head>
<body>
<script type="module">
const url = new URL(location.href).searchParams.get("sse");
const state = { history: null, lastEventId: undefined, live: [], opened: 0, failed: null };
window.historyTest = state;
try {
  const answer = await fetch(url, { headers: { Accept: "application/json" } });
  const { events, lastEventId } = await answer.json();
  state.history = events.map((event) => event.event + "=" + event.data);
  state.lastEventId = lastEventId;
  await new Promise((resolve) => { window.go = resolve; });
  const source = new EventSource(
    url + "?lastEventId=" + encodeURIComponent(lastEventId ?? "earliest"),
  );
  source.onopen = () => { state.opened++; };
  source.onmessage = (event) => state.live.push(event.data);
  source.addEventListener("sse-gap", () => state.live.push("GAP"));
} catch (error) {
  state.failed = String(error);
}
</script>
</body>
</html>
`;

interface PageState {
  history: string[] | null;
  lastEventId: string | null | undefined;
  live: string[];
  opened: number;
  failed: string | null;
}

Deno.test("browser: a page renders the history as JSON, then resumes the stream at its lastEventId without loss or repeat", async () => {
  const executable = await findChromium();
  await using server = await startServer([]);
  const publish = async (query: string) => {
    const answer = await get(`${server.baseUrl}/news?${query}`);
    assert.equal(answer.status, 200, answer.body);
  };
  await publish("message=first&alert=two%0Alines");
  await using pageServer = servePage(PAGE);
  await using browser = await launchChromium({ executable });
  const page = await browser.newPage();
  await page.goto(
    `http://127.0.0.1:${pageServer.addr.port}/?sse=${
      encodeURIComponent(`${server.baseUrl}/news`)
    }`,
  );
  await page.waitFor(
    "window.historyTest.history !== null || window.historyTest.failed",
    10_000,
    "window.historyTest",
  );
  const before = await page.evaluate<PageState>("window.historyTest");
  assert.equal(before.failed, null);
  assert.deepEqual(before.history, ["message=first", "alert=two\nlines"]);
  assert.match(before.lastEventId ?? "", /-2$/);

  // Published after the page read the history, before its stream opens.
  await publish("message=between");
  await page.evaluate("window.go(), true");
  await page.waitFor(
    "window.historyTest.opened > 0",
    10_000,
    "window.historyTest",
  );
  await server.waitForOutput(/client 1 connected from/);
  await publish("message=live");
  await page.waitFor(
    "window.historyTest.live.length >= 2",
    10_000,
    "window.historyTest",
  );
  const after = await page.evaluate<PageState>("window.historyTest");
  assert.deepEqual(after.live, ["between", "live"]);
  await browser.close();
});
