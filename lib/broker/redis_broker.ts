/**
 * The broker of several instances sharing Redis (`--redis`): Redis gives
 * the ids and keeps the history; each instance appends its publishes there
 * and delivers to its own subscribers what it reads back from the stream
 * (`cluster.ts`). A reconnecting subscriber joins the live fan-out first,
 * holding live events, and is released once its replay from Redis is in,
 * so nothing is missed between the two and nothing comes twice.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { errorMessage } from "../errors.ts";
import type { Hub, PublishResult } from "../core/hub.ts";
import { gapEvent } from "../core/notices.ts";
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
import {
  type ClusterOptions,
  compareIds,
  isStreamId,
  RedisCluster,
} from "./cluster.ts";
import { decodeCommand, encodeCommand } from "./commands.ts";
import { RedisChannels } from "./redis_channels.ts";

const logger = getLogger(["sse-server", "broker"]);

/** Ids, history and replay in Redis, shared by every instance. */
export class RedisBroker implements Broker {
  readonly hub: Hub;
  readonly #cluster: RedisCluster;
  readonly #channels: RedisChannels;
  /** Whether counts were ever exchanged, so a clean stop withdraws them. */
  #counted = false;
  /** `--history 0`: nothing is answered from history. */
  readonly #historyOff: boolean;

  private constructor(
    hub: Hub,
    cluster: RedisCluster,
    options: Pick<ClusterOptions, "prefix" | "commandTimeoutMs" | "history">,
  ) {
    this.hub = hub;
    this.#cluster = cluster;
    this.#historyOff = options.history === 0;
    this.#channels = new RedisChannels(
      cluster.client,
      options.prefix,
      options.commandTimeoutMs,
    );
  }

  /**
   * Connects (in the background if Redis is not up yet) and starts
   * delivering what the stream holds to `hub`'s subscribers; commands
   * read from the stream go to `onCommand`, those this version does not
   * know are logged and ignored.
   */
  static start(
    options: Omit<ClusterOptions, "onCommand"> & {
      readonly onCommand: (command: ClusterCommand) => void;
    },
    hub: Hub,
  ): RedisBroker {
    const cluster = RedisCluster.start({
      ...options,
      onCommand: (text) => {
        const command = decodeCommand(text);
        if (command) options.onCommand(command);
        else logger.warn("Redis: unknown command {text} ignored", { text });
      },
    }, hub);
    return new RedisBroker(hub, cluster, options);
  }

  /** This instance's id among those sharing Redis. */
  get instance(): string {
    return this.#channels.instance;
  }

  /** Appends to Redis; the count is of this instance's subscribers. */
  async publish(
    channels: readonly string[],
    events: readonly SseEvent[],
  ): Promise<PublishResult> {
    const ids = await this.#cluster.append(channels, events);
    return {
      events: events.length,
      clients: this.hub.countSubscribers(channels),
      ids,
    };
  }

  async subscribe(
    channels: readonly string[],
    name: string,
    options: BrokerSubscribeOptions,
  ): Promise<Subscriber> {
    const { lastEventId } = options;
    if (lastEventId === undefined) {
      return this.hub.subscribe(channels, name, options);
    }
    const subscriber = this.hub.subscribe(channels, name, {
      ...options,
      lastEventId: undefined,
      hold: true,
    });
    const { entries, isNew } = await this.#replay(channels, lastEventId);
    subscriber.release(entries, isNew, Date.now());
    return subscriber;
  }

  /**
   * Read from Redis as a reconnecting stream's replay is, so both say the
   * same; with `--history 0` nothing, as the channel streams keep nothing
   * (the global stream, which all channels would read, is not history).
   */
  async history(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): Promise<HistoryPage> {
    if (this.#historyOff) return NO_HISTORY;
    return historyPage(
      await this.#cluster.replay(channels, lastEventId ?? EARLIEST),
      lastEventId,
    );
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    return this.#cluster.waitConnected(timeoutMs);
  }

  notReady(): string | null {
    return this.#cluster.connected ? null : "Redis is not connected";
  }

  broadcast(command: ClusterCommand): Promise<void> {
    return this.#cluster.broadcast(encodeCommand(command));
  }

  exchangeCounts(
    local: ReadonlyMap<string, number>,
  ): Promise<ReadonlyMap<string, number>> {
    this.#counted = true;
    return this.#channels.exchangeCounts(local);
  }

  channelHistory(channel?: string): Promise<ChannelHistory[]> {
    return this.#channels.channelHistory(channel);
  }

  forgetHistory(channel: string): Promise<number> {
    return this.#channels.forgetHistory(channel);
  }

  async close(): Promise<void> {
    // Others stop counting this instance's subscribers at once, not when
    // its counts expire.
    if (this.#counted && this.#cluster.connected) {
      await this.#channels.withdraw().catch((error) => {
        logger.warn("Redis: counts not withdrawn: {error}", {
          error: errorMessage(error),
        });
      });
    }
    return this.#cluster.close();
  }

  /**
   * A reconnecting client's missed events, gap event first when there is
   * one, and which live events are new to it. When Redis cannot be read,
   * the client gets a gap event (reason "unavailable") and live events.
   */
  async #replay(
    channels: readonly string[],
    lastEventId: string,
  ): Promise<{
    entries: readonly { bytes: Uint8Array; id?: string }[];
    isNew: (id: string | undefined) => boolean;
  }> {
    try {
      const { entries, gap } = await this.#cluster.replay(
        channels,
        lastEventId,
      );
      // An id Redis does not know is no position: live events are not
      // judged against it (one from the future would hide them all).
      const newest = entries.at(-1)?.id ??
        (gap === "unknown id" || !isStreamId(lastEventId)
          ? undefined
          : lastEventId);
      return {
        entries: gap
          ? [{ bytes: gapEvent(lastEventId, gap) }, ...entries]
          : entries,
        isNew: (id) =>
          id === undefined || newest === undefined ||
          compareIds(id, newest) > 0,
      };
    } catch (error) {
      logger.warn("replay for {id} failed: {error}", {
        id: lastEventId,
        error: errorMessage(error),
      });
      // Redis could not say: an id is trusted as a position only if it is
      // one and not from the future (ids start with their time in ms).
      const known = isStreamId(lastEventId) &&
        Number(lastEventId.split("-")[0]) <= Date.now() + 60_000;
      return {
        entries: [{ bytes: gapEvent(lastEventId, "unavailable") }],
        isNew: (id) =>
          id === undefined || !known || compareIds(id, lastEventId) > 0,
      };
    }
  }
}
