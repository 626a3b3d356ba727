/**
 * Reading instruction lines from a byte stream (a FIFO or a control-port
 * connection) and handing them to the dispatcher. Shared by both inputs so
 * they treat every line alike: each line of a write is handled, a malformed
 * or over-long line is reported and skipped, and the input goes on.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { describeSource, type Dispatcher, type Source } from "./dispatch.ts";
import { InstructionError, parseInstructionLine } from "./instruction.ts";
import { LineSplitStream } from "./line_reader.ts";

const logger = getLogger(["sse-server", "input"]);

/** How to read one input. */
export interface LineInputOptions {
  readonly source: Source;
  readonly dispatcher: Dispatcher;
  /** Longest line accepted, in characters. */
  readonly maxLineLength: number;
  /** Sends an error line back to the peer, where the input has one. */
  readonly reply?: (message: string) => Promise<void>;
}

/**
 * Handles every line of `readable` until it ends. Errors are logged with the
 * source and, where possible, answered with an `error: …` line.
 */
export async function readInstructions(
  readable: ReadableStream<Uint8Array>,
  options: LineInputOptions,
): Promise<void> {
  const { source, dispatcher, maxLineLength, reply } = options;
  const lines = readable
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitStream(maxLineLength));
  for await (const item of lines) {
    let problem: string;
    if (item.kind === "too-long") {
      problem =
        `line too long (${item.length} characters, limit ${maxLineLength}), ignored`;
    } else {
      try {
        const instruction = parseInstructionLine(item.text);
        if (instruction === null) continue;
        if (instruction.kind === "command") {
          dispatcher.command(instruction.command, source);
        } else {
          dispatcher.publish([instruction.channel], [{
            type: instruction.type,
            data: instruction.data,
          }], source);
        }
        continue;
      } catch (error) {
        if (!(error instanceof InstructionError)) throw error;
        problem = `${error.message}, line ignored`;
      }
    }
    logger.warn("{source}: {problem}", {
      source: describeSource(source),
      problem,
    });
    await reply?.(`error: ${problem}\n`);
  }
}
