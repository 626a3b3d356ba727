/**
 * The benchmark's scenarios, full size and `--quick`.
 *
 * @module
 */

import { prng } from "./stats.ts";

export type ScenarioKind =
  | "fanout"
  | "steady"
  | "channels"
  | "idle"
  | "churn"
  | "cluster"
  | "flood";

export interface Scenario {
  readonly name: string;
  readonly kind: ScenarioKind;
  readonly description: string;
  /** Steady subscribers of each channel `c0`, `c1`, …; each is on one. */
  readonly layout: readonly number[];
  /** Events per second; absent: as fast as the server takes them. */
  readonly rate?: number;
  /** How long events are published. */
  readonly durationMs: number;
  /** Idle: how long the connections are held before memory is read. */
  readonly holdMs?: number;
  /** Churn: subscribers that come and go, each in its own slot. */
  readonly churnSlots?: number;
  readonly dwellMinMs?: number;
  readonly dwellMaxMs?: number;
  /** Churn: an event sent this long before a subscriber left must reach it. */
  readonly graceMs?: number;
  /**
   * Cluster: sse-server instances sharing one Redis; subscriber `i` is on
   * instance `i mod instances`, events are published on the first.
   */
  readonly instances?: number;
  /**
   * Cluster: after the saturating phase, a second phase publishing this
   * many events per second for `latencyMs`, whose latency is the one
   * reported (a saturated publisher's latency is its queue).
   */
  readonly latencyRate?: number;
  readonly latencyMs?: number;
  /**
   * The window when `--window` is not given. The cluster's fan-out is far
   * slower than one instance's, and a window of 1,000 events would queue
   * tens of seconds for its 3,000 subscribers on a small machine. 0 (flood)
   * is kept whatever `--window` says: publishing without a window is what
   * that scenario measures.
   */
  readonly window?: number;
  /**
   * Only run when named by `--scenario`, not by default (flood: its memory
   * can reach gigabytes, and today's server does not drain it in time).
   */
  readonly optIn?: boolean;
}

export interface ScenarioOptions {
  readonly quick: boolean;
  /** Overrides every scenario's number of subscribers. */
  readonly subscribers?: number;
  /** Overrides every publishing phase's duration. */
  readonly durationMs?: number;
}

export const SCENARIO_KINDS: readonly ScenarioKind[] = [
  "fanout",
  "steady",
  "channels",
  "idle",
  "churn",
  "cluster",
  "flood",
];

/** Between 1 and 10 subscribers on each channel, the same every run. */
function channelLayout(channels: number): number[] {
  const random = prng(42);
  return Array.from({ length: channels }, () => 1 + Math.floor(random() * 10));
}

function label(n: number): string {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** Every scenario, in the order they run (opt-in ones included). */
export function buildScenarios(options: ScenarioOptions): Scenario[] {
  const quick = options.quick;
  const n = options.subscribers ?? (quick ? 200 : undefined);
  const d = (full: number, short: number) =>
    options.durationMs ?? (quick ? short : full);
  const fanoutSizes = n === undefined ? [1000, 10_000] : [n];
  const big = n ?? 10_000;
  const channels = Math.max(1, Math.round((n ?? 5500) / 5.5));
  const churnSteady = Math.max(1, Math.round((n ?? 2000) / 2));
  const list: Scenario[] = [];
  for (const size of fanoutSizes) {
    list.push({
      name: fanoutSizes.length > 1 ? `fanout-${label(size)}` : "fanout",
      kind: "fanout",
      description:
        `1 channel, ${size} subscribers, events as fast as the server takes them`,
      layout: [size],
      durationMs: d(5000, 1500),
    });
  }
  list.push({
    name: "steady",
    kind: "steady",
    description: `1 channel, ${big} subscribers, 5 events/s`,
    layout: [big],
    rate: 5,
    durationMs: d(10_000, 2000),
  });
  const layout = channelLayout(channels);
  list.push({
    name: "channels",
    kind: "channels",
    description: `${channels} channels, 1 to 10 subscribers each (${
      layout.reduce((a, b) => a + b, 0)
    } in all), events round-robin over the channels as fast as the server takes them`,
    layout,
    durationMs: d(5000, 1500),
  });
  // Per-user channels: an application backend publishing one event per
  // user action to a channel its user has open in two tabs.
  const users = Math.max(1, Math.round((n ?? 10_000) / 2));
  list.push({
    name: "users",
    kind: "channels",
    description: `${users} channels, 2 subscribers each (${
      2 * users
    } in all), one event per request round-robin over the channels as fast as the server takes them`,
    layout: Array.from({ length: users }, () => 2),
    durationMs: d(5000, 1500),
  });
  list.push({
    name: "idle",
    kind: "idle",
    description: `${big} connections held without events (memory)`,
    layout: [big],
    durationMs: 0,
    holdMs: quick ? 1000 : 5000,
  });
  list.push({
    name: "churn",
    kind: "churn",
    description: `${churnSteady} steady subscribers and ${churnSteady} slots ` +
      `of subscribers staying ${
        quick ? "0.1-1.5" : "0.3-3"
      } s each, 50 events/s on 1 channel`,
    layout: [churnSteady],
    rate: 50,
    durationMs: d(10_000, 2000),
    churnSlots: churnSteady,
    dwellMinMs: quick ? 100 : 300,
    dwellMaxMs: quick ? 1500 : 3000,
    graceMs: quick ? 1000 : 2000,
  });
  const instances = 3;
  const clusterSubs = options.subscribers ?? (quick ? 300 : 3000);
  const clusterPhase = d(5000, 1500);
  const latencyRate = 20;
  list.push({
    name: "cluster",
    kind: "cluster",
    description: `${instances} instances sharing one Redis, 1 channel, ` +
      `${clusterSubs} subscribers spread evenly over them, events published ` +
      `on one instance: as fast as the instances take them for ${
        clusterPhase / 1000
      } s, then ${latencyRate} events/s for ${clusterPhase / 1000} s`,
    layout: [clusterSubs],
    durationMs: clusterPhase,
    instances,
    latencyRate,
    latencyMs: clusterPhase,
    window: 100,
  });
  // Publishers that do not hold back: what the server does with more than
  // its subscribers can take (queues, memory, dropped subscribers).
  const floodSubs = options.subscribers ?? (quick ? 1000 : 10_000);
  list.push({
    name: "flood",
    kind: "flood",
    description: `1 channel, ${floodSubs} subscribers, events as fast as ` +
      `the server takes them without a window (publishers never wait for ` +
      `subscribers)`,
    layout: [floodSubs],
    durationMs: d(5000, 1500),
    window: 0,
    optIn: true,
  });
  return list;
}

/**
 * Scenarios picked by `--scenario` (a kind, or an exact name); without it,
 * all but the opt-in ones.
 */
export function selectScenarios(
  all: readonly Scenario[],
  wanted: readonly string[],
): Scenario[] {
  if (wanted.length === 0) return all.filter((s) => !s.optIn);
  const unknown = wanted.filter((w) =>
    !all.some((s) => s.name === w || s.kind === w)
  );
  if (unknown.length > 0) {
    throw new Error(
      `unknown scenario ${unknown.join(", ")} (known: ${
        [...new Set([...SCENARIO_KINDS, ...all.map((s) => s.name)])].join(", ")
      })`,
    );
  }
  return all.filter((s) => wanted.includes(s.name) || wanted.includes(s.kind));
}

/** Subscribers a scenario holds at most (steady plus churn slots). */
export function connectionsOf(scenario: Scenario): number {
  return scenario.layout.reduce((a, b) => a + b, 0) +
    (scenario.churnSlots ?? 0);
}
