/**
 * `deno task bench`: the load benchmark of sse-server, optionally side by
 * side with nginx + nchan (`--peer nchan`). Starts each server itself on
 * loopback, drives it with subscriber workers and publishers, and prints a
 * table (medians over runs, ratios to the peer) and, last, one JSON line.
 * See `scripts/bench/README.md`.
 *
 * @module
 */

import { V8_FLAGS } from "../lib/config/v8_flags.ts";
import { parseArgs } from "node:util";
import {
  buildScenarios,
  connectionsOf,
  selectScenarios,
} from "./bench/scenarios.ts";
import { initClockTicks, machineInfo, openFileLimits } from "./bench/proc.ts";
import {
  failures,
  medians,
  pairedRatios,
  type Row,
  table,
} from "./bench/report.ts";
import {
  type GeneratorSettings,
  type PublisherKind,
  runOnce,
} from "./bench/runner.ts";
import {
  nchanModule,
  PROJECT_ROOT,
  type ServerLog,
  type ServerName,
  startCluster,
  startFloor,
  startNchan,
  startOurs,
  type Target,
} from "./bench/servers.ts";

const USAGE = `Usage: deno task bench [options]

  --quick               small and short: 200 subscribers, 1 run (a smoke test)
  --scenario NAME       fanout, fanout-1k, fanout-10k, steady, channels,
                        users, idle, churn, cluster, flood (repeatable;
                        default: all but flood); cluster runs 3 instances
                        sharing a redis-server it starts; flood is
                        fanout-10k without a window (1,000 subscribers with
                        --quick; memory can reach GBs)
  --runs K              runs of each scenario; the table shows medians
                        (default 3, 1 with --quick)
  --peer nchan          also run every scenario against nginx + nchan and
                        show ours / nchan ratios
  --floor               also run channels, users and churn against the
                        floor server (scripts/bench/floor_server.ts): the
                        least a Deno node:net server spends per publish
  --subscribers N       subscribers of every scenario (one fanout size)
  --duration S          seconds of publishing per run
  --publisher KIND      control, post or query (GET ?message=…), for
                        sse-server (repeatable; default control and post,
                        and query too in channels and users; nchan is
                        always post)
  --workers N           subscriber worker threads (default 2)
  --window N            when saturating, most events published and not yet
                        received by the slowest subscriber of their channel,
                        summed over channels (default 1000; cluster: 100);
                        0: no window, publish as fast as the server takes
                        events (flood: always 0)
  --post-lanes N        concurrent POST connections when saturating (default 4)
  --post-batch N        events per POST to sse-server, as a JSON list
                        (default 1; nchan takes 1)
  --server-dir DIR      measure the main.ts in DIR (another checkout or a
                        snapshot: git archive HEAD | tar -x -C DIR);
                        default: this checkout
  --server-log WHERE    sse-server's log: stdout (a pipe read and discarded;
                        default), file (-l FILE: LogTape syncs each line to
                        disk) or none (-l /dev/null)
  --server-v8-flags F   more V8 flags for sse-server's Deno (after those it
                        ships with, lib/config/v8_flags.ts), e.g. --perf-basic-prof
  --server-arg ARG      one more option for sse-server (repeatable), e.g.
                        --server-arg=--http-engine --server-arg=lean
                        to profile it with perf
  --json-only           print only the JSON line
  --keep                keep the temporary directory (logs, nginx.conf)
  -h, --help            this text
`;

function fail(message: string): never {
  console.error(`bench: ${message}`);
  Deno.exit(64);
}

function int(
  value: string | undefined,
  name: string,
  fallback: number,
  least = 1,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < least) {
    fail(
      `${name} wants ${least === 0 ? "0 or a" : "a"} positive integer`,
    );
  }
  return n;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    scenario: { type: "string", multiple: true, default: [] },
    runs: { type: "string" },
    peer: { type: "string" },
    floor: { type: "boolean", default: false },
    subscribers: { type: "string" },
    duration: { type: "string" },
    publisher: { type: "string", multiple: true, default: [] },
    workers: { type: "string" },
    window: { type: "string" },
    "post-lanes": { type: "string" },
    "post-batch": { type: "string" },
    "server-dir": { type: "string" },
    "server-log": { type: "string", default: "stdout" },
    "server-v8-flags": { type: "string" },
    "server-arg": { type: "string", multiple: true },
    "json-only": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
  allowPositionals: false,
});

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (values.peer !== undefined && values.peer !== "nchan") {
  fail(`unknown peer ${values.peer} (known: nchan)`);
}
const publishers = values.publisher as PublisherKind[];
for (const p of publishers) {
  if (p !== "control" && p !== "post" && p !== "query") {
    fail(`unknown publisher ${p}`);
  }
}
const quick = values.quick;
const runs = int(values.runs, "--runs", quick ? 1 : 3);
const durationSeconds = values.duration === undefined
  ? undefined
  : Number(values.duration);
if (
  durationSeconds !== undefined &&
  !(durationSeconds > 0 && durationSeconds <= 120)
) fail("--duration wants seconds between 0 and 120");

let scenarios;
try {
  scenarios = selectScenarios(
    buildScenarios({
      quick,
      subscribers: values.subscribers === undefined
        ? undefined
        : int(values.subscribers, "--subscribers", 0),
      durationMs: durationSeconds === undefined
        ? undefined
        : durationSeconds * 1000,
    }),
    values.scenario,
  );
} catch (error) {
  fail((error as Error).message);
}

const settings: GeneratorSettings = {
  workers: int(values.workers, "--workers", 2),
  window: int(values.window, "--window", 1000, 0),
  postLanes: int(values["post-lanes"], "--post-lanes", 4),
  postBatch: int(values["post-batch"], "--post-batch", 1),
  controlBatch: 64,
  connectConcurrency: 64,
  connectTimeoutMs: 120_000,
  settleMs: quick ? 200 : 1000,
  drainTimeoutMs: quick ? 5000 : 15_000,
  readBuffer: 16 * 1024,
};

const jsonOnly = values["json-only"];
// The flags the server ships with (lib/config/v8_flags.ts), then the caller's.
const serverV8Flags = [V8_FLAGS, values["server-v8-flags"]]
  .filter((flags) => flags).join(",");
const serverLog = values["server-log"] as ServerLog;
if (!["stdout", "file", "none"].includes(serverLog)) {
  fail(`--server-log wants stdout, file or none`);
}
const serverRoot = (values["server-dir"] ?? PROJECT_ROOT).replace(/\/+$/, "");
try {
  Deno.statSync(`${serverRoot}/main.ts`);
  Deno.statSync(`${serverRoot}/deno.json`);
} catch {
  fail(`no main.ts and deno.json in ${serverRoot}`);
}
const log = (line: string) => console.error(line);

// Open files: every subscriber is a socket here and one in the server.
const needFiles = Math.max(...scenarios.map(connectionsOf)) + 512;
{
  const { soft, hard } = openFileLimits();
  if (soft < needFiles) {
    if (hard < needFiles) {
      fail(
        `${needFiles} open files needed, the hard limit is ${hard}: raise it ` +
          `(ulimit -Hn, as root) or use fewer --subscribers`,
      );
    }
    // Raise our own soft limit to the hard one; the servers inherit it.
    const target = hard === Infinity ? 1048576 : hard;
    const out = await new Deno.Command("prlimit", {
      args: [
        "--pid",
        String(Deno.pid),
        `--nofile=${target}:${hard === Infinity ? "unlimited" : hard}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output().catch((e) => ({
      success: false,
      stderr: new TextEncoder().encode(String(e)),
    }));
    if (!out.success || openFileLimits().soft < needFiles) {
      fail(
        `${needFiles} open files needed, the limit is ${soft} and prlimit ` +
          `could not raise it: run 'ulimit -n ${hard}' first ` +
          `(${new TextDecoder().decode(out.stderr).trim()})`,
      );
    }
  }
}
if (values.peer === "nchan" && !nchanModule()) {
  fail(
    "--peer nchan needs nginx and nchan: apt-get install nginx libnginx-mod-nchan",
  );
}

await initClockTicks();
const machine = machineInfo();
const fileLimit = openFileLimits().soft;
const dir = await Deno.makeTempDir({ prefix: "sse-bench-" });
const started = new Date();
if (!jsonOnly) {
  log(
    `sse-server benchmark: ${machine.cpus} CPUs (${machine.cpuModel}), ` +
      `Linux ${machine.kernel}, Deno ${machine.deno}; ${runs} run(s); ` +
      `work dir ${dir}`,
  );
}

const servers: ServerName[] = [
  "sse-server",
  ...(values.peer === "nchan" ? ["nchan" as const] : []),
];
// nchan has nothing like several instances sharing a stream of events.
const serversOf = (kind: string): ServerName[] =>
  kind === "cluster"
    ? servers.filter((s) => s === "sse-server")
    // The floor serves only what the per-request scenarios and churn need.
    : (kind === "channels" || kind === "churn") && values.floor
    ? [...servers, "floor"]
    : servers;
const remarkOf = (kind: string) =>
  values.peer === "nchan" && kind === "cluster"
    ? "no nchan counterpart: no ratio"
    : undefined;
const publishersOf = (
  server: ServerName,
  kind: string,
): PublisherKind[] => {
  if (server === "nchan") return ["post"];
  if (server === "floor") return ["post", "query"];
  if (kind === "idle") return ["post"];
  if (publishers.length > 0) return publishers;
  // Few subscribers per channel: the per-request path, also by GET query.
  return kind === "channels"
    ? ["control", "post", "query"]
    : ["control", "post"];
};

const rows: Row[] = [];
for (const scenario of scenarios) {
  log(`${scenario.name}: ${scenario.description}`);
  const scenarioRows = new Map<string, Row>();
  for (const server of serversOf(scenario.kind)) {
    for (const publisher of publishersOf(server, scenario.kind)) {
      const row: Row = {
        scenario: scenario.name,
        kind: scenario.kind,
        description: scenario.description,
        server,
        publisher: scenario.kind === "idle" ? "-" : publisher,
        runs: [],
        remark: remarkOf(scenario.kind),
      };
      scenarioRows.set(`${server}/${publisher}`, row);
      rows.push(row);
    }
  }
  for (let run = 1; run <= runs; run++) {
    // Servers alternate within each run, so drifts of the machine hit both.
    for (const server of serversOf(scenario.kind)) {
      for (const publisher of publishersOf(server, scenario.kind)) {
        const row = scenarioRows.get(`${server}/${publisher}`)!;
        let target: Target | undefined;
        try {
          target = server === "floor"
            ? await startFloor(serverV8Flags)
            : server === "nchan"
            ? await startNchan({
              dir,
              connections: connectionsOf(scenario),
              fileLimit,
            })
            : scenario.instances !== undefined
            ? await startCluster({
              dir,
              root: serverRoot,
              log: serverLog,
              v8Flags: serverV8Flags,
              instances: scenario.instances,
              keep: values.keep,
            })
            : await startOurs({
              dir,
              root: serverRoot,
              log: serverLog,
              v8Flags: serverV8Flags,
              extraArgs: values["server-arg"],
            });
          const metrics = await runOnce(
            scenario,
            target,
            publisher,
            // A scenario's window is the default; flood's 0 always holds.
            scenario.window !== undefined &&
              (values.window === undefined || scenario.window === 0)
              ? { ...settings, window: scenario.window }
              : settings,
            log,
          );
          row.runs.push(metrics);
          log(
            `  run ${run}/${runs} ${server}/${row.publisher}: ` +
              `${Math.round(metrics.deliveriesPerSecond)} deliveries/s, ` +
              `p99 ${metrics.latencyP99Ms.toFixed(2)} ms, ` +
              `${metrics.complete ? "complete" : "INCOMPLETE"}, ` +
              `${metrics.cpuMicrosPerDelivery.toFixed(2)} µs CPU/delivery, ` +
              `${metrics.rssPerConnectionKiB.toFixed(1)} KiB/conn, ` +
              `peak RSS ${metrics.peakRssMiB.toFixed(0)} MiB, ` +
              `accept ${metrics.acceptSeconds.toFixed(2)} s` +
              (metrics.instances > 1
                ? `; ${metrics.instances} instances, ` +
                  `${(metrics.remoteShare * 100).toFixed(1)} % remote, ` +
                  (Number.isFinite(metrics.latencyPhaseRate)
                    ? `p50/p99 at ${metrics.latencyPhaseRate.toFixed(0)} ` +
                      `events/s, `
                    : "no latency phase, ") +
                  `saturated p50/p99 ` +
                  `${metrics.saturatedLatencyP50Ms.toFixed(1)}/` +
                  `${metrics.saturatedLatencyP99Ms.toFixed(1)} ms`
                : ""),
          );
        } catch (error) {
          const message = String((error as Error)?.stack ?? error);
          row.runs.push({
            error: `${message}\n${target?.diagnostics() ?? ""}`.trim(),
          });
          log(
            `  run ${run}/${runs} ${server}/${row.publisher}: error: ${message}`,
          );
        } finally {
          await target?.stop();
        }
        // Let the kernel finish closing the last run's sockets.
        await new Promise((r) => setTimeout(r, quick ? 100 : 500));
      }
    }
  }
}

const peerRowOf = (row: Row) =>
  row.server !== "nchan"
    ? rows.find((r) => r.scenario === row.scenario && r.server === "nchan")
    : undefined;
const ratioOf = (row: Row) => {
  const peer = peerRowOf(row);
  return peer ? pairedRatios(row, peer) : undefined;
};

if (!jsonOnly) {
  console.log(
    `\nMedians of ${runs} run(s); in parentheses: sse-server / nchan, the median of paired runs.`,
  );
  console.log(table(rows, ratioOf));
  const problems = rows.flatMap(failures);
  if (problems.length > 0) console.log(`\n${problems.join("\n")}`);
  console.log(
    `\n${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memGiB} GiB, ` +
      `Linux ${machine.kernel}, ${machine.os}, Deno ${machine.deno}`,
  );
}
console.log(JSON.stringify({
  benchmark: "sse-server",
  version: 1,
  started: started.toISOString(),
  seconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
  machine,
  settings: {
    ...settings,
    runs,
    quick,
    peer: values.peer ?? null,
    serverDir: serverRoot,
    serverLog,
  },
  results: rows.map((row) => ({
    scenario: row.scenario,
    description: row.description,
    server: row.server,
    publisher: row.publisher,
    ...(row.remark ? { remark: row.remark } : {}),
    complete: row.runs.every((r) => !("error" in r) && r.complete),
    median: medians(row),
    ratioToNchan: ratioOf(row) ?? null,
    runs: row.runs,
  })),
}));

if (!values.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
