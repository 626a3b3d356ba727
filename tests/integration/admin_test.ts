// The admin port against the real program: /status, /metrics, the status
// command in the same terms, and SIGHUP reopening the log file.
import assert from "node:assert/strict";
import parsePrometheus from "npm:parse-prometheus-text-format@1.1.1";
import denoJson from "../../deno.json" with { type: "json" };
import {
  programCommand,
  type RunningServer,
  startServer,
  waitForFile,
} from "../helpers/server_process.ts";
import { within } from "../helpers/condition.ts";
import { connect } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();

async function adminUrl(server: RunningServer): Promise<string> {
  const match = await server.waitForOutput(
    /admin \(status, metrics, dashboard\) on ([^ ]+):(\d+)/,
  );
  assert.equal(
    match[1],
    "127.0.0.1",
    "the admin port is on loopback by default",
  );
  return `http://127.0.0.1:${match[2]}`;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return await res.json() as T;
}

interface Family {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

async function metrics(admin: string): Promise<Map<string, Family>> {
  const res = await fetch(`${admin}/metrics`);
  assert.equal(res.status, 200);
  assert.match(
    res.headers.get("content-type") ?? "",
    /^text\/plain; version=0\.0\.4/,
  );
  const families = parsePrometheus(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

function value(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.get(name);
  assert.ok(family, `metric ${name} is missing`);
  const sample = family.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  assert.ok(sample, `${name}${JSON.stringify(labels)} is missing`);
  return Number(sample.value);
}

interface Status {
  server: {
    version: string;
    pid: number;
    startedAt: string;
    options: Record<string, unknown>;
  };
  totals: {
    clients: number;
    controllers: number;
    channels: number;
    historyEvents: number;
    published: Record<string, number>;
    deliveries: number;
    bytesSent: number;
    slowConsumers: number;
  };
  controllers: { kind: string; name: string }[];
  clients: {
    id: number;
    remoteAddr: string;
    connectedAt: string;
    channels: string[];
    lastEventId: string | null;
    eventsSent: number;
    bytesSent: number;
    bytesQueued: number;
  }[];
}

Deno.test("admin: /status and /metrics report real traffic from every input", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/sse.fifo`;
  const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
  try {
    await using server = await startServer(
      ["-P", "0", "-F", fifo, "--admin-port", "0"],
      { control: true },
    );
    const admin = await adminUrl(server);
    await using a = await connect(`${server.baseUrl}/a`);
    await using ab = await connect(`${server.baseUrl}/a/b`);
    const ctl = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.controlPort!,
    });
    try {
      await ctl.write(encoder.encode("a = one\na = two\na/x = three\n"));
      await (await fetch(`${server.baseUrl}/b?message=four`)).text();
      const file = await Deno.open(fifo, { write: true });
      await file.write(encoder.encode("a = five\n"));
      file.close();
      const seenByA: string[] = [];
      for (let i = 0; i < 4; i++) seenByA.push((await a.nextEvent()).id!);
      let lastAb = "";
      for (let i = 0; i < 5; i++) lastAb = (await ab.nextEvent()).id!;

      const status = await getJson<Status>(`${admin}/status`);
      assert.equal(status.server.version, denoJson.version);
      assert.equal(status.server.pid, server.process.pid);
      assert.ok(Date.parse(status.server.startedAt) <= Date.now());
      assert.equal(status.server.options.fifo, fifo);
      assert.equal(status.server.options.tls, false);
      assert.deepEqual(status.totals.published, {
        http: 1,
        control: 3,
        fifo: 1,
      });
      assert.equal(status.totals.clients, 2);
      assert.equal(status.totals.controllers, 2);
      assert.equal(status.totals.channels, 2);
      assert.equal(status.totals.historyEvents, 5);
      assert.equal(status.totals.deliveries, 4 + 5);
      assert.deepEqual(
        status.controllers.map((c) => c.kind).sort(),
        ["control", "fifo"],
      );
      assert.equal(
        status.controllers.find((c) => c.kind === "fifo")?.name,
        fifo,
      );
      const [ca, cab] = status.clients;
      assert.deepEqual(ca.channels, ["a"]);
      assert.deepEqual(cab.channels, ["a", "b"]);
      assert.equal(ca.lastEventId, seenByA[3]);
      assert.equal(cab.lastEventId, lastAb);
      assert.equal(ca.eventsSent, 4);
      assert.equal(cab.eventsSent, 5);
      assert.equal(ca.bytesQueued, 0, "everything was read");
      assert.equal(ca.bytesSent, a.raw().length);
      assert.match(ca.remoteAddr, /^127\.0\.0\.1:\d+$/);

      const before = await metrics(admin);
      assert.equal(before.get("sse_server_deliveries_total")?.type, "COUNTER");
      assert.equal(before.get("sse_server_subscribers")?.type, "GAUGE");
      assert.equal(value(before, "sse_server_deliveries_total"), 9);
      assert.equal(
        value(before, "sse_server_events_published_total", {
          input: "control",
        }),
        3,
      );
      assert.equal(
        value(before, "sse_server_events_published_total", { input: "http" }),
        1,
      );
      assert.equal(
        value(before, "sse_server_events_published_total", { input: "fifo" }),
        1,
      );
      assert.equal(
        value(before, "sse_server_subscribers", { channels: "1" }),
        1,
      );
      assert.equal(
        value(before, "sse_server_subscribers", { channels: "2" }),
        1,
      );
      assert.equal(
        value(before, "sse_server_channel_subscribers", { channel: "a" }),
        2,
      );
      assert.equal(
        value(before, "sse_server_channel_subscribers", { channel: "b" }),
        1,
      );
      assert.equal(value(before, "sse_server_controllers"), 2);
      assert.equal(value(before, "sse_server_history_events"), 5);
      assert.equal(value(before, "sse_server_slow_consumers_total"), 0);
      assert.ok(value(before, "sse_server_sent_bytes_total") >= a.raw().length);
      assert.ok(value(before, "sse_server_event_loop_lag_seconds") >= 0);

      // The figures move when events flow.
      await ctl.write(encoder.encode("b = six\n"));
      await ab.nextEvent();
      const after = await metrics(admin);
      assert.equal(value(after, "sse_server_deliveries_total"), 10);
      assert.equal(
        value(after, "sse_server_events_published_total", { input: "control" }),
        4,
      );
      assert.ok(
        value(after, "sse_server_sent_bytes_total") >
          value(before, "sse_server_sent_bytes_total"),
      );
    } finally {
      ctl.close();
    }
    // Secrets never show: with TLS the report says only that it is on.
    await using tls = await startServer(
      [
        "-c",
        `${FIXTURES}cert.pem`,
        "-k",
        `${FIXTURES}key.pem`,
        "--admin-port",
        "0",
      ],
      { tls: true },
    );
    const tlsStatus = await (await fetch(`${await adminUrl(tls)}/status`))
      .text();
    assert.doesNotMatch(tlsStatus, /PRIVATE KEY|BEGIN CERTIFICATE/);
    assert.equal(JSON.parse(tlsStatus).server.options.tls, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admin: the status command logs the same facts as /status", async () => {
  await using server = await startServer(
    ["-P", "0", "-a", "--admin-port", "0"],
    {
      control: true,
    },
  );
  const admin = await adminUrl(server);
  await using sub = await connect(`${server.baseUrl}/news`);
  const ctl = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.controlPort!,
  });
  try {
    await ctl.write(encoder.encode("news = hi\n"));
    const id = (await sub.nextEvent()).id!;
    const status = await getJson<Status>(`${admin}/status`);
    await ctl.write(encoder.encode("status\n"));
    await server.waitForOutput(
      /status: 1 controllers, 1 clients, 1 channels, 1 events kept, 1 deliveries, 0 slow consumers dropped/,
    );
    const client = status.clients[0];
    await server.waitForOutput(
      new RegExp(
        `client ${client.id} ${client.remoteAddr} channels news since ${client.connectedAt}, last event ${id}, 1 events, \\d+ bytes sent, 0 bytes queued`,
      ),
    );
    await server.waitForOutput(/ {2}controller control 127\.0\.0\.1:\d+/);
  } finally {
    ctl.close();
  }
});

Deno.test("admin: off by default; unknown paths 404, other methods 405", async () => {
  await using plain = await startServer([]);
  assert.doesNotMatch(plain.output(), /admin/);
  await using server = await startServer(["--admin-port", "0"]);
  const admin = await adminUrl(server);
  const missing = await fetch(`${admin}/nope`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(`${admin}/status`, { method: "POST" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const page = await fetch(`${admin}/`);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  const html = await page.text();
  assert.match(html, /<title>sse-server dashboard<\/title>/);
  // Self-contained: nothing is loaded from another host.
  assert.doesNotMatch(html, /(src|href)="https?:/);
});

Deno.test("log: SIGHUP reopens the log file after it was rotated", async () => {
  const dir = await Deno.makeTempDir();
  const log = `${dir}/sse.log`;
  try {
    // With -l the log goes to the file, not stdout: wait on the file.
    await using server = await startServer(["-l", log], { logFile: log });
    await (await fetch(`${server.baseUrl}/c?message=before`)).text();
    await waitForFile(log, /published message="before"/);
    await Deno.rename(log, `${log}.1`);
    server.process.kill("SIGHUP");
    await waitForFile(log, /log file reopened/);
    await (await fetch(`${server.baseUrl}/c?message=after`)).text();
    await waitForFile(log, /published message="after"/);
    const old = await Deno.readTextFile(`${log}.1`);
    assert.match(old, /published message="before"/);
    assert.doesNotMatch(old, /published message="after"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log: --log-level warning keeps refusals and leaves out each event and connection", async () => {
  const dir = await Deno.makeTempDir();
  const log = `${dir}/sse.log`;
  // Nothing is logged at info, not even the port chosen: choose it here.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const [command, args] = programCommand([
    "-n",
    "--bind",
    "127.0.0.1",
    "-p",
    String(port),
    "-l",
    log,
    "--log-level",
    "warning",
  ]);
  const server = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const base = `http://127.0.0.1:${port}`;
    const sent = await within(
      (async () => {
        while (true) {
          try {
            return await fetch(`${base}/c?message=quiet`);
          } catch {
            // Not listening yet.
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      })(),
      10_000,
      "the server never answered",
    );
    assert.equal(await sent.text(), "OK: 1 event sent to 0 clients\n");
    // Refused after the publish: once its warning is in the file, an info
    // line for the publish would be there too.
    const refused = await fetch(`${base}/c?message=%zz`);
    assert.equal(refused.status, 400);
    await refused.text();
    await waitForFile(log, /warning: http 127\.0\.0\.1:\d+: /);
    const text = await Deno.readTextFile(log);
    assert.doesNotMatch(text, /published|listening|connected/);
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await Deno.remove(dir, { recursive: true });
  }
});
