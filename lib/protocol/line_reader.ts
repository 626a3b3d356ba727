/**
 * Splitting a byte stream into bounded lines, for the FIFO and the control
 * port. Lines end at LF (a CR before it is dropped); a line longer than the
 * limit is never buffered whole: it is reported once, with its length, and
 * skipped up to its end.
 *
 * @module
 */

/** One line of input, or the report of a line that was too long. */
export type LineItem =
  | { readonly kind: "line"; readonly text: string }
  | { readonly kind: "too-long"; readonly length: number };

/**
 * A `TransformStream` from text chunks to {@linkcode LineItem}s.
 *
 * `maxLength` counts UTF-16 code units of the line without its line break.
 * A last line without a line break is emitted when the input ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const items = ReadableStream.from(["news = hel", "lo\r\n", "x".repeat(20)])
 *   .pipeThrough(new LineSplitStream(16));
 * assert.deepEqual(await Array.fromAsync(items), [
 *   { kind: "line", text: "news = hello" },
 *   { kind: "too-long", length: 20 },
 * ]);
 * ```
 */
export class LineSplitStream extends TransformStream<string, LineItem> {
  constructor(maxLength: number) {
    let pending = "";
    // Length of the over-long line being skipped, or -1 when not skipping.
    let skipped = -1;
    // A CR that ended the previous chunk: held back until the next chunk
    // shows whether it starts a CRLF, so it never counts towards the limit.
    let heldCR = false;
    const emitLine = (
      text: string,
      controller: TransformStreamDefaultController<LineItem>,
    ) => {
      if (skipped >= 0) {
        controller.enqueue({ kind: "too-long", length: skipped + text.length });
        skipped = -1;
      } else {
        controller.enqueue({ kind: "line", text });
      }
    };
    super({
      transform(chunk, controller) {
        if (heldCR) {
          chunk = "\r" + chunk;
          heldCR = false;
        }
        let start = 0;
        for (
          let nl = chunk.indexOf("\n");
          nl >= 0;
          nl = chunk.indexOf("\n", start)
        ) {
          let line = pending + chunk.slice(start, nl);
          pending = "";
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (skipped < 0 && line.length > maxLength) {
            skipped = 0;
          }
          emitLine(line, controller);
          start = nl + 1;
        }
        let rest = chunk.slice(start);
        if (rest.endsWith("\r")) {
          heldCR = true;
          rest = rest.slice(0, -1);
        }
        if (skipped >= 0) {
          skipped += rest.length;
        } else if (pending.length + rest.length > maxLength) {
          skipped = pending.length + rest.length;
          pending = "";
        } else {
          pending += rest;
        }
      },
      flush(controller) {
        // A CR still held back ends the last line, like a line break.
        if (pending !== "" || skipped >= 0 || heldCR) {
          emitLine(pending, controller);
        }
        pending = "";
      },
    });
  }
}
