/**
 * The one place that knows which broker there is: the memory broker, or
 * with `--redis` the Redis broker, loaded only then (the Redis client is a
 * large module that a server without Redis need not compile or hold), and
 * waited for before any port opens: no first client is answered with a
 * gap, no first publish refused, for a connection still being made.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ExitCode, StartupError } from "../errors.ts";
import type { Hub } from "../core/hub.ts";
import type { Broker } from "./broker.ts";
import type { ClusterCommand } from "./commands.ts";
import { MemoryBroker } from "./memory_broker.ts";
import { redactRedisUrl } from "./redis_url.ts";

const logger = getLogger(["sse-server", "server"]);

/** What the broker is made from: the options of the same names. */
export interface BrokerConfig {
  /** Redis URL; absent: the memory broker. */
  readonly redis?: string;
  readonly redisPassword?: string;
  /** Events kept per channel. */
  readonly history: number;
  /** Seconds events are kept. */
  readonly historyAge: number;
  /** Seconds each Redis command may take. */
  readonly redisTimeout: number;
  /** Seconds to wait for Redis at start-up. */
  readonly redisStartTimeout: number;
}

/**
 * Opens the broker for `hub`; cluster commands go to `onCommand`. Throws
 * {@linkcode StartupError} (exit 69) when Redis cannot be reached within
 * `redisStartTimeout`, after closing what it opened.
 */
export async function openBroker(
  config: BrokerConfig,
  hub: Hub,
  onCommand: (command: ClusterCommand) => void,
): Promise<Broker> {
  if (config.redis === undefined) return new MemoryBroker(hub, onCommand);
  const { RedisBroker } = await import("./redis_broker.ts");
  const broker = RedisBroker.start({
    url: config.redis,
    password: config.redisPassword,
    history: config.history,
    historyAgeMs: config.historyAge * 1000,
    commandTimeoutMs: config.redisTimeout * 1000,
    onCommand,
  }, hub);
  if (await broker.waitReady(0)) return broker;
  const url = redactRedisUrl(config.redis);
  logger.info("waiting for Redis at {url} (up to {seconds} s)", {
    url,
    seconds: config.redisStartTimeout,
  });
  if (!(await broker.waitReady(config.redisStartTimeout * 1000))) {
    await broker.close();
    throw new StartupError(
      `Redis at ${url} could not be reached within ${config.redisStartTimeout} s`,
      ExitCode.unavailable,
    );
  }
  logger.info("Redis: connected");
  return broker;
}
