/**
 * What the server reports of itself, built from one {@linkcode ServerView}:
 * the status report (`/status`, the `status` command), the metrics
 * (`/metrics`) and the recent events the dashboard lists. The server keeps
 * the counters; this module only reads them.
 *
 * @module
 */

import type { ServerConfig } from "../config/server_config.ts";
import { OPTION_TABLE, type OptionName } from "../config/option_table.ts";
import { redactRedisUrl } from "../broker/redis_url.ts";
import type { Hub } from "../core/hub.ts";
import type { Source } from "../core/dispatch.ts";
import type { SseEvent } from "../core/sse_format.ts";
import { VERSION } from "../version.ts";
import { type MetricsSnapshot, TOP_CHANNELS } from "./metrics.ts";
import type { ClientStatus, ControllerStatus, StatusReport } from "./status.ts";

/** A published event as the dashboard lists it (data shortened). */
export interface RecentEvent {
  readonly time: number;
  readonly input: Source["kind"];
  readonly channels: readonly string[];
  readonly type: string;
  readonly data: string;
  readonly id: string | null;
}

/** How many recent events the dashboard is shown. */
const RECENT_EVENTS = 30;

/** The last events published, newest last, at most `RECENT_EVENTS`. */
export class RecentEvents {
  #events: RecentEvent[] = [];

  /** Remembers a publish (its data shortened to 120 characters). */
  add(
    input: Source["kind"],
    channels: readonly string[],
    events: readonly SseEvent[],
    ids: readonly (string | undefined)[],
    time: number = Date.now(),
  ): void {
    events.forEach((event, i) => {
      this.#events.push({
        time,
        input,
        channels,
        type: event.type,
        data: event.data.length > 120
          ? event.data.slice(0, 120) + "…"
          : event.data,
        id: ids[i] ?? null,
      });
    });
    if (this.#events.length > RECENT_EVENTS) {
      this.#events.splice(0, this.#events.length - RECENT_EVENTS);
    }
  }

  /** The events remembered, oldest first. */
  list(): readonly RecentEvent[] {
    return this.#events;
  }
}

/** What the reports read of a running server. */
export interface ServerView {
  readonly hub: Hub;
  readonly startedAt: Date;
  /** Events published so far, by input. */
  readonly published: Readonly<Record<Source["kind"], number>>;
  readonly authFailures: number;
  /** The last events published, oldest first. */
  readonly recent: readonly RecentEvent[];
  /** The configuration the server started with. */
  readonly options: ServerConfig;
  controllers(): ControllerStatus[];
}

/**
 * The configuration as reports show it: every option the table does not
 * mark secret, a Redis URL without its password, and only whether TLS and
 * credentials are configured.
 */
export function publicOptions(config: ServerConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTION_TABLE)) {
    if (!("secret" in spec && spec.secret)) {
      shown[name] = config[name as OptionName];
    }
  }
  const { auth } = config;
  return {
    ...shown,
    redis: config.redis === undefined
      ? undefined
      : redactRedisUrl(config.redis),
    tls: config.tls !== undefined,
    publishToken: auth?.publishToken !== undefined,
    jwt: auth?.jwtSecret !== undefined || auth?.jwtPublicKey !== undefined,
    subscribeAuth: auth?.subscribeAuth ?? false,
  };
}

/**
 * Everything the server reports of itself at one moment: `/status`,
 * `/metrics`, the dashboard and the `status` command each read one of
 * these, built once per request or tick.
 */
export interface Snapshot {
  readonly time: number;
  /** The status report (`clients` empty when not asked for). */
  readonly status: StatusReport;
  readonly metrics: MetricsSnapshot;
  /** The last events published, oldest first. */
  readonly recent: readonly RecentEvent[];
}

/**
 * Takes a snapshot in one pass over the subscribers; the list of clients
 * (one entry per subscriber) only when `clients` is set, since the
 * dashboard and `/metrics` need only counts.
 */
export function takeSnapshot(
  view: ServerView,
  eventLoopLagSeconds: number,
  { clients = true }: { readonly clients?: boolean } = {},
): Snapshot {
  const { hub } = view;
  const controllers = view.controllers();
  const stats = hub.stats;
  const byCount: Record<string, number> = {
    all: 0,
    "1": 0,
    "2": 0,
    "3": 0,
    "4+": 0,
  };
  const list: ClientStatus[] = [];
  for (const sub of hub.subscribers()) {
    const n = sub.channels.length;
    byCount[n === 0 ? "all" : n >= 4 ? "4+" : String(n)]++;
    if (!clients) continue;
    list.push({
      id: sub.id,
      remoteAddr: sub.remoteAddr,
      connectedAt: new Date(sub.connectedAt).toISOString(),
      channels: sub.channels,
      lastEventId: sub.lastEventId ?? null,
      user: sub.user ?? null,
      eventsSent: sub.eventsQueued,
      bytesSent: sub.bytesSent,
      bytesQueued: sub.queuedBytes,
    });
  }
  const published = { ...view.published };
  const totals = {
    clients: hub.size,
    controllers: controllers.length,
    channels: hub.channelCount,
    historyEvents: hub.history.size,
    published,
    deliveries: stats.deliveries,
    bytesSent: stats.bytesSent,
    slowConsumers: stats.slowConsumers,
  };
  return {
    time: Date.now(),
    status: {
      server: {
        version: VERSION,
        pid: Deno.pid,
        startedAt: view.startedAt.toISOString(),
        options: publicOptions(view.options),
      },
      totals,
      controllers,
      clients: list,
    },
    metrics: {
      subscribersByChannelCount: byCount,
      topChannels: [...hub.channelSizes()]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, TOP_CHANNELS),
      channels: totals.channels,
      controllers: totals.controllers,
      published,
      deliveries: totals.deliveries,
      bytesSent: totals.bytesSent,
      slowConsumers: totals.slowConsumers,
      backlogBytes: hub.backlog.bytes,
      pushbacks: hub.backlog.pushbacks,
      authFailures: view.authFailures,
      historyEvents: totals.historyEvents,
      eventLoopLagSeconds,
      startTimeSeconds: view.startedAt.getTime() / 1000,
    },
    recent: view.recent,
  };
}
