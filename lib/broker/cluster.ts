/**
 * Scale-out through Redis Streams (`--redis`): several instances share
 * channels, ids and history.
 *
 * Keys (prefix `sse`):
 * - `sse:events`: every event of every instance, in order; each instance
 *   tails it with `XREAD BLOCK` and fans out what it reads, its own events
 *   included. It is trimmed to the history age (and at most 1,000,000
 *   entries) and is what an instance resumes from after losing Redis.
 * - `sse:c:CHANNEL`: the channel's history for `Last-Event-ID` replay, with
 *   the same ids, trimmed to `--history` entries and `--history-age`.
 *
 * A publish is one Lua script, so the event gets one id from Redis and lands
 * in the global stream and every channel stream atomically. Publishing is
 * acknowledged only after that script ran; when Redis cannot be reached it
 * fails with {@linkcode ClusterUnavailableError} and nothing is published.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createClient } from "redis";
import { timeLimited } from "./time_limit.ts";
import { errorMessage, UnavailableError } from "../errors.ts";
import type { Hub } from "../core/hub.ts";
import { InstructionError } from "../protocol/instruction.ts";
import { encodeEvent, type SseEvent } from "../core/sse_format.ts";
import { EARLIEST } from "../core/history.ts";

const logger = getLogger(["sse-server", "cluster"]);

type Client = ReturnType<typeof createClient>;

/** Redis cannot be reached: the publish was not accepted (HTTP 503). */
export class ClusterUnavailableError extends UnavailableError {
  override name = "ClusterUnavailableError";
}

/** Settings of a {@linkcode RedisCluster}. */
export interface ClusterOptions {
  /** `redis://HOST:PORT/DB` or `rediss://…` for TLS. */
  readonly url: string;
  /** Password, when not in the URL. */
  readonly password?: string;
  /** Events kept per channel. */
  readonly history: number;
  readonly historyAgeMs: number;
  /** Key prefix (default `sse`). */
  readonly prefix?: string;
  /** Runs a cluster-wide command read from the stream (`halt`). */
  readonly onCommand: (command: string) => void;
  /**
   * Time for Redis to answer a publish, a replay or a command (default
   * 2 s): past it the publisher gets 503 and a replay a gap "unavailable",
   * never a hang while Redis is frozen.
   */
  readonly commandTimeoutMs?: number;
}

/** A replay read from Redis. */
export interface ClusterReplay {
  readonly entries: { bytes: Uint8Array; id: string }[];
  readonly gap?: "unknown id" | "expired";
}

// Appends each event to the global stream and to each of its channels'
// streams under the same id, then trims by count and age. Trimming deletes
// entries one by one (XDEL, not MAXLEN/MINID) so that Redis records the
// highest deleted id, which is how a replay knows something was lost.
// ARGV: history, age (ms), event count, then per event: channels (JSON),
// type, data.
const APPEND_SCRIPT = `
local history = tonumber(ARGV[1])
local age = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local t = redis.call('TIME')
local cutoff = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - age
local function trim(key, keep)
  local excess = redis.call('XLEN', key) - keep
  if excess > 0 then
    for _, entry in ipairs(redis.call('XRANGE', key, '-', '+', 'COUNT', excess)) do
      redis.call('XDEL', key, entry[1])
    end
  end
  for _, entry in ipairs(redis.call('XRANGE', key, '-', '(' .. cutoff .. '-0', 'COUNT', 1000)) do
    redis.call('XDEL', key, entry[1])
  end
end
local ids = {}
local prefix = KEYS[2]
for i = 0, count - 1 do
  local channels = ARGV[4 + i * 3]
  local etype = ARGV[5 + i * 3]
  local data = ARGV[6 + i * 3]
  local id = redis.call('XADD', KEYS[1], '*', 'c', channels, 't', etype, 'd', data)
  for _, channel in ipairs(cjson.decode(channels)) do
    local key = prefix .. channel
    redis.call('XADD', key, id, 't', etype, 'd', data)
    trim(key, history)
  end
  ids[#ids + 1] = id
end
trim(KEYS[1], 1000000)
return ids
`;

const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;

/** Whether `id` is a Redis stream id (`ms-seq`), as every id here is. */
export function isStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

/** Orders Redis stream ids; both must match `ms-seq`. */
export function compareIds(a: string, b: string): number {
  const [, am, as] = STREAM_ID.exec(a)!;
  const [, bm, bs] = STREAM_ID.exec(b)!;
  return BigInt(am) === BigInt(bm)
    ? Number(BigInt(as) - BigInt(bs))
    : BigInt(am) < BigInt(bm)
    ? -1
    : 1;
}

/**
 * The connection to Redis: publishing, replay and the tail of the global
 * stream that feeds the local hub. {@linkcode RedisCluster.close} stops the
 * tail and closes both connections.
 */
export class RedisCluster implements AsyncDisposable {
  readonly #options: ClusterOptions;
  readonly #hub: Hub;
  readonly #client: Client;
  readonly #reader: Client;
  readonly #global: string;
  readonly #channelPrefix: string;
  // Follow from this instance's start: events accepted by others while it
  // was still connecting are delivered too.
  #lastId = `${Date.now()}-0`;
  #closed = false;
  #following = false;
  #tail: Promise<void> = Promise.resolve();
  #wake: (() => void) | null = null;

  private constructor(options: ClusterOptions, hub: Hub) {
    this.#options = options;
    this.#hub = hub;
    const prefix = options.prefix ?? "sse";
    this.#global = `${prefix}:events`;
    this.#channelPrefix = `${prefix}:c:`;
    const common = {
      url: options.url,
      password: options.password,
      // Fail at once while disconnected: a publisher must hear it now.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        // Backoff: 100 ms doubling to 5 s, for ever.
        reconnectStrategy: (retries: number) =>
          Math.min(5000, 100 * 2 ** Math.min(retries, 6)),
      },
    };
    this.#client = createClient(common);
    this.#reader = createClient(common);
    let reported = false;
    for (const client of [this.#client, this.#reader]) {
      client.on("error", (error: unknown) => {
        if (!reported) {
          logger.error("Redis: {error}; retrying", {
            error: errorMessage(error),
          });
          reported = true;
        }
      });
      client.on("ready", () => {
        if (reported) logger.info("Redis: connected again");
        reported = false;
      });
    }
  }

  /**
   * Connects (in the background if Redis is not up yet: publishers get 503
   * until it is) and starts tailing the global stream.
   */
  static start(options: ClusterOptions, hub: Hub): RedisCluster {
    const cluster = new RedisCluster(options, hub);
    cluster.#tail = cluster.#run();
    return cluster;
  }

  /**
   * Appends events for `channels` (empty: no channel) and returns their ids
   * once Redis has them. Throws {@linkcode ClusterUnavailableError} when
   * Redis cannot be reached.
   */
  async append(
    channels: readonly string[],
    events: readonly SseEvent[],
  ): Promise<string[]> {
    if (events.some((event) => event.id !== undefined)) {
      throw new InstructionError(
        "with --redis, event ids come from Redis; a publisher cannot set them",
      );
    }
    const args = [
      String(this.#options.history),
      String(Math.round(this.#options.historyAgeMs)),
      String(events.length),
    ];
    const json = JSON.stringify(
      channels.length === 0 ? [""] : [...new Set(channels)],
    );
    for (const event of events) args.push(json, event.type, event.data);
    try {
      return await this.#timed(
        this.#client.eval(APPEND_SCRIPT, {
          keys: [this.#global, this.#channelPrefix],
          arguments: args,
        }) as Promise<string[]>,
      );
    } catch (error) {
      if (error instanceof ClusterUnavailableError) throw error;
      throw new ClusterUnavailableError(
        `Redis did not accept the event: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  /** The command connection, shared with `redis_channels.ts`. */
  get client(): Client {
    return this.#client;
  }

  /** Whether both connections to Redis are up. */
  get connected(): boolean {
    return this.#client.isReady && this.#reader.isReady;
  }

  /** Sends a command to every instance through the stream. */
  async broadcast(command: string): Promise<void> {
    try {
      await this.#timed(
        this.#client.xAdd(this.#global, "*", { cmd: command }),
      );
    } catch (error) {
      if (error instanceof ClusterUnavailableError) throw error;
      throw new ClusterUnavailableError(
        `Redis did not accept the command: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Everything after `lastEventId` on `channels` (empty: every channel),
   * oldest first, each event once; a gap when some of it is gone.
   */
  replay(
    channels: readonly string[],
    lastEventId: string,
  ): Promise<ClusterReplay> {
    return this.#timed(this.#replay(channels, lastEventId));
  }

  async #replay(
    channels: readonly string[],
    lastEventId: string,
  ): Promise<ClusterReplay> {
    // "earliest": everything kept, from the start, with no gap.
    const earliest = lastEventId === EARLIEST;
    let known = STREAM_ID.test(lastEventId);
    const keys = channels.length === 0
      ? [this.#global]
      : [...new Set(channels)].map((c) => this.#channelPrefix + c);
    const byId = new Map<string, { bytes: Uint8Array; id: string }>();
    let expired = false;
    try {
      // An id beyond any Redis ever gave (it lost its data, restarted
      // without persistence) is unknown, not a position to replay from.
      if (known) {
        const last = (await this.#info(this.#global))?.lastGenerated;
        known = last !== undefined && compareIds(lastEventId, last) <= 0;
      }
      for (const key of keys) {
        const from = known ? `(${lastEventId}` : "-";
        for (
          const { id, message }
            of (await this.#client.xRange(key, from, "+")) ?? []
        ) {
          if (byId.has(id) || message.t === undefined) continue;
          byId.set(id, {
            id,
            bytes: encodeEvent({ type: message.t, data: message.d ?? "", id }),
          });
        }
        if (known && !expired) {
          const deleted = (await this.#info(key))?.maxDeleted;
          expired = deleted !== undefined &&
            compareIds(deleted, lastEventId) > 0;
        }
      }
    } catch (error) {
      throw new ClusterUnavailableError(
        `Redis could not be read: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    const entries = [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
    const gap = earliest
      ? undefined
      : !known
      ? "unknown id"
      : expired
      ? "expired"
      : undefined;
    return gap ? { entries, gap } : { entries };
  }

  /**
   * Resolves true once both connections are up, false after `timeoutMs`:
   * for start-up, which waits (bounded) rather than serve without Redis.
   */
  async waitConnected(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connected) {
      const left = deadline - Date.now();
      if (left <= 0 || this.#closed) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          for (const client of [this.#client, this.#reader]) {
            client.off("ready", done);
          }
          resolve();
        };
        const timer = setTimeout(done, left);
        for (const client of [this.#client, this.#reader]) {
          client.on("ready", done);
        }
      });
    }
    return true;
  }

  /** `promise`, or an unavailable error once the command timeout passes. */
  #timed<T>(promise: Promise<T>): Promise<T> {
    const ms = this.#options.commandTimeoutMs ?? 2000;
    return timeLimited(
      promise,
      ms,
      () =>
        new ClusterUnavailableError(
          `Redis did not answer within ${ms / 1000} s`,
          { outcomeUnknown: true },
        ),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    // Disconnecting ends a blocked XREAD at once.
    await Promise.allSettled([this.#client.destroy(), this.#reader.destroy()]);
    await this.#tail;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * A stream's highest deleted id (what was trimmed) and highest id ever
   * given; null when there is no such stream.
   */
  async #info(
    key: string,
  ): Promise<{ maxDeleted: string; lastGenerated: string } | null> {
    let info: unknown;
    try {
      info = await this.#client.sendCommand(["XINFO", "STREAM", key]);
    } catch (error) {
      // No such stream: null. Anything else is Redis failing, which the
      // replay reports as unavailable rather than as an unknown id.
      if (/no such key/i.test(errorMessage(error))) return null;
      throw error;
    }
    // A flat [name, value, …] list (RESP2), or a map (RESP3).
    const field = (name: string): string => {
      let value: unknown;
      if (Array.isArray(info)) {
        const at = info.indexOf(name);
        value = at >= 0 ? info[at + 1] : undefined;
      } else if (info instanceof Map) {
        value = info.get(name);
      } else if (typeof info === "object" && info !== null) {
        value = (info as Record<string, unknown>)[name];
      }
      const text = String(value ?? "0-0");
      return STREAM_ID.test(text) ? text : "0-0";
    };
    return {
      maxDeleted: field("max-deleted-entry-id"),
      lastGenerated: field("last-generated-id"),
    };
  }

  async #run(): Promise<void> {
    let delay = 100;
    while (!this.#closed) {
      try {
        if (!this.#client.isOpen) await this.#client.connect();
        if (!this.#reader.isOpen) await this.#reader.connect();
        if (!this.#following) {
          this.#following = true;
          logger.info("Redis: following {key} after {id}", {
            key: this.#global,
            id: this.#lastId,
          });
        }
        // While subscribers here owe too much, reading waits; Redis keeps
        // the events meanwhile.
        await this.#hub.ready();
        const read = await this.#reader.xRead(
          { key: this.#global, id: this.#lastId },
          { BLOCK: 1000, COUNT: 1000 },
        );
        delay = 100;
        for (const stream of read ?? []) {
          for (const { id, message } of stream.messages) {
            this.#lastId = id;
            this.#deliver(id, message);
          }
        }
      } catch (error) {
        if (this.#closed) return;
        logger.warn(
          "Redis: reading {key} failed: {error}; retrying in {ms} ms",
          {
            key: this.#global,
            error: errorMessage(error),
            ms: delay,
          },
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
        delay = Math.min(5000, delay * 2);
      }
    }
  }

  #deliver(id: string, message: Record<string, string>): void {
    if (message.cmd !== undefined) {
      this.#options.onCommand(message.cmd);
      return;
    }
    let channels: string[];
    try {
      channels = JSON.parse(message.c ?? "[]");
    } catch {
      logger.warn("Redis: entry {id} has no channel list, skipped", { id });
      return;
    }
    const targets = channels.length === 1 && channels[0] === "" ? [] : channels;
    this.#hub.publish(targets, [{
      type: message.t ?? "message",
      data: message.d ?? "",
      id,
    }]);
  }
}
