/**
 * One run of one scenario against one server with one kind of publisher:
 * subscribers connect (through the workers), events are published from this
 * thread, everything is drained and checked, and the figures are computed
 * from what the workers saw and from `/proc`.
 *
 * @module
 */

import {
  type BenchEvent,
  ControlLane,
  type Lane,
  PostLane,
} from "./publisher.ts";
import {
  busiestThread,
  cpuSeconds,
  machineBusySeconds,
  peakRssKiB,
  rssKiB,
  threadCpuSeconds,
} from "./proc.ts";
import {
  type ChurnStoppedMessage,
  type FromWorker,
  type LatencyTakenMessage,
  nowMicros,
  type PongMessage,
  type ResultMessage,
  type SubscribedMessage,
  type ToWorker,
} from "./protocol.ts";
import type { Scenario } from "./scenarios.ts";
import type { Target } from "./servers.ts";
import { Histogram } from "./stats.ts";
import { within } from "../../lib/process/grace.ts";

/** How events are published: control-port lines, HTTP POST or GET query. */
export type PublisherKind = "control" | "post" | "query";

/** Settings of the generator, the same for every run. */
export interface GeneratorSettings {
  readonly workers: number;
  /**
   * Most events published and not yet received by every subscriber of a
   * channel; 0: no window (publish as fast as the server takes events).
   */
  readonly window: number;
  /** Concurrent POST connections when publishing as fast as possible. */
  readonly postLanes: number;
  /** Events per POST to sse-server (a JSON list when more than 1). */
  readonly postBatch: number;
  /** Lines per control-port write. */
  readonly controlBatch: number;
  /** Connections each worker opens at once. */
  readonly connectConcurrency: number;
  readonly connectTimeoutMs: number;
  readonly settleMs: number;
  readonly drainTimeoutMs: number;
  readonly readBuffer: number;
}

/** The figures of one run. Times in seconds unless named otherwise. */
export interface RunMetrics {
  subscribers: number;
  failedSubscribers: number;
  acceptSeconds: number;
  /** Server CPU per accepted subscription, µs. */
  acceptCpuMicros: number;
  events: number;
  deliveries: number;
  deliveriesPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  expected: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
  malformed: number;
  closedByServer: number;
  /**
   * Error answers (HTTP status, control-port error lines, a control
   * connection the server closed) and sends that failed.
   */
  publishErrors: number;
  /**
   * Saturating: publisher lanes whose send was still waiting for the server
   * a drain timeout after the end of publishing (closed then).
   */
  stalledPublishers: number;
  problems: Record<string, number>;
  complete: boolean;
  drained: boolean;
  /** Wall time from the first publish to the last event received. */
  measuredSeconds: number;
  serverCpuSeconds: number;
  /** Server CPU / wall time over the measured phase (1 = one core). */
  serverCores: number;
  /** Busiest server thread's CPU / wall time (1 = saturated). */
  serverBusiestThread: number;
  cpuMicrosPerDelivery: number;
  rssBaselineKiB: number;
  rssConnectedKiB: number;
  rssEndKiB: number;
  /**
   * Peak resident memory (`VmHWM`) of the server's processes at the end of
   * the run, summed, MiB: over each process's whole life, set-up included.
   */
  peakRssMiB: number;
  rssPerConnectionKiB: number;
  generatorCores: number;
  generatorBusiestThread: number;
  /**
   * CPU used by everything else on the machine during the measured phase,
   * in cores: noise from other processes (and the kernel's share of
   * networking not charged to either side).
   */
  otherCores: number;
  /** Events published per second during the publishing phase. */
  publishedPerSecond: number;
  /**
   * Share of the publishing time the publisher waited for its window (NaN
   * without a window).
   */
  windowBlocked: number;
  /** The window used (`--window`, or the scenario's own); 0: none. */
  window: number;
  churnSessions: number;
  churnPerSecond: number;
  /** Instances of the server: more than 1 for a cluster. */
  instances: number;
  /**
   * Events received by the subscribers of each instance, both phases of a
   * cluster run; the first instance is the one published to.
   */
  deliveriesByInstance: number[];
  /** Cluster: share of the deliveries made by the other instances. */
  remoteShare: number;
  /** Cluster: the latency of subscribers of the other instances only. */
  remoteLatencyP50Ms: number;
  remoteLatencyP99Ms: number;
  /**
   * Cluster: events per second of the latency phase, whose latency is the
   * one reported in `latencyP50Ms`… (NaN without that phase).
   */
  latencyPhaseRate: number;
  /** Cluster: the latency during the saturating phase (mostly queueing). */
  saturatedLatencyP50Ms: number;
  saturatedLatencyP99Ms: number;
  saturatedLatencyMaxMs: number;
  /**
   * CPU of the processes behind the server (Redis), over the same time as
   * `serverCpuSeconds`; NaN without any.
   */
  backendCpuSeconds: number;
  backendCores: number;
  /** That CPU per event published in that time, µs. */
  backendCpuMicrosPerEvent: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A worker and the replies it owes. */
class WorkerHandle {
  readonly worker: Worker;
  #waiting = new Map<
    string,
    { resolve: (m: FromWorker) => void; reject: (e: Error) => void }
  >();
  #failure: Error | null = null;

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "error") {
        this.#fail(new Error(`worker: ${message.message}`));
        return;
      }
      const waiter = this.#waiting.get(message.type);
      this.#waiting.delete(message.type);
      waiter?.resolve(message);
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`worker: ${event.message}`));
    };
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }

  send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  /** Sends `message` and waits for the reply of type `reply`. */
  request<T extends FromWorker>(
    message: ToWorker | null,
    reply: T["type"],
    timeoutMs: number,
  ): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const timer = setTimeout(
      () => reject(new Error(`worker: no ${reply} after ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.#waiting.set(reply, {
      resolve: (m) => {
        clearTimeout(timer);
        resolve(m as T);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
    });
    if (message) this.send(message);
    return promise;
  }

  terminate(): void {
    this.worker.terminate();
  }
}

function sumOf(pids: number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) {
    const value = read(pid);
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/** CPU of all of a target's processes and of its busiest thread. */
function targetCpu(target: Target): {
  total: number;
  threads: Map<number, number>;
} {
  const pids = target.pids();
  const threads = new Map<number, number>();
  for (const pid of pids) {
    for (const [tid, s] of threadCpuSeconds(pid)) threads.set(tid, s);
  }
  return { total: sumOf(pids, cpuSeconds), threads };
}

/** Runs one scenario once. The target is started and stopped by the caller. */
export async function runOnce(
  scenario: Scenario,
  target: Target,
  publisher: PublisherKind,
  settings: GeneratorSettings,
  log: (line: string) => void,
): Promise<RunMetrics> {
  const layout = scenario.layout;
  const channels = layout.length;
  // One port, or one per instance of a cluster (the first is published to).
  const ports = target.instancePorts ?? [target.httpPort];
  const backendPids = () => target.backendPids?.() ?? [];
  const hasBackend = backendPids().length > 0;
  const latencyPhase = scenario.latencyRate !== undefined &&
    (scenario.latencyMs ?? 0) > 0;
  const steadyCount = layout.reduce((a, b) => a + b, 0);
  const saturate = scenario.rate === undefined && scenario.kind !== "idle";
  const lanes = saturate && publisher !== "control" ? settings.postLanes : 1;
  const sendCapacity = scenario.kind === "churn"
    ? Math.ceil((scenario.rate ?? 0) * scenario.durationMs / 1000 * 1.5) + 100
    : 1;

  const receivedBuffer = new SharedArrayBuffer(4 * steadyCount);
  const received = new Int32Array(receivedBuffer);
  const lastReceiveBuffer = new SharedArrayBuffer(8 * settings.workers);
  const publishedBuffer = new SharedArrayBuffer(4 * channels * lanes);
  const published = new Int32Array(publishedBuffer);
  const sendTimesBuffer = new SharedArrayBuffer(8 * lanes * sendCapacity);
  const sendTimes = new Float64Array(sendTimesBuffer);

  // Which subscribers are on which channel.
  const subChannel = new Int32Array(steadyCount);
  const byChannel: Int32Array[] = [];
  {
    let i = 0;
    layout.forEach((count, channel) => {
      byChannel.push(new Int32Array(count).map((_, k) => i + k));
      for (let k = 0; k < count; k++) subChannel[i++] = channel;
    });
  }

  const workers = Array.from(
    { length: settings.workers },
    () => new WorkerHandle(),
  );
  const lanesOpen: Lane[] = [];
  try {
    await Promise.all(workers.map((w, i) =>
      w.request(
        {
          type: "init",
          worker: i,
          host: target.host,
          ports,
          pathPrefix: target.subscribePrefix,
          lanes,
          received: receivedBuffer,
          lastReceive: lastReceiveBuffer,
          published: publishedBuffer,
          sendTimes: sendTimesBuffer,
          sendCapacity,
          readBuffer: settings.readBuffer,
        },
        "ready",
        10_000,
      )
    ));
    // The clocks are one (timeOrigin + now() agree across workers); measure
    // and correct anyway, keeping the round trip with the least delay.
    for (const w of workers) {
      let best = { rtt: Infinity, offset: 0 };
      for (let k = 0; k < 5; k++) {
        const t0 = nowMicros();
        const pong = await w.request<PongMessage>(
          { type: "ping" },
          "pong",
          5000,
        );
        const t1 = nowMicros();
        if (t1 - t0 < best.rtt) {
          best = { rtt: t1 - t0, offset: pong.micros - (t0 + t1) / 2 };
        }
      }
      w.send({ type: "clock", offsetMicros: best.offset });
    }

    await sleep(300);
    const rssBaseline = sumOf(target.pids(), rssKiB);
    const acceptCpu0 = targetCpu(target).total;

    // Subscribe: subscriber i goes to worker i mod W.
    const replies = await Promise.all(workers.map((w, k) => {
      const mine: number[] = [];
      for (let i = k; i < steadyCount; i += workers.length) mine.push(i);
      const subs = Int32Array.from(mine);
      return w.request<SubscribedMessage>(
        {
          type: "subscribe",
          subs,
          channels: subs.map((i) => subChannel[i]),
          instances: subs.map((i) => i % ports.length),
          concurrency: settings.connectConcurrency,
        },
        "subscribed",
        settings.connectTimeoutMs,
      );
    }));
    const opened = replies.reduce((a, r) => a + r.opened, 0);
    const failed = replies.reduce((a, r) => a + r.failed, 0);
    const acceptSeconds = (Math.max(...replies.map((r) => r.lastHead)) -
      Math.min(...replies.map((r) => r.firstStart))) / 1e6;
    const acceptCpu = targetCpu(target).total - acceptCpu0;
    if (failed > 0) {
      log(
        `  ${failed} subscribers failed to connect: ${
          replies.flatMap((r) => r.errors).slice(0, 3).join("; ")
        }`,
      );
    }
    await sleep(settings.settleMs);
    const rssConnected = sumOf(target.pids(), rssKiB);

    // Publisher lanes.
    for (let l = 0; l < lanes; l++) {
      lanesOpen.push(
        publisher === "control"
          ? await ControlLane.open(
            target.host,
            target.controlPort!,
            settings.controlBatch,
          )
          : new PostLane(
            target.host,
            target.httpPort,
            target.publishPrefix,
            target.name === "nchan"
              ? "text"
              : publisher === "query"
              ? "query"
              : "json",
            settings.postBatch,
          ),
      );
    }

    const seqs = new Int32Array(channels * lanes);
    const publishedTotal = new Float64Array(channels);
    const addEvent = (
      channel: number,
      lane: number,
      micros: number,
      batch: BenchEvent[],
    ) => {
      const k = channel * lanes + lane;
      const seq = ++seqs[k];
      if (channel === 0 && seq <= sendCapacity) {
        sendTimes[lane * sendCapacity + seq - 1] = micros;
      }
      Atomics.store(published, k, seq);
      publishedTotal[channel]++;
      batch.push({ channel, seq, lane, micros });
    };

    /** Publishes on lane 0 at `rate`, round-robin over the channels. */
    const publishAtRate = async (
      rate: number,
      durationMs: number,
    ): Promise<number> => {
      const start = performance.now();
      const batch: BenchEvent[] = [];
      const end = start + durationMs;
      let sent = 0;
      for (let i = 0;; i++) {
        // On time, or at once when behind (a slow answer delays the next
        // publish; the rate achieved is reported); never past the end.
        const due = start + i * 1000 / rate;
        if (due >= end || performance.now() >= end) break;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        batch.length = 0;
        addEvent(i % channels, 0, nowMicros(), batch);
        await lanesOpen[0].send(batch);
        sent++;
      }
      return sent;
    };

    /**
     * Waits until every steady subscriber has every event of its channel,
     * or the drain timeout; true when they all have.
     */
    const drainAll = async (): Promise<boolean> => {
      const expectedOf = new Float64Array(channels);
      for (let c = 0; c < channels; c++) {
        for (let l = 0; l < lanes; l++) {
          expectedOf[c] += Atomics.load(published, c * lanes + l);
        }
      }
      const deadline = performance.now() + settings.drainTimeoutMs;
      while (performance.now() < deadline) {
        let done = true;
        for (let i = 0; i < steadyCount; i++) {
          if (received[i] < expectedOf[subChannel[i]]) {
            done = false;
            break;
          }
        }
        if (done) return true;
        await sleep(5);
      }
      log(`  not drained after ${settings.drainTimeoutMs} ms`);
      return false;
    };

    // Start measuring.
    const machine0 = machineBusySeconds();
    const gen0 = cpuSeconds(Deno.pid);
    const genThreads0 = threadCpuSeconds(Deno.pid);
    const server0 = targetCpu(target);
    const backend0 = sumOf(backendPids(), cpuSeconds);
    const t0 = nowMicros();
    let windowBlockedMs = 0;
    let failedSends = 0;
    let stalledPublishers = 0;
    let churnSessions = 0;

    if (saturate) {
      // The window: events published and not yet received by the slowest
      // subscriber of their channel, summed over the channels. Subscribers'
      // counts are rescanned at most once a millisecond. Window 0: none, the
      // lanes publish as fast as the server takes their events.
      const unbounded = settings.window === 0;
      const minReceived = new Float64Array(channels);
      let totalPublished = 0;
      let totalMinReceived = 0;
      let lastScan = -Infinity;
      const windowOpen = (): boolean => {
        if (unbounded) return true;
        if (totalPublished - totalMinReceived < settings.window) return true;
        const now = performance.now();
        if (now - lastScan < 1) return false;
        lastScan = now;
        let sum = 0;
        for (let c = 0; c < channels; c++) {
          let min = 0x7fffffff;
          for (const i of byChannel[c]) {
            const r = received[i];
            if (r < min) min = r;
          }
          minReceived[c] = Math.min(min, publishedTotal[c]);
          sum += minReceived[c];
        }
        totalMinReceived = sum;
        return totalPublished - totalMinReceived < settings.window;
      };
      const end = performance.now() + scenario.durationMs;
      let next = 0;
      let stopping = false;
      const laneDone = lanesOpen.map(() => false);
      const publishing = Promise.all(lanesOpen.map(async (lane, l) => {
        const batch: BenchEvent[] = [];
        try {
          while (!stopping && performance.now() < end) {
            batch.length = 0;
            while (!windowOpen()) {
              const waitStart = performance.now();
              if (waitStart >= end) return;
              await sleep(1);
              windowBlockedMs += (performance.now() - waitStart) / lanes;
            }
            const channel = next++ % channels;
            const micros = nowMicros();
            addEvent(channel, l, micros, batch);
            totalPublished++;
            while (batch.length < lane.maxBatch && windowOpen()) {
              const c = lane.oneChannelPerBatch ? channel : next++ % channels;
              addEvent(c, l, micros, batch);
              totalPublished++;
            }
            await lane.send(batch);
          }
        } catch (error) {
          // The server closed the connection or refused it: this lane
          // stops; its last events count as published and missing.
          if (!stopping) {
            failedSends++;
            log(`  publisher lane ${l} failed: ${(error as Error).message}`);
          }
        } finally {
          laneDone[l] = true;
        }
      }));
      // A send still waiting at the end (a full socket buffer, an answer
      // not given) gets the drain timeout, then its lane is closed: the run
      // ends in bounded time, as an incomplete one.
      if (
        !await within(publishing, scenario.durationMs + settings.drainTimeoutMs)
      ) {
        stopping = true;
        stalledPublishers = laneDone.filter((done) => !done).length;
        log(
          `  ${stalledPublishers} publisher lane(s) still waiting for the ` +
            `server ${settings.drainTimeoutMs} ms after the end of publishing: closed`,
        );
        lanesOpen.forEach((lane, l) => {
          if (!laneDone[l]) lane.close();
        });
        await within(publishing, 1000);
      }
      const late = performance.now() - end;
      if (late >= 100) {
        log(
          `  publishing ended ${Math.round(late)} ms late: its last ` +
            `send waited for the server`,
        );
      }
    } else if (scenario.kind === "idle") {
      await sleep(scenario.holdMs ?? 0);
    } else {
      // A steady rate on lane 0, round-robin over the channels.
      if (scenario.kind === "churn") {
        for (const [k, w] of workers.entries()) {
          const slots = Math.floor(
            ((scenario.churnSlots ?? 0) + workers.length - 1 - k) /
              workers.length,
          );
          w.send({
            type: "churn",
            slots,
            dwellMinMs: scenario.dwellMinMs ?? 100,
            dwellMaxMs: scenario.dwellMaxMs ?? 1000,
            graceMs: scenario.graceMs ?? 500,
            seed: 1000 + k,
          });
        }
      }
      await publishAtRate(scenario.rate!, scenario.durationMs);
      if (scenario.kind === "churn") {
        const stopped = await Promise.all(
          workers.map((w) =>
            w.request<ChurnStoppedMessage>(
              { type: "stopChurn" },
              "churnStopped",
              10_000,
            )
          ),
        );
        churnSessions = stopped.reduce((a, m) => a + m.sessions, 0);
      }
    }
    const publishEnd = nowMicros();
    const publishedBeforeEnd = publishedTotal.reduce((a, b) => a + b, 0);
    const server1 = targetCpu(target);

    if (scenario.kind === "idle") {
      // One event, to show every held connection still works.
      const batch: BenchEvent[] = [];
      for (let c = 0; c < channels; c++) {
        batch.length = 0;
        addEvent(c, 0, nowMicros(), batch);
        await lanesOpen[0].send(batch);
      }
    }

    // Drain: until every steady subscriber has every event of its channel.
    let drained = await drainAll();
    // Let duplicates or strays arrive, and the last figures settle.
    await sleep(50);
    const server2 = targetCpu(target);
    const backend2 = sumOf(backendPids(), cpuSeconds);
    const server2At = nowMicros();
    const machine1 = machineBusySeconds();
    const gen1 = cpuSeconds(Deno.pid);
    const genThreads1 = threadCpuSeconds(Deno.pid);
    const rssEnd = sumOf(target.pids(), rssKiB);
    const eventsMeasured = publishedTotal.reduce((a, b) => a + b, 0);

    // Cluster: the saturating phase's latency and deliveries, then a phase
    // at a modest rate whose latency is the one reported.
    let saturated: { latency: Histogram; received: number } | undefined;
    let latencyPhaseRate = NaN;
    let lastReceiveMeasured = NaN;
    if (latencyPhase && !drained) {
      // A backlog would be all the second phase measured.
      log("  no latency phase: the saturating phase did not drain");
    } else if (latencyPhase && (stalledPublishers > 0 || failedSends > 0)) {
      // Its lane is closed or failed.
      log("  no latency phase: a publisher lane failed or stalled");
    } else if (latencyPhase) {
      lastReceiveMeasured = Math.max(...new Float64Array(lastReceiveBuffer));
      const taken = await Promise.all(
        workers.map((w) =>
          w.request<LatencyTakenMessage>(
            { type: "takeLatency" },
            "latencyTaken",
            10_000,
          )
        ),
      );
      const latency = new Histogram();
      for (const t of taken) for (const h of t.latency) latency.merge(h);
      saturated = {
        latency,
        received: taken.reduce((a, t) => a + t.received, 0),
      };
      await sleep(settings.settleMs);
      const sent = await publishAtRate(
        scenario.latencyRate!,
        scenario.latencyMs!,
      );
      latencyPhaseRate = sent / (scenario.latencyMs! / 1000);
      drained = await drainAll() && drained;
      await sleep(50);
    }

    const results = await Promise.all(
      workers.map((w) =>
        w.request<ResultMessage>({ type: "finish" }, "result", 30_000)
      ),
    );
    // The peak over each process's life so far: set-up, publishing, drain.
    const peakRss = sumOf(target.pids(), peakRssKiB);
    const lastReceive = saturated
      ? lastReceiveMeasured
      : Math.max(...results.map((r) => r.lastReceive));
    const latency = new Histogram();
    const remoteLatency = new Histogram();
    const deliveriesByInstance = ports.map(() => 0);
    const problems: Record<string, number> = {};
    for (const r of results) {
      r.latency.forEach((h, k) => {
        latency.merge(h);
        if (k > 0) remoteLatency.merge(h);
      });
      r.receivedByInstance.forEach((n, k) => deliveriesByInstance[k] += n);
      for (const [k, v] of Object.entries(r.problems)) {
        problems[k] = (problems[k] ?? 0) + v;
      }
    }
    // A cluster run whose latency phase was skipped: all its latency is
    // the saturating phase's, reported as such and not as the latency.
    const skipped = latencyPhase && !saturated;
    const reported = skipped ? new Histogram() : latency;
    const remote = skipped ? new Histogram() : remoteLatency;
    const saturatedLatency = skipped ? latency : saturated?.latency;
    const sum = (f: (r: ResultMessage) => number) =>
      results.reduce((a, r) => a + f(r), 0);
    const deliveriesAll = sum((r) => r.received);
    // Throughput and CPU per delivery are those of the measured phase.
    const deliveries = saturated?.received ?? deliveriesAll;
    const events = publishedTotal.reduce((a, b) => a + b, 0);
    const backendCpu = backend2 - backend0;
    const idle = scenario.kind === "idle";
    // Idle: the server's CPU while holding; otherwise from the first publish
    // to the last delivery.
    const measuredSeconds = idle
      ? (publishEnd - t0) / 1e6
      : (Math.max(lastReceive, publishEnd) - t0) / 1e6;
    const serverCpu = idle
      ? server1.total - server0.total
      : server2.total - server0.total;
    const serverThreadsEnd = idle ? server1.threads : server2.threads;
    // The wall time the server's CPU was read over.
    const cpuWall = ((idle ? publishEnd : server2At) - t0) / 1e6;
    const genWall = (nowMicros() - t0) / 1e6;
    const missing = sum((r) => r.missing);
    const duplicates = sum((r) => r.duplicates);
    const outOfOrder = sum((r) => r.outOfOrder);
    const unexpected = sum((r) => r.unexpected);
    const malformed = sum((r) => r.malformed);
    const closedByServer = sum((r) => r.closedByServer);
    const publishErrors = lanesOpen.reduce((a, l) => a + l.errors, 0) +
      failedSends;
    const ms = (micros: number) => micros / 1000;
    return {
      subscribers: opened,
      failedSubscribers: failed,
      acceptSeconds,
      acceptCpuMicros: opened > 0 ? acceptCpu / opened * 1e6 : NaN,
      events,
      deliveries,
      deliveriesPerSecond: idle ? NaN : deliveries / measuredSeconds,
      latencyP50Ms: ms(reported.quantile(0.5)),
      latencyP99Ms: ms(reported.quantile(0.99)),
      latencyMaxMs: reported.count > 0 ? ms(reported.max) : NaN,
      expected: sum((r) => r.expected),
      missing,
      duplicates,
      outOfOrder,
      unexpected,
      malformed,
      closedByServer,
      publishErrors,
      stalledPublishers,
      problems,
      complete: failed === 0 && Object.keys(problems).length === 0 &&
        missing === 0 && duplicates === 0 &&
        outOfOrder === 0 && unexpected === 0 && malformed === 0 &&
        closedByServer === 0 && publishErrors === 0 &&
        stalledPublishers === 0 && drained,
      drained,
      measuredSeconds,
      serverCpuSeconds: serverCpu,
      serverCores: serverCpu / cpuWall,
      serverBusiestThread: busiestThread(server0.threads, serverThreadsEnd) /
        cpuWall,
      cpuMicrosPerDelivery: idle ? NaN : serverCpu / deliveries * 1e6,
      rssBaselineKiB: rssBaseline,
      rssConnectedKiB: rssConnected,
      rssEndKiB: rssEnd,
      peakRssMiB: peakRss / 1024,
      rssPerConnectionKiB: opened > 0
        ? (rssConnected - rssBaseline) / opened
        : NaN,
      generatorCores: (gen1 - gen0) / genWall,
      generatorBusiestThread: busiestThread(genThreads0, genThreads1) /
        genWall,
      otherCores: Math.max(
        0,
        (machine1 - machine0 - (server2.total - server0.total) -
          (gen1 - gen0) - (hasBackend ? backendCpu : 0)) /
          ((server2At - t0) / 1e6),
      ),
      publishedPerSecond: idle
        ? NaN
        : publishedBeforeEnd / (scenario.durationMs / 1000),
      windowBlocked: saturate && settings.window > 0
        ? windowBlockedMs / scenario.durationMs
        : NaN,
      window: settings.window,
      churnSessions,
      churnPerSecond: scenario.kind === "churn"
        ? churnSessions / (scenario.durationMs / 1000)
        : NaN,
      instances: ports.length,
      deliveriesByInstance,
      remoteShare: ports.length > 1 && deliveriesAll > 0
        ? 1 - deliveriesByInstance[0] / deliveriesAll
        : NaN,
      remoteLatencyP50Ms: ports.length > 1 ? ms(remote.quantile(0.5)) : NaN,
      remoteLatencyP99Ms: ports.length > 1 ? ms(remote.quantile(0.99)) : NaN,
      latencyPhaseRate,
      saturatedLatencyP50Ms: saturatedLatency
        ? ms(saturatedLatency.quantile(0.5))
        : NaN,
      saturatedLatencyP99Ms: saturatedLatency
        ? ms(saturatedLatency.quantile(0.99))
        : NaN,
      saturatedLatencyMaxMs: saturatedLatency && saturatedLatency.count > 0
        ? ms(saturatedLatency.max)
        : NaN,
      backendCpuSeconds: hasBackend ? backendCpu : NaN,
      backendCores: hasBackend ? backendCpu / cpuWall : NaN,
      backendCpuMicrosPerEvent: hasBackend && eventsMeasured > 0
        ? backendCpu / eventsMeasured * 1e6
        : NaN,
    };
  } finally {
    for (const lane of lanesOpen) lane.close();
    await Promise.all(
      workers.map((w) =>
        w.request({ type: "close" }, "closed", 10_000).catch(() => {})
      ),
    );
    for (const w of workers) w.terminate();
  }
}
