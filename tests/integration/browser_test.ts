/**
 * End-to-end test with a real browser: headless Chromium runs `EventSource`
 * against the real server (started as a subprocess) and must receive what is
 * published by GET, as a browser sees it: default `message` events through
 * `onmessage`, custom types through `addEventListener`, multi-line data with
 * its line breaks, and UTF-8.
 *
 * Needs Chromium (`apt-get install chromium`, or scripts/install_test_deps.sh);
 * without it the test fails and says so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { findChromium, launchChromium, servePage } from "../helpers/cdp.ts";
import { startServer } from "../helpers/server_process.ts";

const ARTIFACTS = new URL("../.artifacts/", import.meta.url);
const SCREENSHOT = new URL("browser.png", ARTIFACTS);
const WIDTH = 800;
const HEIGHT = 600;

/**
 * The test page: subscribes to the URL in its `sse` query parameter, records
 * everything on `window.sseTest` for the test to read, and shows each event.
 */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sse-server browser test</title>
<style>
  body { font: 16px sans-serif; margin: 0; background: #f6f8fa; }
  h1 { margin: 0; padding: 16px 24px; background: #0b5394; color: #fff; }
  main { padding: 8px 24px; }
  .ev { margin: 10px 0; padding: 8px 12px; border-left: 8px solid #888;
        background: #fff; font-family: monospace; white-space: pre-wrap; }
  .message { border-color: #2da44e; }
  .custom-type { border-color: #bf8700; }
  .type { font-weight: bold; }
</style>
</head>
<body>
<h1>sse-server &rarr; EventSource</h1>
<main>
<p>Stream: <code id="url"></code></p>
<p>Status: <b id="status">connecting</b></p>
<div id="events"></div>
</main>
<script>
"use strict";
const url = new URL(location.href).searchParams.get("sse");
document.getElementById("url").textContent = url;
const state = { opened: 0, errors: 0, events: [] };
window.sseTest = state;
const source = new EventSource(url);
const setStatus = (text) => document.getElementById("status").textContent = text;
const record = (via, event) => {
  state.events.push({
    via,
    type: event.type,
    data: event.data,
    origin: event.origin,
    lastEventId: event.lastEventId,
  });
  const div = document.createElement("div");
  div.className = "ev " + event.type;
  const type = document.createElement("div");
  type.className = "type";
  type.textContent = event.type + " (" + via + ")";
  div.append(type, event.data);
  document.getElementById("events").append(div);
};
source.onopen = () => { state.opened++; setStatus("open"); };
source.onerror = () => {
  state.errors++;
  setStatus("error, readyState " + source.readyState);
};
source.onmessage = (event) => record("onmessage", event);
source.addEventListener("custom-type", (event) => record("listener", event));
</script>
</body>
</html>
`;

Deno.test("browser: Chromium's EventSource receives published events", async () => {
  const started = performance.now();
  // Fails with installation instructions if there is no Chromium.
  const executable = await findChromium();
  // Disposed in reverse order, also on failure: browser, page server, server.
  await using server = await startServer([]);
  await using pageServer = servePage(PAGE);
  await using browser = await launchChromium({ executable });

  const page = await browser.newPage(WIDTH, HEIGHT);
  const streamUrl = `${server.baseUrl}/browser`;
  const pageUrl = `http://127.0.0.1:${pageServer.addr.port}/?sse=${
    encodeURIComponent(streamUrl)
  }`;
  await page.goto(pageUrl);
  // Publish only once the subscription exists: EventSource's `open` fires
  // when the server has answered the subscription with its headers.
  await page.waitFor(
    "window.sseTest && window.sseTest.opened > 0",
    10_000,
    "window.sseTest",
  );

  const publish = async (query: string) => {
    const response = await fetch(`${streamUrl}?${query}`, {
      signal: AbortSignal.timeout(5000),
    });
    const body = await response.text();
    assert.equal(response.status, 200, body);
    // Exactly one subscriber: the browser.
    assert.equal(body, "OK: 1 event sent to 1 client\n");
  };
  await publish("message=hello%20browser");
  await publish("custom-type=line%20one%0Aline%20two%20%E2%9C%93");
  await publish("message=first%0Asecond%0A%0Afourth");

  await page.waitFor(
    "window.sseTest.events.length >= 3",
    10_000,
    "window.sseTest",
  );
  const state = await page.evaluate<{
    opened: number;
    errors: number;
    events: {
      via: string;
      type: string;
      data: string;
      origin: string;
      lastEventId: string;
    }[];
  }>("window.sseTest");
  const origin = new URL(server.baseUrl).origin;
  // Every event carries the server's id, INSTANCE-SEQUENCE, increasing.
  const ids = state.events.map((e) => e.lastEventId);
  for (const id of ids) assert.match(id, /^[0-9a-z]+-\d+$/);
  const seqs = ids.map((id) => Number(id.split("-")[1]));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(ids).size, 3);
  assert.deepEqual(state, {
    opened: 1,
    errors: 0,
    events: [
      {
        via: "onmessage",
        type: "message",
        data: "hello browser",
        origin,
        lastEventId: ids[0],
      },
      {
        via: "listener",
        type: "custom-type",
        data: "line one\nline two ✓",
        origin,
        lastEventId: ids[1],
      },
      {
        via: "onmessage",
        type: "message",
        data: "first\nsecond\n\nfourth",
        origin,
        lastEventId: ids[2],
      },
    ],
  });
  assert.equal(
    await page.evaluate<number>("document.querySelectorAll('.ev').length"),
    3,
  );

  const png = await page.screenshot();
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await Deno.writeFile(SCREENSHOT, png);
  assert.deepEqual(
    [...png.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    "screenshot is not a PNG",
  );
  const header = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.equal(
    new TextDecoder().decode(png.subarray(12, 16)),
    "IHDR",
    "PNG without IHDR",
  );
  assert.deepEqual([header.getUint32(16), header.getUint32(20)], [
    WIDTH,
    HEIGHT,
  ]);
  assert.ok(
    png.length > 10_000,
    `screenshot is only ${png.length} bytes; expected a rendered page`,
  );

  await browser.close();
  assert.equal(await server.stop(), 0, "server did not halt cleanly");
  console.log(
    `${browser.version}: 3 events received; screenshot ${
      decodeURIComponent(new URL(SCREENSHOT).pathname)
    } (${png.length} bytes); ${
      Math.round(performance.now() - started)
    } ms; browser: ${browser.closeReport()}`,
  );
});
