/**
 * The broker of a single instance: the hub gives ids and keeps the history
 * itself, so publishing and replaying are synchronous.
 *
 * @module
 */

import type { Hub, PublishResult } from "../core/hub.ts";
import type { SseEvent } from "../core/sse_format.ts";
import type { Subscriber } from "../core/subscriber.ts";
import type {
  Broker,
  BrokerSubscribeOptions,
  ChannelHistory,
  ClusterCommand,
} from "./broker.ts";
import { EARLIEST } from "../core/history.ts";
import {
  type HistoryPage,
  historyPage,
  NO_HISTORY,
} from "../core/history_page.ts";

/** Ids, history and replay in this process's memory. */
export class MemoryBroker implements Broker {
  readonly hub: Hub;
  readonly #onCommand: (command: ClusterCommand) => void;

  /** `onCommand` runs what {@linkcode MemoryBroker.broadcast} sends. */
  constructor(hub: Hub, onCommand: (command: ClusterCommand) => void) {
    this.hub = hub;
    this.#onCommand = onCommand;
  }

  publish(
    channels: readonly string[],
    events: readonly SseEvent[],
  ): PublishResult {
    return this.hub.publish(channels, events);
  }

  subscribe(
    channels: readonly string[],
    name: string,
    options: BrokerSubscribeOptions,
  ): Subscriber {
    return this.hub.subscribe(channels, name, options);
  }

  history(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): HistoryPage {
    const history = this.hub.history;
    if (!history.enabled) return NO_HISTORY;
    return historyPage(
      history.replay(channels, lastEventId ?? EARLIEST),
      lastEventId,
    );
  }

  waitReady(): Promise<boolean> {
    return Promise.resolve(true);
  }

  notReady(): null {
    return null;
  }

  broadcast(command: ClusterCommand): Promise<void> {
    this.#onCommand(command);
    return Promise.resolve();
  }

  /** There is no other instance: nothing to add. */
  exchangeCounts(
    _local: ReadonlyMap<string, number>,
  ): Promise<ReadonlyMap<string, number>> {
    return Promise.resolve(new Map());
  }

  channelHistory(channel?: string): Promise<ChannelHistory[]> {
    const all = [...this.hub.history.channels()];
    return Promise.resolve(
      channel === undefined ? all : all.filter((c) => c.name === channel),
    );
  }

  forgetHistory(channel: string): Promise<number> {
    return Promise.resolve(this.hub.history.clear(channel));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
