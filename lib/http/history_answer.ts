/**
 * History on demand over HTTP: a subscription URL asked with
 * `Accept: application/json` is answered with the events kept for its
 * channels as one JSON document, instead of a stream. For pages that render
 * the current state first, for server-side code and for `curl`.
 *
 * @module
 */

import type { Broker } from "../broker/broker.ts";
import type { HistoryPage } from "../core/history_page.ts";
import { parseEvent } from "../core/sse_format.ts";
import { RequestError } from "../errors.ts";
import {
  type Context,
  json,
  warn,
  whole,
  type WholeAnswer,
} from "./answers.ts";

/** One event of the answer, as EventSource would deliver it. */
export interface HistoryEventJson {
  readonly id: string;
  /** The event type, `message` by default. */
  readonly event: string;
  /** The whole data, lines joined with `\n`. */
  readonly data: string;
}

/** The JSON document answered. */
export interface HistoryJson {
  readonly events: HistoryEventJson[];
  /** Where a stream should resume from (see {@linkcode HistoryPage}). */
  readonly lastEventId: string | null;
  /** Why some events after the asked id are missing, as `sse-gap` says. */
  readonly gap?: string;
}

/**
 * Whether a request's `Accept` header asks for JSON rather than a stream:
 * it names `application/json` and not `text/event-stream`. Q-values are
 * not weighed: a client that accepts both gets the stream, so EventSource
 * (`text/event-stream`) and curl (any type) keep getting what they always
 * got.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(wantsJson("application/json"), true);
 * assert.equal(wantsJson("text/event-stream"), false);
 * assert.equal(wantsJson(["*", "*"].join("/")), false);
 * ```
 */
export function wantsJson(accept: string | null): boolean {
  if (accept === null) return false;
  const types = accept.split(",").map((range) =>
    range.split(";")[0].trim().toLowerCase()
  );
  return types.includes("application/json") &&
    !types.includes("text/event-stream");
}

/** The JSON document of a history page: each entry decoded once. */
export function historyJson(page: HistoryPage): HistoryJson {
  const decoder = new TextDecoder();
  const events = page.entries.map(({ id, bytes }) => {
    const { type, data } = parseEvent(decoder.decode(bytes));
    return { id, event: type, data };
  });
  return page.gap === undefined
    ? { events, lastEventId: page.lastEventId }
    : { events, lastEventId: page.lastEventId, gap: page.gap };
}

/**
 * Answers a subscription asked for JSON, already authorised: `200` with
 * the events kept for `channels` after `lastEventId`, or for `HEAD` the
 * same headers and no body. When the history cannot be read (Redis down)
 * the refusal is JSON too, since that is what the client accepts.
 */
export async function historyAnswer(
  ctx: Context,
  broker: Broker,
  channels: readonly string[],
  lastEventId: string | undefined,
  head: boolean,
): Promise<WholeAnswer> {
  const headers = {
    "Cache-Control": "no-cache",
    // The same URL answers a stream to other Accept headers.
    Vary: ctx.cors.Vary === undefined ? "Accept" : `${ctx.cors.Vary}, Accept`,
  };
  if (head) {
    return whole(200, {
      "Content-Type": "application/json",
      ...ctx.cors,
      ...headers,
    });
  }
  let page: HistoryPage;
  try {
    page = await broker.history(channels, lastEventId);
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    warn(ctx, `history not answered: ${error.message}`);
    return json(ctx, error.status, { error: error.message }, {
      ...headers,
      ...error.headers,
    });
  }
  return json(ctx, 200, historyJson(page), headers);
}
