/**
 * A small application for `--auth-url` tests: a `Deno.serve` server on a
 * free loopback port that records every question it is asked (the JSON
 * body and the headers that matter) and answers as the test decides,
 * including never (until the hub gives up or the app is closed).
 *
 * @module
 */

import { Condition } from "./condition.ts";

/** One question the application received. */
export interface AppCall {
  readonly method: string;
  readonly contentType: string | null;
  /** The body as sent, unparsed. */
  readonly text: string;
  /** The body parsed as JSON. */
  readonly body: {
    action: string;
    channels: string[];
    path: string;
    remoteAddr: string;
  };
  readonly cookie: string | null;
  readonly authorization: string | null;
}

/**
 * How the application answers a question: at once, later (a promise), or
 * never (`null`).
 */
export type Decide = (call: AppCall) => Response | Promise<Response> | null;

/** A running application. */
export interface AuthApp extends AsyncDisposable {
  /** `http://127.0.0.1:PORT/auth`. */
  readonly url: string;
  /** Every question so far, in order of arrival. */
  readonly calls: AppCall[];
  /** Waits until `count` questions have arrived. */
  waitForCalls(count: number, timeoutMs?: number): Promise<void>;
  /** Questions whose answer was held back and is still pending. */
  readonly hanging: number;
  /** Waits until no held-back question is pending (the asker hung up). */
  waitForNoneHanging(timeoutMs?: number): Promise<void>;
}

/** Starts the application with `decide` on a free loopback port. */
export function startAuthApp(decide: Decide): AuthApp {
  const calls: AppCall[] = [];
  const changed = new Condition();
  const closing = new AbortController();
  let hanging = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const text = await request.text();
      const call: AppCall = {
        method: request.method,
        contentType: request.headers.get("content-type"),
        text,
        body: JSON.parse(text),
        cookie: request.headers.get("cookie"),
        authorization: request.headers.get("authorization"),
      };
      calls.push(call);
      changed.notify();
      const answer = await decide(call);
      if (answer !== null) return answer;
      // Never answers: held until the hub hangs up or the app closes.
      hanging++;
      try {
        await new Promise<void>((resolve) => {
          const signals = [request.signal, closing.signal];
          if (signals.some((s) => s.aborted)) return resolve();
          for (const signal of signals) {
            signal.addEventListener("abort", () => resolve(), { once: true });
          }
        });
      } finally {
        hanging--;
        changed.notify();
      }
      return new Response("too late", { status: 504 });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/auth`,
    calls,
    get hanging() {
      return hanging;
    },
    waitForCalls: (count, timeoutMs = 10_000) =>
      changed.wait(() => calls.length >= count || undefined, {
        timeoutMs,
        timeout: () =>
          new Error(
            `the application got ${calls.length} questions, not ${count}`,
          ),
      }).then(() => {}),
    waitForNoneHanging: (timeoutMs = 10_000) =>
      changed.wait(() => hanging === 0 || undefined, {
        timeoutMs,
        timeout: () => new Error(`${hanging} questions still held back`),
      }).then(() => {}),
    async [Symbol.asyncDispose]() {
      closing.abort();
      await server.shutdown();
    },
  };
}

/** A JSON answer with `status` (default 200). */
export function jsonAnswer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}
