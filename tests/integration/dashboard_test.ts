// The admin dashboard in a real headless Chromium: it loads without any
// outside request, follows the server's own event stream, and its numbers
// change when clients connect and events are published.
import assert from "node:assert/strict";
import { findChromium, launchChromium } from "../helpers/cdp.ts";
import { adminUrl, startServer } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

const ARTIFACTS = new URL("../.artifacts/", import.meta.url).pathname;

Deno.test("dashboard: live numbers, channels and recent events in Chromium", async () => {
  const executable = await findChromium();
  await using server = await startServer(["--admin-port", "0"]);
  const admin = await adminUrl(server);
  await using browser = await launchChromium({ executable });
  const page = await browser.newPage(1280, 900);
  await page.goto(`${admin}/`);
  await page.waitFor(`document.getElementById("state").textContent === "live"`);
  await page.waitFor(
    `document.getElementById("connections").textContent === "0"`,
  );

  await using _one = await connect(`${server.baseUrl}/weather`);
  await using _two = await connect(`${server.baseUrl}/weather/sport`);
  await page.waitFor(
    `document.getElementById("connections").textContent === "2"`,
  );
  await page.waitFor(
    `[...document.querySelectorAll("#channels-table tr")].some((r) => r.textContent.startsWith("weather") && r.textContent.endsWith("2"))`,
    10_000,
    `document.getElementById("channels-table").textContent`,
  );

  for (let i = 0; i < 5; i++) {
    await (await fetch(`${server.baseUrl}/weather?forecast=sunny+${i}`)).text();
  }
  await page.waitFor(
    `document.getElementById("published").textContent === "5"`,
  );
  const recent = await page.waitFor<string>(
    `document.getElementById("recent").textContent.includes("sunny 4") && document.getElementById("recent").textContent`,
  );
  assert.match(recent, /weather/);
  assert.match(recent, /forecast/);
  // The events-per-second chart has drawn a line.
  await page.waitFor(`document.querySelector("#chart-events path[stroke]")`);

  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const png = await page.screenshot();
  await Deno.writeFile(`${ARTIFACTS}dashboard.png`, png);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  assert.ok(
    png.length > 20_000,
    `screenshot of ${png.length} bytes looks blank`,
  );
});
