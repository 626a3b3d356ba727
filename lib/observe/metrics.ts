/**
 * Prometheus metrics in the text exposition format (version 0.0.4), for the
 * admin port's `/metrics`. Names follow Prometheus conventions:
 * `sse_server_` prefix, `_total` for counters, base units (seconds, bytes).
 *
 * @module
 */

/** The figures `/metrics` exposes. */
export interface MetricsSnapshot {
  /** Connected subscribers by how many channels they are on ("all" for every channel). */
  readonly subscribersByChannelCount: Readonly<Record<string, number>>;
  /** The channels with the most subscribers, largest first (bounded). */
  readonly topChannels: readonly (readonly [string, number])[];
  readonly channels: number;
  readonly controllers: number;
  /** Events published, by input. */
  readonly published: Readonly<Record<string, number>>;
  readonly deliveries: number;
  readonly bytesSent: number;
  readonly slowConsumers: number;
  /** Bytes owed to subscribers that read (queued or being written). */
  readonly backlogBytes: number;
  /** Times publishers were made to wait for the backlog to shrink. */
  readonly pushbacks: number;
  readonly authFailures: number;
  readonly historyEvents: number;
  readonly eventLoopLagSeconds: number;
  readonly startTimeSeconds: number;
}

/** How many channels `/metrics` lists by name, to bound label cardinality. */
export const TOP_CHANNELS = 20;

/** Renders the snapshot as Prometheus text. */
export function renderMetrics(m: MetricsSnapshot): string {
  const out: string[] = [];
  const metric = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: readonly (readonly [Record<string, string>, number])[],
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const keys = Object.keys(labels);
      const text = keys.length === 0
        ? ""
        : `{${keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",")}}`;
      out.push(`${name}${text} ${formatValue(value)}`);
    }
  };
  metric(
    "sse_server_subscribers",
    "gauge",
    "Connected subscribers, by the number of channels they are on (all: every channel).",
    Object.entries(m.subscribersByChannelCount).map((
      [channels, n],
    ) => [{ channels }, n]),
  );
  metric(
    "sse_server_channel_subscribers",
    "gauge",
    `Subscribers per channel, for the ${TOP_CHANNELS} channels with the most.`,
    m.topChannels.map(([channel, n]) => [{ channel }, n]),
  );
  metric(
    "sse_server_channels",
    "gauge",
    "Channels with at least one subscriber.",
    [
      [{}, m.channels],
    ],
  );
  metric(
    "sse_server_controllers",
    "gauge",
    "Open control-port connections and FIFOs.",
    [
      [{}, m.controllers],
    ],
  );
  metric(
    "sse_server_events_published_total",
    "counter",
    "Events published, by input.",
    Object.entries(m.published).map(([input, n]) => [{ input }, n]),
  );
  metric(
    "sse_server_deliveries_total",
    "counter",
    "Events queued for subscribers (one event to one subscriber counts one).",
    [[{}, m.deliveries]],
  );
  metric(
    "sse_server_sent_bytes_total",
    "counter",
    "Bytes handed to subscriber connections.",
    [
      [{}, m.bytesSent],
    ],
  );
  metric(
    "sse_server_slow_consumers_total",
    "counter",
    "Subscribers dropped for not reading fast enough.",
    [[{}, m.slowConsumers]],
  );
  metric(
    "sse_server_backlog_bytes",
    "gauge",
    "Bytes queued for or being written to subscribers that read (see --max-backlog).",
    [[{}, m.backlogBytes]],
  );
  metric(
    "sse_server_pushbacks_total",
    "counter",
    "Times publishers were made to wait because the backlog was over --max-backlog.",
    [[{}, m.pushbacks]],
  );
  metric(
    "sse_server_auth_failures_total",
    "counter",
    "Credentials refused (publishers, subscribers, admin).",
    [[{}, m.authFailures]],
  );
  metric(
    "sse_server_history_events",
    "gauge",
    "Events kept for Last-Event-ID replay.",
    [
      [{}, m.historyEvents],
    ],
  );
  metric(
    "sse_server_event_loop_lag_seconds",
    "gauge",
    "How late the last event-loop timer fired.",
    [[{}, m.eventLoopLagSeconds]],
  );
  metric(
    "sse_server_start_time_seconds",
    "gauge",
    "Start time, in seconds since the epoch.",
    [
      [{}, m.startTimeSeconds],
    ],
  );
  return out.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll(
    "\n",
    "\\n",
  );
}

function formatValue(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : "NaN";
}
