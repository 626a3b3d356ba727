/**
 * The benchmark's output: medians over runs, paired ratios to the peer, a
 * table for people and one JSON line for programs.
 *
 * @module
 */

import type { RunMetrics } from "./runner.ts";
import type { ServerName } from "./servers.ts";
import { median } from "./stats.ts";

/** Every run of one scenario × server × publisher. */
export interface Row {
  readonly scenario: string;
  readonly kind: string;
  readonly description: string;
  readonly server: ServerName;
  readonly publisher: string;
  readonly runs: (RunMetrics | { error: string })[];
  /** Said at the end of the note (e.g. that there is no peer to compare with). */
  readonly remark?: string;
}

export type NumericMetric = {
  [K in keyof RunMetrics]: RunMetrics[K] extends number ? K : never;
}[keyof RunMetrics];

/** The figures that get a median (and a ratio when there is a peer). */
export const MEDIAN_METRICS: readonly NumericMetric[] = [
  "subscribers",
  "acceptSeconds",
  "acceptCpuMicros",
  "events",
  "deliveries",
  "deliveriesPerSecond",
  "latencyP50Ms",
  "latencyP99Ms",
  "latencyMaxMs",
  "cpuMicrosPerDelivery",
  "serverCores",
  "serverBusiestThread",
  "rssBaselineKiB",
  "rssConnectedKiB",
  "rssPerConnectionKiB",
  "peakRssMiB",
  "generatorCores",
  "generatorBusiestThread",
  "otherCores",
  "windowBlocked",
  "publishedPerSecond",
  "churnPerSecond",
  "instances",
  "remoteShare",
  "remoteLatencyP50Ms",
  "remoteLatencyP99Ms",
  "latencyPhaseRate",
  "saturatedLatencyP50Ms",
  "saturatedLatencyP99Ms",
  "saturatedLatencyMaxMs",
  "backendCores",
  "backendCpuMicrosPerEvent",
];

function okRuns(row: Row): RunMetrics[] {
  return row.runs.filter((r): r is RunMetrics => !("error" in r));
}

/** Medians over a row's successful runs. */
export function medians(row: Row): Partial<Record<NumericMetric, number>> {
  const runs = okRuns(row);
  const result: Partial<Record<NumericMetric, number>> = {};
  for (const metric of MEDIAN_METRICS) {
    result[metric] = median(runs.map((r) => r[metric]));
  }
  return result;
}

/**
 * Ours / peer for each figure: the median of the ratios of runs made
 * back to back (run i of ours with run i of the peer), which cancels slow
 * drifts of a noisy machine better than a ratio of medians.
 */
export function pairedRatios(
  ours: Row,
  peer: Row,
): Partial<Record<NumericMetric, number>> {
  const result: Partial<Record<NumericMetric, number>> = {};
  const n = Math.min(ours.runs.length, peer.runs.length);
  for (const metric of MEDIAN_METRICS) {
    const ratios: number[] = [];
    for (let i = 0; i < n; i++) {
      const a = ours.runs[i];
      const b = peer.runs[i];
      if ("error" in a || "error" in b) continue;
      const r = a[metric] / b[metric];
      if (Number.isFinite(r)) ratios.push(r);
    }
    result[metric] = median(ratios);
  }
  return result;
}

/** "ok 3/3", or what went wrong. */
export function completeness(row: Row): string {
  const runs = okRuns(row);
  const errors = row.runs.length - runs.length;
  const good = runs.filter((r) => r.complete).length;
  if (good === row.runs.length) return `ok ${good}/${row.runs.length}`;
  return `FAIL ${good}/${row.runs.length}${
    errors ? ` (${errors} errors)` : ""
  }`;
}

/** Details of every incomplete run, for the lines under the table. */
export function failures(row: Row): string[] {
  const lines: string[] = [];
  row.runs.forEach((run, i) => {
    const name = `${row.scenario} ${row.server}/${row.publisher} run ${i + 1}`;
    if ("error" in run) {
      lines.push(`${name}: error: ${run.error.split("\n")[0]}`);
      return;
    }
    if (run.complete) return;
    const parts: string[] = [];
    const add = (label: string, value: number) => {
      if (value) parts.push(`${label} ${value}`);
    };
    add("failed connections", run.failedSubscribers);
    add("missing", run.missing);
    add("duplicates", run.duplicates);
    add("out of order", run.outOfOrder);
    add("unexpected", run.unexpected);
    add("malformed", run.malformed);
    add("closed by server", run.closedByServer);
    add("publish errors", run.publishErrors);
    add("publishers stalled", run.stalledPublishers);
    if (!run.drained) parts.push("not drained");
    for (const [k, v] of Object.entries(run.problems)) parts.push(`${k} ×${v}`);
    lines.push(
      `${name}: of ${run.expected} expected: ${parts.join(", ")}`,
    );
  });
  return lines;
}

function fmt(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  const abs = Math.abs(value);
  if (abs < 0.001) return "0";
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (abs >= 1000) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toPrecision(digits).replace(/\.?0+$/, "") || "0";
}

function ratio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "";
  return ` (${value >= 10 ? value.toFixed(0) : value.toFixed(2)}×)`;
}

function pct(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  return `${Math.round(value * 100)}%`;
}

/** The human table: one line per row; ours / nchan ratios in parentheses. */
export function table(
  rows: readonly Row[],
  ratioOf: (row: Row) => Partial<Record<NumericMetric, number>> | undefined,
): string {
  const header = [
    "scenario",
    "server",
    "pub",
    "subs",
    "deliv/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "complete",
    "CPU µs/deliv",
    "srv cores",
    "srv thr",
    "RSS KiB/conn",
    "peak RSS MiB",
    "accept s",
    "gen cores",
    "gen thr",
    "other",
    "note",
  ];
  const lines: string[][] = [header];
  for (const row of rows) {
    const m = medians(row);
    const r = ratioOf(row);
    const withRatio = (metric: NumericMetric) =>
      fmt(m[metric]) + ratio(r?.[metric]);
    // Window 0: the publisher was never held back.
    const unbounded = okRuns(row).some((run) => run.window === 0);
    const windowNote = unbounded
      ? "no window"
      : `window-bound ${pct(m.windowBlocked)}`;
    let note = "";
    if (row.kind === "churn") {
      note = `${fmt(m.publishedPerSecond)} events/s, ${
        fmt(m.churnPerSecond)
      } subscriptions/s`;
    } else if (row.kind === "idle") {
      note = "srv cores: while idle";
    } else if (row.kind === "cluster") {
      note = `${fmt(m.publishedPerSecond)} events/s, ${windowNote}; ${
        Number.isFinite(m.latencyPhaseRate ?? NaN)
          ? `latency at ${fmt(m.latencyPhaseRate)} events/s`
          : "no latency phase (not drained)"
      }; ${pct(m.remoteShare)} of deliveries remote; Redis ${
        fmt(m.backendCores, 2)
      } cores`;
    } else if (unbounded || Number.isFinite(m.windowBlocked ?? NaN)) {
      note = `${fmt(m.publishedPerSecond)} events/s, ${windowNote}`;
    } else {
      note = `${fmt(m.publishedPerSecond)} events/s`;
    }
    if (row.remark) note += `; ${row.remark}`;
    lines.push([
      row.scenario,
      row.server,
      row.publisher,
      fmt(m.subscribers),
      withRatio("deliveriesPerSecond"),
      withRatio("latencyP50Ms"),
      withRatio("latencyP99Ms"),
      fmt(m.latencyMaxMs),
      completeness(row),
      withRatio("cpuMicrosPerDelivery"),
      fmt(m.serverCores, 2),
      pct(m.serverBusiestThread),
      withRatio("rssPerConnectionKiB"),
      withRatio("peakRssMiB"),
      withRatio("acceptSeconds"),
      fmt(m.generatorCores, 2),
      pct(m.generatorBusiestThread),
      fmt(m.otherCores, 2),
      note,
    ]);
  }
  const widths = header.map((_, i) =>
    Math.max(...lines.map((l) => l[i].length))
  );
  const render = (l: string[]) =>
    l.map((cell, i) =>
      i < 3 || i === l.length - 1
        ? cell.padEnd(widths[i])
        : cell.padStart(widths[i])
    ).join("  ").trimEnd();
  return [
    render(lines[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.slice(1).map(render),
  ].join("\n");
}
