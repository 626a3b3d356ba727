/**
 * The FIFO input: a named pipe on the server's machine that takes instruction
 * lines, so a shell script can publish with `echo "news = hi" > sse.fifo`.
 *
 * The pipe is held open for reading and writing, as the original does, so it
 * never reports end-of-file when a writer closes and there is never a moment
 * without a reader (a writer would get "broken pipe"). Since no end-of-file
 * marks the end of a writer's text, a last line written without a line break
 * (`printf 'news = hi' > sse.fifo`) is taken as ended once nothing more has
 * arrived for {@linkcode UNTERMINATED_LINE_DELAY_MS}.
 *
 * Writers share the pipe, so a `<<TAG` block that does not end within
 * `blockTimeoutMs` is refused and its lines read as lines (a writer that
 * never ends its block cannot swallow everyone else's lines). The path is
 * checked every {@linkcode FIFO_CHECK_MS}: a FIFO removed or replaced while
 * the server runs is noticed, logged and made again, so writers never block
 * on a pipe nobody reads nor write a regular file in its place.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Dispatcher } from "../core/dispatch.ts";
import { errorMessage, ExitCode, StartupError } from "../errors.ts";
import { type LineLimits, readInstructions } from "./line_input.ts";

const logger = getLogger(["sse-server", "fifo"]);

/** Settings of a {@linkcode FifoInput}. */
export interface FifoOptions {
  readonly path: string;
  readonly limits: LineLimits;
  /** Permissions of a FIFO this server creates. */
  readonly mode: number;
  /** Time for a `<<TAG` block to end (see the module note). */
  readonly blockTimeoutMs?: number;
}

/** How often the FIFO's path is checked for removal or replacement. */
export const FIFO_CHECK_MS = 1000;

/**
 * Reads instructions from a FIFO until closed. A FIFO it created is removed
 * on close; one that already existed is left alone.
 */
export class FifoInput implements AsyncDisposable {
  readonly path: string;
  #created: boolean;
  readonly #mode: number;
  readonly #blockTimeoutMs: number | undefined;
  /** Set when the path changed under us: reopen without an error. */
  #replaced = false;
  readonly #dispatcher: Dispatcher;
  readonly #limits: LineLimits;
  readonly #reading: Promise<void>;
  #file: Deno.FsFile | null = null;
  #closed = false;

  private constructor(
    options: FifoOptions,
    created: boolean,
    dispatcher: Dispatcher,
  ) {
    this.path = options.path;
    this.#created = created;
    this.#mode = options.mode;
    this.#blockTimeoutMs = options.blockTimeoutMs;
    this.#dispatcher = dispatcher;
    this.#limits = options.limits;
    this.#reading = this.#readLoop();
  }

  /**
   * Creates the FIFO if `path` does not exist and starts reading it. Throws
   * {@linkcode StartupError} (exit 73) when the path exists but is not a FIFO
   * (it is never replaced) or cannot be created.
   */
  static async open(
    options: FifoOptions,
    dispatcher: Dispatcher,
  ): Promise<FifoInput> {
    const { path } = options;
    let created = false;
    try {
      const info = await Deno.stat(path);
      if (!info.isFifo) {
        throw new StartupError(
          `${path} exists and is not a FIFO; it is left untouched (remove it or choose another path)`,
          ExitCode.cantCreate,
        );
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        if (error instanceof StartupError) throw error;
        throw new StartupError(
          `cannot use FIFO ${path}: ${errorMessage(error)}`,
          ExitCode.cantCreate,
          { cause: error },
        );
      }
      await makeFifo(path, options.mode);
      created = true;
    }
    return new FifoInput(options, created, dispatcher);
  }

  /** Stops reading, and removes the FIFO if this server created it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Interrupts the pending read.
      this.#file?.close();
    } catch {
      // Closed already.
    }
    await this.#reading;
    if (this.#created) {
      await Deno.remove(this.path).catch((error) =>
        logger.warn("cannot remove FIFO {path}: {error}", {
          path: this.path,
          error: errorMessage(error),
        })
      );
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #readLoop(): Promise<void> {
    const source = { kind: "fifo", name: this.path } as const;
    while (!this.#closed) {
      let watch: ReturnType<typeof setInterval> | undefined;
      let file: Deno.FsFile | undefined;
      try {
        await this.#ensureFifo();
        // Read and write: opening does not wait for a writer, and reads never
        // see end-of-file.
        file = await Deno.open(this.path, { read: true, write: true });
        if (this.#closed) {
          file.close();
          return;
        }
        this.#file = file;
        const opened = file;
        const { ino } = await opened.stat();
        watch = setInterval(() => this.#checkPath(opened, ino), FIFO_CHECK_MS);
        await readInstructions(file.readable.pipeThrough(endIdleLines()), {
          source,
          dispatcher: this.#dispatcher,
          blockTimeoutMs: this.#blockTimeoutMs,
          ...this.#limits,
        });
      } catch (error) {
        if (this.#closed) return;
        if (this.#replaced) {
          this.#replaced = false;
          continue;
        }
        logger.error("FIFO {path}: {error}", {
          path: this.path,
          error: errorMessage(error),
        });
        // Do not spin on a pipe that keeps failing.
        await new Promise((resolve) => setTimeout(resolve, FIFO_CHECK_MS));
      } finally {
        clearInterval(watch);
        this.#file = null;
        try {
          file?.close(); // if reading did not get to close it
        } catch {
          // Closed already.
        }
      }
    }
  }

  /** Makes the FIFO again if it is gone; refuses a path that is not one. */
  async #ensureFifo(): Promise<void> {
    try {
      const info = await Deno.stat(this.path);
      if (!info.isFifo) {
        throw new Error(
          "the path is no longer a FIFO; it is left untouched (remove it to have the FIFO made again)",
        );
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      await makeFifo(this.path, this.#mode);
      this.#created = true;
      logger.warn("FIFO {path} was gone; made it again", { path: this.path });
    }
  }

  /** Closes `file` (to reopen) when the path no longer names it. */
  #checkPath(file: Deno.FsFile, ino: number | null): void {
    Deno.stat(this.path).then(
      (info) => info.isFifo && info.ino === ino,
      () => false,
    ).then((same) => {
      if (same || this.#closed || this.#file !== file) return;
      logger.warn("FIFO {path} was removed or replaced; opening it again", {
        path: this.path,
      });
      this.#replaced = true;
      try {
        file.close(); // ends the pending read
      } catch {
        // Closed already.
      }
    });
  }
}

/** How long a line without a line break waits for its end. */
export const UNTERMINATED_LINE_DELAY_MS = 100;

/**
 * Passes bytes through; when a chunk does not end with a line break and
 * nothing follows within {@linkcode UNTERMINATED_LINE_DELAY_MS}, adds one.
 */
export function endIdleLines(): TransformStream<Uint8Array, Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const newline = new Uint8Array([0x0a]);
  return new TransformStream({
    transform(chunk, controller) {
      clearTimeout(timer);
      timer = undefined;
      controller.enqueue(chunk);
      if (chunk.length > 0 && chunk[chunk.length - 1] !== 0x0a) {
        timer = setTimeout(() => {
          timer = undefined;
          controller.enqueue(newline);
        }, UNTERMINATED_LINE_DELAY_MS);
      }
    },
    flush() {
      clearTimeout(timer);
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

async function makeFifo(path: string, mode: number): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("mkfifo", {
      args: ["-m", mode.toString(8), "--", path],
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new StartupError(
      `cannot create FIFO ${path}: mkfifo: ${errorMessage(error)}`,
      ExitCode.cantCreate,
      { cause: error },
    );
  }
  if (!output.success) {
    const reason = new TextDecoder().decode(output.stderr).trim();
    throw new StartupError(
      `cannot create FIFO ${path}: ${reason}`,
      ExitCode.cantCreate,
    );
  }
}
