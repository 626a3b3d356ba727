/**
 * What instances sharing Redis know of each other's channels: subscriber
 * counts (for `--presence` and the admin's channel list) and the history
 * each channel keeps (`sse:c:CHANNEL`, written by `cluster.ts`).
 *
 * Counts (prefix `sse`): every exchange, an instance writes its counts into
 * the hash `sse:p:INSTANCE`, which expires after {@linkcode COUNTS_TTL_MS},
 * and its id into the sorted set `sse:instances` scored by that same
 * expiry (Redis's clock, so the instances' clocks do not matter); in the
 * same script it drops the instances whose time ran out and sums the
 * others' counts. An instance refreshes once a second, so one that dies
 * (or loses Redis) stops counting at most `COUNTS_TTL_MS` after its last
 * refresh; one that stops cleanly removes itself at once.
 *
 * @module
 */

import type { createClient } from "redis";
import { errorMessage } from "../errors.ts";
import type { ChannelHistory } from "./broker.ts";
import { ClusterUnavailableError } from "./cluster.ts";
import { timeLimited } from "./time_limit.ts";

type Client = ReturnType<typeof createClient>;

/**
 * How long an instance's counts stay without a refresh: three missed
 * refreshes (one a second) and it no longer counts.
 */
export const COUNTS_TTL_MS = 3000;

// KEYS[1]: the instance set. ARGV: hash prefix, own id, ttl (ms), then
// channel, count pairs. Returns the other instances' sums as a flat list.
const EXCHANGE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local own = ARGV[1] .. ARGV[2]
redis.call('DEL', own)
for i = 4, #ARGV, 2 do
  redis.call('HSET', own, ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', own, ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local totals = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    local flat = redis.call('HGETALL', ARGV[1] .. id)
    for i = 1, #flat, 2 do
      totals[flat[i]] = (totals[flat[i]] or 0) + tonumber(flat[i + 1])
    end
  end
end
local out = {}
for channel, count in pairs(totals) do
  out[#out + 1] = channel
  out[#out + 1] = tostring(count)
end
return out
`;

// Deletes a channel stream's entries one by one (as cluster.ts trims), so
// Redis records the highest deleted id and a reconnecting client is told
// of the gap. Returns how many there were.
const FORGET_SCRIPT = `
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
for _, entry in ipairs(entries) do
  redis.call('XDEL', KEYS[1], entry[1])
end
return #entries
`;

// For each key: how many entries and the newest one's id ('' if none),
// in one round trip however many channels there are.
const HISTORY_SCRIPT = `
local out = {}
for _, key in ipairs(KEYS) do
  local len = 0
  local last = ''
  if redis.call('EXISTS', key) == 1 then
    len = redis.call('XLEN', key)
    local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    if newest[1] then last = newest[1][1] end
  end
  out[#out + 1] = len
  out[#out + 1] = last
end
return out
`;

/** Counts and channel history in Redis, over the cluster's connection. */
export class RedisChannels {
  readonly #client: Client;
  readonly #instances: string;
  readonly #countsPrefix: string;
  readonly #channelPrefix: string;
  readonly #timeoutMs: number;
  /** This instance's id in the count keys, new at every start. */
  readonly instance: string = crypto.randomUUID();

  /** `prefix` as the cluster's (default `sse`). */
  constructor(client: Client, prefix = "sse", timeoutMs = 2000) {
    this.#client = client;
    this.#instances = `${prefix}:instances`;
    this.#countsPrefix = `${prefix}:p:`;
    this.#channelPrefix = `${prefix}:c:`;
    this.#timeoutMs = timeoutMs;
  }

  /** See `Broker.exchangeCounts`. */
  async exchangeCounts(
    local: ReadonlyMap<string, number>,
  ): Promise<ReadonlyMap<string, number>> {
    const args = [this.#countsPrefix, this.instance, String(COUNTS_TTL_MS)];
    for (const [channel, count] of local) args.push(channel, String(count));
    const flat = await this.#run(
      "exchange counts",
      this.#client.eval(EXCHANGE_SCRIPT, {
        keys: [this.#instances],
        arguments: args,
      }) as Promise<string[]>,
    );
    const others = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      others.set(flat[i], Number(flat[i + 1]));
    }
    return others;
  }

  /** Removes this instance's counts (a clean stop), bounded in time. */
  async withdraw(): Promise<void> {
    await this.#run(
      "withdraw counts",
      Promise.all([
        this.#client.zRem(this.#instances, this.instance),
        this.#client.del(this.#countsPrefix + this.instance),
      ]),
    );
  }

  /** See `Broker.channelHistory`. */
  async channelHistory(channel?: string): Promise<ChannelHistory[]> {
    return await this.#run("read channel history", this.#history(channel));
  }

  /** See `Broker.forgetHistory`. */
  async forgetHistory(channel: string): Promise<number> {
    return await this.#run(
      "forget channel history",
      this.#client.eval(FORGET_SCRIPT, {
        keys: [this.#channelPrefix + channel],
        arguments: [],
      }) as Promise<number>,
    );
  }

  async #history(channel?: string): Promise<ChannelHistory[]> {
    const keys: string[] = [];
    if (channel !== undefined) {
      keys.push(this.#channelPrefix + channel);
    } else {
      for await (
        const batch of this.#client.scanIterator({
          MATCH: `${this.#channelPrefix}*`,
          TYPE: "stream",
          COUNT: 1000,
        })
      ) {
        // Version 5 of the client yields batches, version 4 single keys.
        for (const key of Array.isArray(batch) ? batch : [batch]) {
          keys.push(String(key));
        }
      }
    }
    // Events published to no channel are kept under the empty name.
    const named = keys.filter((key) => key !== this.#channelPrefix);
    const found: ChannelHistory[] = [];
    for (let at = 0; at < named.length; at += 1000) {
      const batch = named.slice(at, at + 1000);
      const flat = await this.#client.eval(HISTORY_SCRIPT, {
        keys: batch,
        arguments: [],
      }) as (number | string)[];
      batch.forEach((key, i) => {
        const events = Number(flat[2 * i]);
        if (events === 0) return;
        found.push({
          name: key.slice(this.#channelPrefix.length),
          events,
          lastEventId: String(flat[2 * i + 1]) || null,
        });
      });
    }
    return found;
  }

  /** `promise`, or an unavailable error when Redis fails or is too slow. */
  async #run<T>(what: string, promise: Promise<T>): Promise<T> {
    try {
      return await timeLimited(
        promise,
        this.#timeoutMs,
        () =>
          new ClusterUnavailableError(
            `Redis did not ${what} within ${this.#timeoutMs / 1000} s`,
          ),
      );
    } catch (error) {
      if (error instanceof ClusterUnavailableError) throw error;
      throw new ClusterUnavailableError(
        `Redis could not ${what}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }
}
