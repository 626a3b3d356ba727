// Hostile clients against the real program: slowloris connections that send
// their request head a byte at a time, and a crowd of connections that
// subscribe and never read. Neither may delay the well-behaved clients or
// make the server's memory grow with the traffic it cannot deliver.
import assert from "node:assert/strict";
import { startServer } from "../helpers/server_process.ts";
import { connect } from "../helpers/sse_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Resident and peak resident memory of a process, in KiB. */
function memoryOf(pid: number): { rssKiB: number; peakKiB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { rssKiB: field("VmRSS"), peakKiB: field("VmHWM") };
}

/** This process's soft limit on open files. */
function openFileLimit(): number {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const soft = /^Max open files\s+(\S+)/m.exec(limits)![1];
  return soft === "unlimited" ? Infinity : Number(soft);
}

/** Reads from `conn` until the text read so far matches `pattern`. */
async function readUntil(
  conn: Deno.Conn,
  pattern: RegExp,
  timeoutMs = 5000,
): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${pattern}: ${text}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), left);
      }),
    ]).finally(() => clearTimeout(timer));
    if (n === "timeout") continue; // the loop reports it
    if (n === null) throw new Error(`connection closed before ${pattern}`);
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

Deno.test("slowloris: request heads sent a byte at a time do not delay other clients", async () => {
  await using server = await startServer(["-P", "0"], { control: true });
  const head = encoder.encode("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  const SLOW = 5;
  const slow: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < SLOW; i++) {
      slow.push(
        await Deno.connect({ hostname: "127.0.0.1", port: server.httpPort }),
      );
    }
    // Bytes each slow client still has to send.
    const left = slow.map(() => head.length);
    let started!: () => void;
    const allStarted = new Promise<void>((resolve) => started = resolve);
    let firstBytes = 0;
    const trickles = slow.map(async (conn, c) => {
      for (let i = 0; i < head.length; i++) {
        await conn.write(head.subarray(i, i + 1));
        left[c]--;
        if (i === 0 && ++firstBytes === SLOW) started();
        // The pauses are the point of this test: they are what a slowloris
        // client does. 100-200 ms per byte, 31 bytes: 3-6 s per client.
        if (i < head.length - 1) {
          await new Promise((resolve) =>
            setTimeout(resolve, 100 + Math.random() * 100)
          );
        }
      }
    });
    await allStarted;

    // Meanwhile, ordinary clients subscribe, publish and receive.
    const ctl = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.controlPort!,
    });
    const latencies: number[] = [];
    try {
      await using steady = await connect(`${server.baseUrl}/fast`);
      for (let round = 0; round < 5; round++) {
        const begin = performance.now();
        await using fresh = await connect(`${server.baseUrl}/fast`);
        const answer = await fetch(
          `${server.baseUrl}/fast?message=http${round}`,
        );
        assert.equal(answer.status, 200);
        await answer.body?.cancel();
        assert.equal((await steady.nextEvent(2000)).data, `http${round}`);
        assert.equal((await fresh.nextEvent(2000)).data, `http${round}`);
        await ctl.write(encoder.encode(`fast = ctl${round}\n`));
        assert.equal((await steady.nextEvent(2000)).data, `ctl${round}`);
        assert.equal((await fresh.nextEvent(2000)).data, `ctl${round}`);
        latencies.push(performance.now() - begin);
      }
    } finally {
      ctl.close();
    }
    // All that happened while every slow client was still mid-head.
    const stillToSend = Math.min(...left);
    console.log(
      `rounds took ${
        latencies.map((ms) => ms.toFixed(0)).join(", ")
      } ms; the slow clients still had at least ${stillToSend} of ${head.length} bytes to send`,
    );
    assert.ok(
      stillToSend >= head.length / 2,
      `slow clients had only ${stillToSend} bytes left`,
    );
    for (const ms of latencies) assert.ok(ms < 1000, `a round took ${ms} ms`);

    // Once their heads are complete the slow clients are served normally.
    await Promise.all(trickles);
    for (const conn of slow) {
      const answer = await readUntil(conn, /\r\n\r\n/);
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /content-type: text\/event-stream/i);
    }
    // The 200 answer comes after the subscription is registered.
    const published = await fetch(`${server.baseUrl}/slow?message=at+last`);
    assert.equal(published.status, 200);
    assert.match(await published.text(), new RegExp(`to ${SLOW} clients`));
    for (const conn of slow) await readUntil(conn, /data: at last\n\n/);
  } finally {
    for (const conn of slow) conn.close();
  }
});

Deno.test("many connections that never read: dropped as slow consumers, others get everything, memory stays bounded", async () => {
  // 1000 connections need 1000 descriptors here (the server has its own
  // limit, inherited from this process). With a lower soft limit (ulimit -n)
  // the count is reduced to what fits, keeping 200 descriptors spare.
  const STALLED = Math.min(1000, openFileLimit() - 200);
  assert.ok(STALLED >= 100, `ulimit -n is too low (${openFileLimit()})`);
  const MAX_BUFFER = 65536;
  // Each never-reading loopback connection first absorbs megabytes in kernel
  // socket buffers (until the system's TCP memory pressure limit) before the
  // server's queue for it starts to fill, and is dropped a second after it
  // last read; 4000 events of 32 KiB are more than enough, as a bound.
  const MAX_EVENTS = 4000;
  await using server = await startServer(
    ["-P", "0", "--max-client-buffer", String(MAX_BUFFER)],
    { control: true },
  );
  const pid = server.process.pid;
  const baseline = memoryOf(pid);
  await using reader = await connect(`${server.baseUrl}/c`);
  const stalled: Deno.TcpConn[] = [];
  const ctl = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.controlPort!,
  });
  try {
    const request = encoder.encode("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    for (let opened = 0; opened < STALLED; opened += 100) {
      const batch = await Promise.all(
        Array.from(
          { length: Math.min(100, STALLED - opened) },
          () => Deno.connect({ hostname: "127.0.0.1", port: server.httpPort }),
        ),
      );
      stalled.push(...batch);
      await Promise.all(batch.map((conn) => conn.write(request)));
    }
    // The reader is client 1, the stalled ones 2 to STALLED + 1.
    await server.waitForOutput(
      new RegExp(`client ${STALLED + 1} connected`),
      20_000,
    );
    const connected = memoryOf(pid);

    const payload = "x".repeat(32 * 1024);
    const dropped = () => count(server.output(), /dropped: slow consumer/g);
    let sent = 0;
    let peakSampleKiB = 0;
    // One event at a time, each awaited by the reader: its queue never holds
    // more than one event, so only the stalled clients fall behind (and are
    // dropped once they have taken nothing for a second past their limit).
    const deadline = Date.now() + 30_000;
    while (
      dropped() < STALLED && sent < MAX_EVENTS && Date.now() < deadline
    ) {
      await ctl.write(encoder.encode(`c = ${sent} ${payload}\n`));
      const event = await reader.nextEvent(10_000);
      assert.equal(event.data, `${sent} ${payload}`, `event ${sent} in order`);
      sent++;
      peakSampleKiB = Math.max(peakSampleKiB, memoryOf(pid).rssKiB);
    }
    const output = server.output();
    assert.equal(dropped(), STALLED, `after ${sent} events`);
    assert.equal(
      count(
        output,
        new RegExp(
          `client \\d+ at 127\\.0\\.0\\.1:\\d+ dropped: slow consumer, took nothing for 1 s with more than ${MAX_BUFFER} bytes queued`,
          "g",
        ),
      ),
      STALLED,
    );
    assert.doesNotMatch(output, /client 1 at \S+ dropped/);

    // Still responsive: a new subscriber, publishing by HTTP and control port.
    await using late = await connect(`${server.baseUrl}/c`);
    const answer = await fetch(`${server.baseUrl}/c?message=after`);
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), /OK: 1 event sent to 2 clients/);
    assert.equal((await reader.nextEvent()).data, "after");
    assert.equal((await late.nextEvent()).data, "after");
    await ctl.write(encoder.encode("c = still\n"));
    assert.equal((await reader.nextEvent()).data, "still");
    assert.equal((await late.nextEvent()).data, "still");

    const end = memoryOf(pid);
    const MiB = 1024 * 1024;
    const offered = sent * payload.length * STALLED;
    // Generous: a baseline for the runtime plus four times each stalled
    // client's queue limit. A server that kept what it could not deliver
    // would need the bytes offered (about 1.7 GB with 1000 connections).
    const limitKiB = 256 * 1024 + STALLED * 4 * MAX_BUFFER / 1024;
    console.log(
      `${STALLED} stalled connections dropped after ${sent} events of 32 KiB ` +
        `(${(offered / MiB).toFixed(0)} MiB offered to them); server RSS: ` +
        `${(baseline.rssKiB / 1024).toFixed(0)} MiB at start, ` +
        `${(connected.rssKiB / 1024).toFixed(0)} MiB connected, ` +
        `${(peakSampleKiB / 1024).toFixed(0)} MiB highest sample, ` +
        `${(end.rssKiB / 1024).toFixed(0)} MiB at the end, ` +
        `${(end.peakKiB / 1024).toFixed(0)} MiB peak (VmHWM); ` +
        `limit ${(limitKiB / 1024).toFixed(0)} MiB`,
    );
    assert.ok(end.peakKiB < limitKiB, `peak RSS ${end.peakKiB} KiB`);
  } finally {
    ctl.close();
    for (const conn of stalled) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }
});
