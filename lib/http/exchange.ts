/**
 * The seam between the HTTP handler and the engines that serve it (the
 * lean one and `Deno.serve`): what a request gives the handler, and what
 * the handler answers.
 *
 * @module
 */

import type { Subscriber } from "../core/subscriber.ts";
import type { WholeAnswer } from "./answers.ts";

/**
 * An event stream to open: the engine sends `headers` with status 200,
 * then the subscriber's bytes (read with `take`/`whenReadable`) until it
 * ends, and calls `ended` once the stream is over, however it ended.
 */
export interface StreamAnswer {
  readonly kind: "stream";
  readonly subscriber: Subscriber;
  readonly headers: Readonly<Record<string, string>>;
  ended(): void;
}

/** What the handler answers: a whole response, or an event stream. */
export type HttpAnswer = WholeAnswer | StreamAnswer;

/**
 * The parts of a request the handler reads. A `Request` is one (what
 * `Deno.serve` gives); the lean engine gives a lighter object of its own.
 */
export interface HttpRequest {
  readonly method: string;
  /** An absolute URL on a fixed origin: only its target is read. */
  readonly url: string;
  readonly headers: HeaderLookup;
  /** The body, read only when the handler wants it. */
  readonly body: ReadableStream<Uint8Array> | null;
  /**
   * The whole body, when it has already arrived with the head (most small
   * POSTs do): no stream or timer is needed to read it. Undefined when it
   * has not, or the engine cannot tell.
   */
  bufferedBody?(): Uint8Array | undefined;
}

/** Header lookup by case-insensitive name, as `Headers` does it. */
export interface HeaderLookup {
  get(name: string): string | null;
  has(name: string): boolean;
}

/** What an engine tells the handler of a request's connection. */
export interface RequestInfo {
  readonly remoteAddr: Deno.NetAddr;
}

/** The request handler both HTTP engines serve. */
export type HttpHandler = (
  request: HttpRequest,
  info: RequestInfo,
) => Promise<HttpAnswer>;
