/**
 * The status report: one description of the running server, served as JSON
 * on the admin port's `/status` and written into the log by the `status`
 * command, so both speak the same terms.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";

/** A client as the report shows it. */
export interface ClientStatus {
  readonly id: number;
  readonly remoteAddr: string;
  readonly connectedAt: string;
  /** Channels subscribed to; empty means every channel. */
  readonly channels: readonly string[];
  readonly lastEventId: string | null;
  /**
   * Who the client is (the `user` the `--auth-url` application named, else
   * the JWT `sub`), null when unknown.
   */
  readonly user: string | null;
  readonly eventsSent: number;
  readonly bytesSent: number;
  readonly bytesQueued: number;
}

/** A source of instructions: the FIFO or a control-port peer. */
export interface ControllerStatus {
  readonly kind: "fifo" | "control";
  /** The FIFO's path or the peer's address. */
  readonly name: string;
}

/** Everything `/status` reports. */
export interface StatusReport {
  readonly server: {
    readonly version: string;
    readonly pid: number;
    readonly startedAt: string;
    /** The options in force; never secrets (TLS material shows as true). */
    readonly options: Readonly<Record<string, unknown>>;
  };
  readonly totals: {
    readonly clients: number;
    readonly controllers: number;
    readonly channels: number;
    readonly historyEvents: number;
    /** Events published, by input. */
    readonly published: Readonly<Record<string, number>>;
    readonly deliveries: number;
    readonly bytesSent: number;
    readonly slowConsumers: number;
  };
  readonly controllers: readonly ControllerStatus[];
  readonly clients: readonly ClientStatus[];
}

/** Writes a report into the log: a summary line, then a line per peer. */
export function logStatus(logger: Logger, report: StatusReport): void {
  const t = report.totals;
  logger.info(
    "status: {controllers} controllers, {clients} clients, {channels} channels, {history} events kept, {deliveries} deliveries, {slow} slow consumers dropped",
    {
      controllers: t.controllers,
      clients: t.clients,
      channels: t.channels,
      history: t.historyEvents,
      deliveries: t.deliveries,
      slow: t.slowConsumers,
    },
  );
  for (const c of report.controllers) {
    logger.info("  controller {kind} {name}", { kind: c.kind, name: c.name });
  }
  for (const c of report.clients) {
    logger.info(
      "  client {id} {addr} channels {channels} since {since}, last event {last}, {events} events, {sent} bytes sent, {queued} bytes queued",
      {
        id: c.id,
        addr: c.remoteAddr,
        channels: c.channels.length === 0 ? "(all)" : c.channels.join(","),
        since: c.connectedAt,
        last: c.lastEventId ?? "-",
        events: c.eventsSent,
        sent: c.bytesSent,
        queued: c.bytesQueued,
      },
    );
  }
}
