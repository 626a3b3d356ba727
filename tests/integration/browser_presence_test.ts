/**
 * Presence in a real browser: headless Chromium opens the README's example
 * page (taken from README.md itself, so the documented page is the one
 * tested) against the real server with `--presence`, and the page shows
 * "N online" as subscribers come and go.
 *
 * Needs Chromium (`apt-get install chromium`, or scripts/install_test_deps.sh);
 * without it the test fails and says so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { findChromium, launchChromium, servePage } from "../helpers/cdp.ts";
import { startServer } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

/** The stream URL the README's example page subscribes to. */
const README_STREAM = "http://localhost:8080/news/sport";

/** The README's example page, subscribing to `streamUrl` instead. */
async function readmePage(streamUrl: string): Promise<string> {
  const readme = await Deno.readTextFile(
    new URL("../../README.md", import.meta.url),
  );
  const page = /```html\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(page, "the README has no example page");
  assert.ok(page.includes("sse-presence"), "the example page shows presence");
  assert.ok(page.includes(README_STREAM), "the example page's stream URL");
  return page.replace(README_STREAM, streamUrl);
}

Deno.test("browser: the README's example page shows how many are online", async () => {
  const executable = await findChromium();
  await using server = await startServer(["--presence"]);
  await using pageServer = servePage(
    await readmePage(`${server.baseUrl}/news/sport`),
  );
  await using browser = await launchChromium({ executable });
  const page = await browser.newPage(800, 600);
  await page.goto(`http://127.0.0.1:${pageServer.addr.port}/`);
  const online = (text: string) =>
    page.waitFor(
      `document.getElementById("online").textContent === ${
        JSON.stringify(text)
      }`,
      10_000,
      `document.body.innerText`,
    );
  await online("1 online");
  // Another subscriber of news (not on the page): the page counts it.
  const other = await connect(`${server.baseUrl}/news`);
  try {
    await online("2 online");
  } finally {
    await other.close();
  }
  await online("1 online");
  // Published events still show as before.
  const answer = await fetch(`${server.baseUrl}/news?message=hello`, {
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(answer.status, 200, await answer.text());
  await page.waitFor(
    `document.getElementById("log").textContent === "hello"`,
    10_000,
    `document.body.innerText`,
  );
  await browser.close();
  assert.equal(await server.stop(), 0, "server did not halt cleanly");
});
