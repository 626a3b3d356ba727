/**
 * Reading instruction lines from a byte stream (a FIFO or a control-port
 * connection) and handing them to the dispatcher. Shared by both inputs so
 * they treat every line alike: each line of a write is handled, a malformed
 * or over-long line is reported and skipped, and the input goes on.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  describeSource,
  type Dispatcher,
  type Source,
} from "../core/dispatch.ts";
import {
  type BlockInstruction,
  parseInstructionLine,
} from "../protocol/instruction.ts";
import { RequestError } from "../errors.ts";
import { type LineItem, LineSplitStream } from "../protocol/line_reader.ts";
import { type AuthResult, permits } from "../auth/auth.ts";
import type { TokenBucket } from "../auth/rate_limit.ts";
import type { SseEvent } from "../core/sse_format.ts";

const logger = getLogger(["sse-server", "input"]);

/** The size limits of line input. */
export interface LineLimits {
  /** Longest line accepted, in characters. */
  readonly maxLineLength: number;
  /** Most data in one multi-line block, in characters. */
  readonly maxBlockLength: number;
}

/** How to read one input. */
export interface LineInputOptions extends LineLimits {
  readonly source: Source;
  readonly dispatcher: Dispatcher;
  /**
   * When set, the first line must be `auth CREDENTIAL`, checked with this;
   * a refusal is answered and ends the input. Each publish is then checked
   * against the grant.
   */
  readonly authenticate?: (credential: string) => Promise<AuthResult>;
  /** Events this input may publish per second; past it lines are refused. */
  readonly rate?: TokenBucket;
  /** Sends an error line back to the peer, where the input has one. */
  readonly reply?: (message: string) => Promise<void>;
  /**
   * Time for a `<<TAG` block to end (the FIFO's, where writers share one
   * pipe): past it the block is refused and its lines are read as lines,
   * so a writer that never ends its block cannot swallow everyone else's.
   */
  readonly blockTimeoutMs?: number;
}

/** A multi-line block being read: its header and the lines so far. */
interface OpenBlock {
  readonly header: BlockInstruction;
  readonly lines: string[];
  length: number;
  /** Set once the block is too long: the rest is skipped to its end. */
  overflow: boolean;
  /** When its header came (ms since epoch). */
  readonly startedAt: number;
}

/** A read that did not come in time. */
const TIMED_OUT = Symbol("timed out");

/** `promise`, or {@linkcode TIMED_OUT} after `ms`; the timer is cleared. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Handles every line of `readable` until it ends. Errors are logged with the
 * source and, where possible, answered with an `error: …` line.
 */
export async function readInstructions(
  readable: ReadableStream<Uint8Array>,
  options: LineInputOptions,
): Promise<void> {
  const {
    source,
    dispatcher,
    maxLineLength,
    maxBlockLength,
    reply,
    blockTimeoutMs,
  } = options;
  const report = async (problem: string) => {
    logger.warn("{source}: {problem}", {
      source: describeSource(source),
      problem,
    });
    await reply?.(`error: ${problem}\n`);
  };
  const lines = readable
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitStream(maxLineLength));
  let block: OpenBlock | null = null;
  let grant: AuthResult | null = null;
  /** Publishes unless the credential or the rate forbids it (then reports). */
  const publish = async (channel: string, event: SseEvent, what: string) => {
    const allowed = grant && permits(grant, [channel], "publish");
    if (allowed && !allowed.ok) {
      await report(`${allowed.reason}, ${what} ignored`);
    } else if (options.rate && !options.rate.take()) {
      await report(`publish rate limit exceeded, ${what} ignored`);
    } else {
      await dispatcher.publish([channel], [event], source);
    }
  };
  /** Handles one item; "stop" ends the input. */
  const handle = async (item: LineItem): Promise<"stop" | void> => {
    if (options.authenticate && grant === null) {
      // The first line must authenticate; anything else ends the input.
      const credential = item.kind === "line"
        ? /^auth[ \t]+(\S+)[ \t]*$/i.exec(item.text)?.[1]
        : undefined;
      grant = credential === undefined
        ? {
          ok: false,
          status: 401,
          reason: 'the first line must be "auth TOKEN"',
        }
        : await options.authenticate(credential);
      if (!grant.ok) {
        await report(`authentication failed: ${grant.reason}`);
        return "stop";
      }
      return;
    }
    if (block) {
      // Inside a block lines are data, kept as they are, up to the terminator.
      if (item.kind === "line" && item.text === block.header.terminator) {
        const done: OpenBlock = block;
        block = null;
        if (done.overflow) {
          await report(
            `block too long (more than ${maxBlockLength} characters), ignored`,
          );
          return;
        }
        const { channel, type } = done.header;
        try {
          await publish(
            channel,
            { type, data: done.lines.join("\n") },
            "block",
          );
        } catch (error) {
          if (!(error instanceof RequestError)) throw error;
          await report(`${error.message}, block ignored`);
        }
        return;
      }
      const length = item.kind === "line" ? item.text.length : item.length;
      // The data is the lines joined by "\n": one separator between two.
      block.length += (block.lines.length > 0 || block.overflow ? 1 : 0) +
        length;
      if (item.kind === "too-long" || block.length > maxBlockLength) {
        block.overflow = true;
        block.lines.length = 0;
      } else if (!block.overflow) {
        block.lines.push(item.text);
      }
      return;
    }
    if (item.kind === "too-long") {
      await report(
        `line too long (${item.length} characters, limit ${maxLineLength}), ignored`,
      );
      return;
    }
    if (/^[ \t]*auth[ \t]/i.test(item.text)) {
      // Never echo a credential into the log or back to the peer.
      await report(
        "an auth line is only accepted as the first line of a control connection, ignored",
      );
      return;
    }
    try {
      const instruction = parseInstructionLine(item.text);
      if (instruction === null) return;
      if (instruction.kind === "command") {
        dispatcher.command(instruction.command, source);
      } else if (instruction.kind === "block") {
        block = {
          header: instruction,
          lines: [],
          length: 0,
          overflow: false,
          startedAt: Date.now(),
        };
      } else {
        const { channel, type, data, id } = instruction;
        await publish(
          channel,
          id === undefined ? { type, data } : { type, data, id },
          "line",
        );
      }
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      await report(`${error.message}, line ignored`);
    }
  };
  /** Refuses a block whose end did not come in time; its lines are lines. */
  const expire = async (expired: OpenBlock) => {
    const { channel, type, terminator } = expired.header;
    await report(
      `block "${channel}/${type} <<${terminator}" not ended within ${
        blockTimeoutMs! / 1000
      } s, refused; its lines are read as lines`,
    );
    for (const text of expired.lines) await handle({ kind: "line", text });
  };
  const reader = lines.getReader();
  // Each read is started before the previous line is handled; should the
  // input fail meanwhile, its rejection is observed when awaited, never
  // left unhandled.
  const read = () => {
    const promise = reader.read();
    promise.catch(() => {});
    return promise;
  };
  let pending = read();
  try {
    while (true) {
      // (Set by handle(): TypeScript cannot see it change.)
      const opened = block as OpenBlock | null;
      const next = opened && blockTimeoutMs !== undefined
        ? await within(pending, opened.startedAt + blockTimeoutMs - Date.now())
        : await pending;
      if (next === TIMED_OUT) {
        block = null;
        await expire(opened!);
        continue; // the read is still pending
      }
      if (next.done) break;
      pending = read();
      if (await handle(next.value) === "stop") return;
    }
  } finally {
    // Stopping early leaves a read pending: cancelling ends it.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const unended = block as OpenBlock | null;
  if (unended) {
    await report(
      `input ended inside a block (no line "${unended.header.terminator}"), block ignored`,
    );
  }
}
