/**
 * Scale-out behind one interface: where event ids and history come from,
 * how a publish reaches subscribers, and how a reconnecting subscriber is
 * replayed what it missed. The hub, the request handler and the inputs call
 * a {@linkcode Broker} and never ask which one it is; the server picks it
 * (memory alone, or Redis with `--redis`). A later broker (Postgres, NATS)
 * is one more implementation.
 *
 * @module
 */

import type { Hub, PublishResult, SubscribeOptions } from "../core/hub.ts";
import type { SseEvent } from "../core/sse_format.ts";
import type { Subscriber } from "../core/subscriber.ts";
import type { HistoryPage } from "../core/history_page.ts";
import type { ClusterCommand } from "./commands.ts";

export type { ClusterCommand };

/** What a channel keeps for replay, for the admin's channel list. */
export interface ChannelHistory {
  readonly name: string;
  /** Events kept. */
  readonly events: number;
  /** The newest kept event's id, null when none is kept. */
  readonly lastEventId: string | null;
}

/** Options of {@linkcode Broker.subscribe}: those of the hub, but `hold`. */
export type BrokerSubscribeOptions = Omit<SubscribeOptions, "hold">;

/** Gives ids, keeps history, fans out and replays. */
export interface Broker {
  /** The hub whose subscribers this instance serves. */
  readonly hub: Hub;
  /**
   * This instance's id among those sharing the broker (new at every
   * start); absent when it is alone (the memory broker).
   */
  readonly instance?: string;
  /**
   * Publishes `events` to `channels`: gives each an id, keeps it for replay
   * and delivers it to this instance's subscribers (at once, or when the
   * broker hands it back). Resolves once the events are stored; rejects
   * with an unavailable error (HTTP 503) when they could not be.
   */
  publish(
    channels: readonly string[],
    events: readonly SseEvent[],
  ): PublishResult | Promise<PublishResult>;
  /**
   * A new subscriber of `channels` (empty: every channel). With
   * `lastEventId`, the events after it come first (or a gap event when
   * they are no longer kept), then live events, each once.
   */
  subscribe(
    channels: readonly string[],
    name: string,
    options: BrokerSubscribeOptions,
  ): Subscriber | Promise<Subscriber>;
  /**
   * The events kept for `channels` (empty: every channel) after
   * `lastEventId` (absent or `earliest`: all of them), oldest first, each
   * once: what a stream opened with that id would be replayed, as one
   * answer. Empty when history is off. Rejects with an unavailable error
   * (HTTP 503) when the history cannot be read.
   */
  history(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): HistoryPage | Promise<HistoryPage>;
  /**
   * Resolves true once the broker can store and replay (at once for the
   * memory broker), false when `timeoutMs` passes first.
   */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** Null when publishes can be stored and replays read, else why not. */
  notReady(): string | null;
  /** Runs a command on every instance, this one included (`halt-all`). */
  broadcast(command: ClusterCommand): Promise<void>;
  /**
   * Reports this instance's subscribers per channel and resolves with those
   * of every other live instance, summed per channel (for `--presence` and
   * the admin's channel list); the memory broker has no others. Rejects
   * with an unavailable error when they cannot be exchanged.
   */
  exchangeCounts(
    local: ReadonlyMap<string, number>,
  ): Promise<ReadonlyMap<string, number>>;
  /**
   * What channels keep for replay: `channel`'s alone when given (an empty
   * list when it keeps nothing), else every channel that keeps anything.
   */
  channelHistory(channel?: string): Promise<ChannelHistory[]>;
  /** Forgets what `channel` keeps; resolves with how many events that was. */
  forgetHistory(channel: string): Promise<number>;
  /** Stops, releasing connections; the hub is closed by its owner. */
  close(): Promise<void>;
}
