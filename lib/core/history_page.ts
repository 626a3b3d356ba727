/**
 * History on demand: the events kept for some channels, as one answer
 * rather than the start of a stream (`Accept: application/json`). Both
 * brokers read their replay and shape it here, so they agree on what the
 * answer's `lastEventId` is.
 *
 * @module
 */

import { EARLIEST } from "./history.ts";

/** The events kept for some channels after a position, oldest first. */
export interface HistoryPage {
  /** Each event once, encoded as a stream sends it, with its id. */
  readonly entries: readonly {
    readonly id: string;
    readonly bytes: Uint8Array;
  }[];
  /** Set when events after the asked position are no longer kept. */
  readonly gap?: "unknown id" | "expired";
  /**
   * Where a stream should resume to miss nothing after this answer: the
   * newest entry's id; with no entry, the asked id when it was a position
   * (not `earliest`, no gap); else null (then `earliest` misses nothing).
   */
  readonly lastEventId: string | null;
}

/** An empty page: history is off, so there is nothing and no position. */
export const NO_HISTORY: HistoryPage = { entries: [], lastEventId: null };

/**
 * The page for a replay read after `lastEventId` (absent: from the start).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const page = historyPage({ entries: [] }, "n-7");
 * assert.equal(page.lastEventId, "n-7");
 * assert.equal(historyPage({ entries: [] }, undefined).lastEventId, null);
 * ```
 */
export function historyPage(
  replay: {
    readonly entries: readonly {
      readonly id: string;
      readonly bytes: Uint8Array;
    }[];
    readonly gap?: "unknown id" | "expired";
  },
  lastEventId: string | undefined,
): HistoryPage {
  // A gap means the asked id is no position worth resuming from: the
  // client was told, and resuming from it would tell it again.
  const position = lastEventId === undefined || lastEventId === EARLIEST ||
      replay.gap !== undefined
    ? null
    : lastEventId;
  const newest = replay.entries.at(-1)?.id ?? position;
  return replay.gap
    ? { entries: replay.entries, gap: replay.gap, lastEventId: newest }
    : { entries: replay.entries, lastEventId: newest };
}
