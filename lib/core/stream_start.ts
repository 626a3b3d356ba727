/**
 * What a new stream starts with: the `retry:` field and the replay of what
 * a reconnecting client missed (a gap event first when some of it is gone).
 * Kept apart from the hub, which queues these in the same synchronous step
 * as it registers the subscriber.
 *
 * @module
 */

import type { History } from "./history.ts";
import { gapEvent } from "./notices.ts";
import { encodeRetry } from "./sse_format.ts";

/** One piece of a stream's start: its bytes, events and id. */
export interface StartItem {
  readonly bytes: Uint8Array;
  readonly events: number;
  readonly id?: string;
}

/**
 * The start of a stream on `channels` for a client that announces
 * `retryMs` and last saw `lastEventId` (both optional).
 */
export function streamStart(
  history: History,
  channels: readonly string[],
  options: { readonly retryMs?: number; readonly lastEventId?: string },
): StartItem[] {
  const start: StartItem[] = [];
  if (options.retryMs !== undefined) {
    start.push({ bytes: encodeRetry(options.retryMs), events: 0 });
  }
  if (options.lastEventId !== undefined && history.enabled) {
    const replay = history.replay(channels, options.lastEventId);
    if (replay.gap) {
      start.push({
        bytes: gapEvent(options.lastEventId, replay.gap),
        events: 1,
      });
    }
    for (const { bytes, id } of replay.entries) {
      start.push({ bytes, events: 1, id });
    }
  }
  return start;
}
