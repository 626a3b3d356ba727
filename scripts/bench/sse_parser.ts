/**
 * A byte-level parser for one subscriber connection of the load generator:
 * the HTTP/1.1 response head, then the body (chunked transfer encoding, a
 * `Content-Length`, or read-until-close), then the `text/event-stream` in it.
 *
 * It is written for speed over exactness: it never decodes text, and it only
 * understands the benchmark's own event data, `data: SEQ LANE MICROS`
 * (three decimal integers: the sequence number within the publisher lane, the
 * lane, and the send time in microseconds on the generator's clock). Every
 * other `data:` line counts as malformed; `id:`, `event:`, `retry:` and
 * comment lines are skipped.
 *
 * @module
 */

/** Receives each complete benchmark event. */
export type EventSink = (seq: number, lane: number, sentMicros: number) => void;

const CR = 13;
const LF = 10;
const SPACE = 32;
const COLON = 58;

// Phases of the response.
const HEAD = 0;
const BODY = 1;
const DONE = 2;
// How the body is framed.
const CHUNKED = 0;
const LENGTH = 1;
const UNTIL_CLOSE = 2;
// Where the chunked decoder is.
const SIZE = 0;
const SIZE_EXTENSION = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER = 6;

/** What went wrong on a connection, if anything. */
export type ParseProblem =
  | "bad status line"
  | `HTTP status ${number}`
  | "head too long"
  | "bad chunk size"
  | "bad chunk framing";

const MAX_HEAD = 16 * 1024;
const MAX_LINE = 4096;

/**
 * Parses one response. Feed it every byte read with {@linkcode push}; it
 * calls the sink for each event and remembers the first problem met (after
 * which it ignores the rest).
 */
export class ResponseParser {
  /** HTTP status, once the head is in. */
  status = 0;
  /** Events whose data was not `SEQ LANE MICROS`. */
  malformed = 0;
  /** Comment lines (keep-alives, nchan's `: hi`). */
  comments = 0;
  /** The first problem, if any; parsing stops there. */
  problem: ParseProblem | null = null;
  /** True once the server has ended the body (last chunk, or length reached). */
  ended = false;

  #sink: EventSink;
  #onHead: (() => void) | null;
  #phase: number = HEAD;
  #framing: number = UNTIL_CLOSE;
  #head = new Uint8Array(1024);
  #headLength = 0;
  #remaining = 0; // bytes left in the chunk or the content length
  #chunkState: number = SIZE;
  #line = new Uint8Array(256);
  #lineLength = 0;
  #lineOverflow = false;
  // The event being assembled.
  #hasData = false;
  #dataOk = false;
  #seq = 0;
  #lane = 0;
  #micros = 0;

  constructor(sink: EventSink, onHead?: () => void) {
    this.#sink = sink;
    this.#onHead = onHead ?? null;
  }

  /** True once the response head has been parsed. */
  get headDone(): boolean {
    return this.#phase !== HEAD;
  }

  /** Parses `bytes[0, length)`. */
  push(bytes: Uint8Array, length = bytes.length): void {
    let i = 0;
    if (this.#phase === HEAD) {
      i = this.#pushHead(bytes, length);
      if (this.#phase === HEAD) return;
    }
    if (this.#phase !== BODY) return;
    if (this.#framing === UNTIL_CLOSE) {
      this.#sse(bytes, i, length);
    } else if (this.#framing === LENGTH) {
      const end = Math.min(length, i + this.#remaining);
      this.#remaining -= end - i;
      this.#sse(bytes, i, end);
      if (this.#remaining === 0) this.#finish();
    } else {
      this.#chunked(bytes, i, length);
    }
  }

  #finish(): void {
    this.ended = true;
    this.#phase = DONE;
  }

  #fail(problem: ParseProblem): void {
    this.problem ??= problem;
    this.#phase = DONE;
  }

  /** Collects the head; returns where the body starts in `bytes`. */
  #pushHead(bytes: Uint8Array, length: number): number {
    const start = this.#headLength;
    const take = Math.min(length, MAX_HEAD - start);
    if (start + take > this.#head.length) {
      const bigger = new Uint8Array(
        Math.min(MAX_HEAD, Math.max(start + take, this.#head.length * 2)),
      );
      bigger.set(this.#head.subarray(0, start));
      this.#head = bigger;
    }
    this.#head.set(bytes.subarray(0, take), start);
    this.#headLength = start + take;
    // Look for CRLF CRLF, starting a little before the new bytes.
    const head = this.#head;
    for (let j = Math.max(3, start); j < this.#headLength; j++) {
      if (
        head[j] === LF && head[j - 1] === CR && head[j - 2] === LF &&
        head[j - 3] === CR
      ) {
        this.#parseHead(j + 1);
        return j + 1 - start;
      }
    }
    if (this.#headLength >= MAX_HEAD) this.#fail("head too long");
    return length;
  }

  #parseHead(end: number): void {
    const text = new TextDecoder().decode(this.#head.subarray(0, end));
    const lines = text.split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!status) return this.#fail("bad status line");
    this.status = Number(status[1]);
    this.#head = new Uint8Array(0);
    if (this.status !== 200) return this.#fail(`HTTP status ${this.status}`);
    this.#framing = UNTIL_CLOSE;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "transfer-encoding" && value.includes("chunked")) {
        this.#framing = CHUNKED;
      } else if (
        name === "content-length" && this.#framing !== CHUNKED
      ) {
        this.#framing = LENGTH;
        this.#remaining = Number(value);
      }
    }
    this.#phase = BODY;
    this.#onHead?.();
    if (this.#framing === LENGTH && this.#remaining === 0) {
      this.#finish();
    }
  }

  #chunked(bytes: Uint8Array, start: number, end: number): void {
    let i = start;
    while (i < end && this.#phase === BODY) {
      switch (this.#chunkState) {
        case SIZE: {
          const c = bytes[i++];
          const digit = hexValue(c);
          if (digit >= 0) {
            this.#remaining = this.#remaining * 16 + digit;
            if (this.#remaining > 0x7fffffff) {
              return this.#fail("bad chunk size");
            }
          } else if (c === CR) {
            this.#chunkState = SIZE_LF;
          } else if (c === 59 /* ; */ || c === SPACE || c === 9) {
            this.#chunkState = SIZE_EXTENSION;
          } else {
            return this.#fail("bad chunk size");
          }
          break;
        }
        case SIZE_EXTENSION:
          if (bytes[i++] === CR) this.#chunkState = SIZE_LF;
          break;
        case SIZE_LF:
          if (bytes[i++] !== LF) return this.#fail("bad chunk framing");
          this.#chunkState = this.#remaining === 0 ? TRAILER : DATA;
          if (this.#remaining === 0) {
            // Last chunk: the body is over (trailers are ignored).
            this.#finish();
            return;
          }
          break;
        case DATA: {
          const stop = Math.min(end, i + this.#remaining);
          this.#sse(bytes, i, stop);
          this.#remaining -= stop - i;
          i = stop;
          if (this.#remaining === 0) this.#chunkState = DATA_CR;
          break;
        }
        case DATA_CR:
          if (bytes[i++] !== CR) return this.#fail("bad chunk framing");
          this.#chunkState = DATA_LF;
          break;
        case DATA_LF:
          if (bytes[i++] !== LF) return this.#fail("bad chunk framing");
          this.#chunkState = SIZE;
          this.#remaining = 0;
          break;
        case TRAILER:
          i = end;
          break;
      }
    }
  }

  /** Splits event-stream bytes into lines. */
  #sse(bytes: Uint8Array, start: number, end: number): void {
    let lineStart = start;
    for (let i = start; i < end; i++) {
      if (bytes[i] !== LF) continue;
      if (this.#lineLength > 0 || this.#lineOverflow) {
        this.#carry(bytes, lineStart, i);
        this.#lineDone(this.#line, 0, this.#lineLength);
        this.#lineLength = 0;
        this.#lineOverflow = false;
      } else {
        this.#lineDone(bytes, lineStart, i);
      }
      lineStart = i + 1;
    }
    if (lineStart < end) this.#carry(bytes, lineStart, end);
  }

  #carry(bytes: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n === 0) return;
    if (this.#lineLength + n > MAX_LINE) {
      this.#lineOverflow = true;
      return;
    }
    if (this.#lineLength + n > this.#line.length) {
      const bigger = new Uint8Array(
        Math.max(this.#line.length * 2, this.#lineLength + n),
      );
      bigger.set(this.#line.subarray(0, this.#lineLength));
      this.#line = bigger;
    }
    this.#line.set(bytes.subarray(start, end), this.#lineLength);
    this.#lineLength += n;
  }

  /** One line, without its LF (a trailing CR is dropped). */
  #lineDone(b: Uint8Array, start: number, end: number): void {
    if (this.#lineOverflow) {
      this.#dataOk = false;
      this.#hasData = true;
      return;
    }
    if (end > start && b[end - 1] === CR) end--;
    if (end === start) {
      // Blank line: dispatch.
      if (this.#hasData) {
        if (this.#dataOk) this.#sink(this.#seq, this.#lane, this.#micros);
        else this.malformed++;
      }
      this.#hasData = false;
      this.#dataOk = false;
      return;
    }
    const first = b[start];
    if (first === COLON) {
      this.comments++;
      return;
    }
    // "data:"
    if (
      end - start >= 5 && first === 100 && b[start + 1] === 97 &&
      b[start + 2] === 116 && b[start + 3] === 97 && b[start + 4] === COLON
    ) {
      if (this.#hasData) {
        // A second data line: not one of ours.
        this.#dataOk = false;
        return;
      }
      this.#hasData = true;
      this.#dataOk = this.#parseData(b, start + 5, end);
    }
    // id:, event:, retry:, anything else: ignored.
  }

  #parseData(b: Uint8Array, i: number, end: number): boolean {
    if (i < end && b[i] === SPACE) i++;
    let seq = 0;
    let lane = 0;
    let micros = 0;
    let field = 0;
    let digits = 0;
    for (; i < end; i++) {
      const c = b[i];
      if (c >= 48 && c <= 57) {
        const d = c - 48;
        if (field === 0) seq = seq * 10 + d;
        else if (field === 1) lane = lane * 10 + d;
        else micros = micros * 10 + d;
        digits++;
      } else if (c === SPACE && digits > 0 && field < 2) {
        field++;
        digits = 0;
      } else {
        return false;
      }
    }
    if (field !== 2 || digits === 0) return false;
    this.#seq = seq;
    this.#lane = lane;
    this.#micros = micros;
    return true;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
