/**
 * The broker of a single instance: the hub gives ids and keeps the history
 * itself, so publishing and replaying are synchronous.
 *
 * @module
 */

import type { Hub, PublishResult } from "../core/hub.ts";
import type { SseEvent } from "../core/sse_format.ts";
import type { Subscriber } from "../core/subscriber.ts";
import type { Broker, BrokerSubscribeOptions } from "./broker.ts";
import { EARLIEST } from "../core/history.ts";
import {
  type HistoryPage,
  historyPage,
  NO_HISTORY,
} from "../core/history_page.ts";

/** Ids, history and replay in this process's memory. */
export class MemoryBroker implements Broker {
  readonly hub: Hub;
  readonly #onCommand: (command: string) => void;

  /** `onCommand` runs what {@linkcode MemoryBroker.broadcast} sends. */
  constructor(hub: Hub, onCommand: (command: string) => void) {
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

  broadcast(command: string): Promise<void> {
    this.#onCommand(command);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
