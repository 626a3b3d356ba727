/**
 * Messages between the benchmark's main thread and its subscriber workers,
 * and the clock they share.
 *
 * Shared memory (`SharedArrayBuffer`) carries what changes all the time:
 * - `received`: `Int32Array`, events received by each steady subscriber
 *   (global subscriber index), read by the publisher to stay within its
 *   window;
 * - `lastReceive`: `Float64Array`, per worker, the time of its latest event;
 * - `published`: `Int32Array`, events sent per channel and lane
 *   (`channel * lanes + lane`), written by the publisher;
 * - `sendTimes`: `Float64Array`, send time of each event of channel 0 by
 *   lane and sequence number (`lane * capacity + seq - 1`), for the churn
 *   scenario's check of subscribers that came and went.
 *
 * @module
 */

import type { HistogramData } from "./stats.ts";

/** Now, in microseconds, on a clock every thread of the process shares. */
export function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

export interface InitMessage {
  readonly type: "init";
  readonly worker: number;
  readonly host: string;
  /**
   * The server's HTTP ports: one, or one per instance of a cluster; each
   * subscriber connects to the port of its instance.
   */
  readonly ports: readonly number[];
  /** Subscription path of channel `cN`: `pathPrefix + "cN"`. */
  readonly pathPrefix: string;
  readonly lanes: number;
  readonly received: SharedArrayBuffer;
  readonly lastReceive: SharedArrayBuffer;
  readonly published: SharedArrayBuffer;
  readonly sendTimes: SharedArrayBuffer;
  readonly sendCapacity: number;
  /** Read buffer per connection, bytes. */
  readonly readBuffer: number;
}

export interface PingMessage {
  readonly type: "ping";
}

export interface PongMessage {
  readonly type: "pong";
  readonly micros: number;
}

/** Corrects the worker's clock to the main thread's (normally ~0). */
export interface ClockMessage {
  readonly type: "clock";
  readonly offsetMicros: number;
}

/** Open steady subscribers: `subs[i]` (global index) on channel `channels[i]`. */
export interface SubscribeMessage {
  readonly type: "subscribe";
  readonly subs: Int32Array;
  readonly channels: Int32Array;
  /** The instance (index into `ports`) of each subscriber. */
  readonly instances: Int32Array;
  /** Connections being opened at once by this worker. */
  readonly concurrency: number;
}

export interface SubscribedMessage {
  readonly type: "subscribed";
  readonly opened: number;
  readonly failed: number;
  /** Micros when the first connect started / the last response head came. */
  readonly firstStart: number;
  readonly lastHead: number;
  readonly errors: string[];
}

/** Start subscribers that come and go on channel 0. */
export interface ChurnMessage {
  readonly type: "churn";
  readonly slots: number;
  readonly dwellMinMs: number;
  readonly dwellMaxMs: number;
  /** An event sent this long before a subscriber leaves must have reached it. */
  readonly graceMs: number;
  readonly seed: number;
}

export interface StopChurnMessage {
  readonly type: "stopChurn";
}

export interface ChurnStoppedMessage {
  readonly type: "churnStopped";
  readonly sessions: number;
  readonly failed: number;
}

/**
 * Hand over the latency recorded so far and start afresh (between the two
 * phases of the cluster scenario).
 */
export interface TakeLatencyMessage {
  readonly type: "takeLatency";
}

export interface LatencyTakenMessage {
  readonly type: "latencyTaken";
  /** Latency by instance (index into `ports`). */
  readonly latency: HistogramData[];
  /** Events received so far (all, including duplicates). */
  readonly received: number;
}

/** Check every steady subscriber against `published` and report. */
export interface FinishMessage {
  readonly type: "finish";
}

/** Close every connection. */
export interface CloseMessage {
  readonly type: "close";
}

export interface ClosedMessage {
  readonly type: "closed";
}

/** Everything one worker saw. */
export interface ResultMessage {
  readonly type: "result";
  readonly worker: number;
  /** Events received (all, including duplicates). */
  readonly received: number;
  /** Events that should have been received. */
  readonly expected: number;
  /** Expected events never received in order. */
  readonly missing: number;
  /** An event whose sequence number equals the last one seen on its lane. */
  readonly duplicates: number;
  /** An event older than the last one seen on its lane. */
  readonly outOfOrder: number;
  /** Events from a lane or with a sequence number never published. */
  readonly unexpected: number;
  /** Events whose data was not ours. */
  readonly malformed: number;
  readonly comments: number;
  /** Steady subscribers whose stream the server ended or broke. */
  readonly closedByServer: number;
  /** Parse or connection problems, by kind. */
  readonly problems: Record<string, number>;
  /** Latency by instance (index into `ports`). */
  readonly latency: HistogramData[];
  /** Events received (all) by instance. */
  readonly receivedByInstance: number[];
  /** Churn: subscriptions opened and closed. */
  readonly churnSessions: number;
  /** Micros of the latest event received. */
  readonly lastReceive: number;
}

export type ToWorker =
  | InitMessage
  | PingMessage
  | ClockMessage
  | SubscribeMessage
  | ChurnMessage
  | StopChurnMessage
  | TakeLatencyMessage
  | FinishMessage
  | CloseMessage;

export type FromWorker =
  | PongMessage
  | SubscribedMessage
  | ChurnStoppedMessage
  | LatencyTakenMessage
  | ResultMessage
  | ClosedMessage
  | { readonly type: "ready" }
  | { readonly type: "error"; readonly message: string };
