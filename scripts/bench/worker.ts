/**
 * A subscriber worker of the load generator. It holds its share of the
 * subscribers on raw TCP connections (`Deno.connect`, a minimal HTTP/1.1
 * GET), parses their streams byte by byte, and checks every event: latency
 * (into a bounded histogram), order, duplicates and gaps per publisher lane.
 * Churn subscribers come and go and are checked when they leave.
 *
 * Runs as a module Web Worker started by `runner.ts`; see `protocol.ts` for
 * the messages.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import {
  type FromWorker,
  type InitMessage,
  nowMicros,
  type SubscribeMessage,
  type ToWorker,
} from "./protocol.ts";
import { ResponseParser } from "./sse_parser.ts";
import { Histogram, prng } from "./stats.ts";

const encoder = new TextEncoder();

let init: InitMessage;
let lanes = 1;
let received: Int32Array;
let lastReceive: Float64Array;
let published: Int32Array;
let sendTimes: Float64Array;
let clockOffset = 0;

// Totals of this worker.
let receivedTotal = 0;
let duplicates = 0;
let outOfOrder = 0;
let unexpected = 0;
let malformed = 0;
let comments = 0;
let closedByServer = 0;
let churnExpected = 0;
let churnMissing = 0;
let churnSessions = 0;
let churnFailed = 0;
let latestReceive = 0;
const problems: Record<string, number> = {};
/** Latency and events received, by instance (index into `init.ports`). */
let latency: Histogram[] = [];
let receivedByInstance: number[] = [];

/** The receive time of the bytes being parsed (one clock read per read). */
let receiveNow = 0;

function problem(kind: string): void {
  problems[kind] = (problems[kind] ?? 0) + 1;
}

function post(message: FromWorker): void {
  self.postMessage(message);
}

/** One subscription: steady (checked at the end) or churn (checked on leave). */
class Sub {
  readonly index: number; // global index (steady) or -1 (churn)
  readonly channel: number;
  /** Index into `init.ports`: the instance this subscriber is on. */
  readonly instance: number;
  conn: Deno.Conn | null = null;
  readonly parser: ResponseParser;
  /** Last sequence number seen per lane (0: none yet). */
  readonly last: Int32Array;
  /** First sequence number seen per lane (churn only). */
  readonly first: Int32Array;
  /** Events that advanced their lane, per lane. */
  readonly advancing: Int32Array;
  received = 0;
  headAt = 0;
  closing = false;
  readonly head: PromiseWithResolvers<void> = Promise.withResolvers();

  constructor(index: number, channel: number, instance: number) {
    this.index = index;
    this.channel = channel;
    this.instance = instance;
    this.last = new Int32Array(lanes);
    this.first = new Int32Array(lanes);
    this.advancing = new Int32Array(lanes);
    this.parser = new ResponseParser(
      (seq, lane, sent) => this.#event(seq, lane, sent),
      () => {
        this.headAt = nowMicros() - clockOffset;
        this.head.resolve();
      },
    );
  }

  #event(seq: number, lane: number, sent: number): void {
    receivedTotal++;
    this.received++;
    receivedByInstance[this.instance]++;
    const delay = receiveNow - sent;
    latency[this.instance].record(delay > 0 ? delay : 0);
    if (lane >= lanes || seq === 0) {
      unexpected++;
      return;
    }
    const last = this.last[lane];
    if (seq > last) {
      if (last === 0) this.first[lane] = seq;
      this.last[lane] = seq;
      this.advancing[lane]++;
    } else if (seq === last) {
      duplicates++;
    } else {
      outOfOrder++;
    }
    if (this.index >= 0) received[this.index] = this.received;
  }

  /** Opens the connection, sends the request and waits for the head. */
  async open(): Promise<void> {
    const conn = await Deno.connect({
      hostname: init.host,
      port: init.ports[this.instance],
    });
    conn.setNoDelay(true);
    this.conn = conn;
    const path = `${init.pathPrefix}c${this.channel}`;
    await conn.write(
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    );
    const reading = this.#read(conn);
    await Promise.race([this.head.promise, reading]);
    if (!this.parser.headDone) {
      throw new Error(this.parser.problem ?? "connection closed before head");
    }
    if (this.parser.problem) throw new Error(this.parser.problem);
  }

  async #read(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(init.readBuffer);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        receiveNow = nowMicros() - clockOffset;
        this.parser.push(buffer, n);
        latestReceive = receiveNow;
        lastReceive[init.worker] = receiveNow;
      }
    } catch (error) {
      if (!this.closing) problem(`read: ${(error as Error).name}`);
    }
    if (!this.closing) {
      if (this.parser.problem) problem(this.parser.problem);
      if (this.parser.headDone && this.index >= 0) {
        closedByServer++;
        // Never wait for this one again.
        received[this.index] = 0x7fffffff;
      }
    }
    malformed += this.parser.malformed;
    comments += this.parser.comments;
    this.parser.malformed = 0;
    this.parser.comments = 0;
  }

  close(): void {
    this.closing = true;
    try {
      this.conn?.close();
    } catch {
      // Already closed.
    }
  }
}

let steady: Sub[] = [];

async function subscribe(message: SubscribeMessage): Promise<void> {
  const subs = Array.from(
    message.subs,
    (index, i) => new Sub(index, message.channels[i], message.instances[i]),
  );
  steady = steady.concat(subs);
  let next = 0;
  let opened = 0;
  let failed = 0;
  let lastHead = 0;
  const errors: string[] = [];
  const firstStart = nowMicros() - clockOffset;
  const lane = async () => {
    while (next < subs.length) {
      const sub = subs[next++];
      try {
        await sub.open();
        opened++;
        if (sub.headAt > lastHead) lastHead = sub.headAt;
      } catch (error) {
        failed++;
        sub.close();
        received[sub.index] = 0x7fffffff;
        if (errors.length < 5) errors.push(String(error));
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(message.concurrency, subs.length) }, lane),
  );
  post({
    type: "subscribed",
    opened,
    failed,
    firstStart,
    lastHead: lastHead || firstStart,
    errors,
  });
}

// ---- churn ----------------------------------------------------------------

let churning = false;
let churnStop: PromiseWithResolvers<void> = Promise.withResolvers();
const churnActive = new Set<Promise<void>>();

/** Index of the first event of `lane` on channel 0 sent after `micros`. */
function firstSentAfter(lane: number, micros: number, count: number): number {
  const base = lane * init.sendCapacity;
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sendTimes[base + mid] > micros) hi = mid;
    else lo = mid + 1;
  }
  return lo + 1; // sequence numbers start at 1
}

/** Checks a churn subscription that has just left. */
function checkSession(sub: Sub, leftAt: number, graceMs: number): void {
  for (let lane = 0; lane < lanes; lane++) {
    const count = Math.min(
      Atomics.load(published, lane),
      init.sendCapacity,
    );
    // Events sent after the response head arrived must be received, up to
    // those sent `graceMs` before leaving.
    const lo = firstSentAfter(lane, sub.headAt, count);
    const hi = firstSentAfter(lane, leftAt - graceMs * 1000, count) - 1;
    if (hi < lo) continue;
    churnExpected += hi - lo + 1;
    const first = sub.first[lane];
    const last = sub.last[lane];
    if (last === 0) {
      churnMissing += hi - lo + 1;
      continue;
    }
    // Gaps inside what was received, then what is missing at either end.
    const span = last - first + 1;
    churnMissing += span - sub.advancing[lane];
    if (first > lo) churnMissing += Math.min(first - 1, hi) - lo + 1;
    if (last < hi) churnMissing += hi - Math.max(last + 1, lo) + 1;
  }
}

function startChurn(
  slots: number,
  dwellMinMs: number,
  dwellMaxMs: number,
  graceMs: number,
  seed: number,
): void {
  churning = true;
  churnStop = Promise.withResolvers();
  const random = prng(seed);
  const slot = async () => {
    while (churning) {
      const sub = new Sub(-1, 0, 0);
      try {
        await sub.open();
      } catch {
        sub.close();
        if (!churning) break;
        churnFailed++;
        problem("churn subscription failed");
        // Do not spin on a refusing server.
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (!churning) {
        // Opened after the end: not a session.
        sub.close();
        break;
      }
      const dwell = dwellMinMs + random() * (dwellMaxMs - dwellMinMs);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((r) => timer = setTimeout(r, dwell)),
        churnStop.promise,
      ]);
      clearTimeout(timer);
      const leftAt = nowMicros() - clockOffset;
      sub.close();
      churnSessions++;
      checkSession(sub, leftAt, graceMs);
    }
  };
  for (let i = 0; i < slots; i++) {
    // Spread the first connections over the shortest dwell.
    const task = new Promise((r) =>
      setTimeout(r, (i / slots) * Math.max(50, dwellMinMs))
    ).then(slot);
    churnActive.add(task);
    task.finally(() => churnActive.delete(task));
  }
}

// ---- results --------------------------------------------------------------

function finish(): void {
  let expected = churnExpected;
  let missing = churnMissing;
  for (const sub of steady) {
    for (let lane = 0; lane < lanes; lane++) {
      const sent = Atomics.load(published, sub.channel * lanes + lane);
      expected += sent;
      missing += Math.max(0, sent - sub.advancing[lane]);
      if (sub.last[lane] > sent) unexpected++;
    }
  }
  for (const sub of steady) {
    malformed += sub.parser.malformed;
    comments += sub.parser.comments;
    sub.parser.malformed = 0;
    sub.parser.comments = 0;
  }
  post({
    type: "result",
    worker: init.worker,
    received: receivedTotal,
    expected,
    missing,
    duplicates,
    outOfOrder,
    unexpected,
    malformed,
    comments,
    closedByServer,
    problems: { ...problems },
    latency: latency.map((h) => h.data()),
    receivedByInstance: [...receivedByInstance],
    churnSessions,
    lastReceive: latestReceive,
  });
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init":
        init = message;
        lanes = message.lanes;
        latency = message.ports.map(() => new Histogram());
        receivedByInstance = message.ports.map(() => 0);
        received = new Int32Array(message.received);
        lastReceive = new Float64Array(message.lastReceive);
        published = new Int32Array(message.published);
        sendTimes = new Float64Array(message.sendTimes);
        post({ type: "ready" });
        break;
      case "ping":
        post({ type: "pong", micros: nowMicros() });
        break;
      case "clock":
        clockOffset = message.offsetMicros;
        break;
      case "subscribe":
        await subscribe(message);
        break;
      case "churn":
        startChurn(
          message.slots,
          message.dwellMinMs,
          message.dwellMaxMs,
          message.graceMs,
          message.seed,
        );
        break;
      case "stopChurn":
        churning = false;
        churnStop.resolve();
        // Sessions end at once; a connection still being opened is not
        // waited for long (it closes itself when it opens).
        await Promise.race([
          Promise.all(churnActive),
          new Promise((r) => setTimeout(r, 2000)),
        ]);
        post({
          type: "churnStopped",
          sessions: churnSessions,
          failed: churnFailed,
        });
        break;
      case "takeLatency":
        post({
          type: "latencyTaken",
          latency: latency.map((h) => h.data()),
          received: receivedTotal,
        });
        // The message above holds copies; start afresh.
        latency = init.ports.map(() => new Histogram());
        break;
      case "finish":
        lastReceive[init.worker] = latestReceive;
        finish();
        break;
      case "close":
        for (const sub of steady) sub.close();
        steady = [];
        post({ type: "closed" });
        break;
    }
  } catch (error) {
    post({ type: "error", message: String((error as Error)?.stack ?? error) });
  }
};
