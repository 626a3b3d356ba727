/**
 * `--auth-url`: the application decides who subscribes and publishes.
 *
 * Before a subscription or an HTTP publish is accepted, the hub POSTs
 * `{"action","channels","path","remoteAddr"}` as JSON to the application,
 * with the client's `Cookie` and `Authorization` headers forwarded as they
 * came. A 2xx answer allows (its JSON body may narrow the channels, set an
 * expiry and name the user), 401 and 403 refuse with that status, and
 * anything else (another status, a malformed body, no answer in time, too
 * many questions waiting) refuses with 503: the application's failure is
 * never an open door.
 *
 * The application is protected from the hub and the hub from it: at most
 * {@linkcode AUTH_URL_MAX_IN_FLIGHT} questions are in flight at once, the
 * others wait for a place within the same timeout (at most
 * {@linkcode AUTH_URL_MAX_WAITING} of them); answers are read up to
 * {@linkcode AUTH_URL_MAX_ANSWER_BYTES}. Decisions may be cached for a while,
 * keyed by everything the application is told, so one client's answer never
 * serves another.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { AuthServiceError } from "../errors.ts";
import { concatBytes } from "../core/bytes.ts";
import { type AuthResult, deniedChannel, type Grant } from "./auth.ts";

const logger = getLogger(["sse-server", "auth-url"]);

/**
 * Questions in flight to the application at once. Enough for a busy hub
 * (64 answers of 20 ms each are 3,200 decisions a second), few enough that
 * a hub never floods the application it depends on.
 */
export const AUTH_URL_MAX_IN_FLIGHT = 64;

/**
 * Questions waiting for a place in flight; past this a question is refused
 * with 503 at once rather than held in memory.
 */
export const AUTH_URL_MAX_WAITING = 4096;

/** Largest answer body read, in bytes; a longer one is a failure (503). */
export const AUTH_URL_MAX_ANSWER_BYTES = 65536;

/** Decisions kept in the cache at most; the oldest go first. */
export const AUTH_URL_MAX_CACHED = 10_000;

/** Settings of {@linkcode AuthUrl}. */
export interface AuthUrlConfig {
  /** Where questions are POSTed (http or https). */
  readonly url: string;
  /** Time for an answer, waiting for a place included (ms). */
  readonly timeoutMs: number;
  /** How long a decision is reused (ms); 0 asks every time. */
  readonly cacheMs: number;
  /** Questions in flight at once (default {@linkcode AUTH_URL_MAX_IN_FLIGHT}). */
  readonly maxInFlight?: number;
  /** Decisions cached at most (default {@linkcode AUTH_URL_MAX_CACHED}). */
  readonly maxCached?: number;
}

/** What the application is asked about one request. */
export interface AuthQuestion {
  readonly action: "subscribe" | "publish";
  /** The channels asked for; empty for a subscription to every channel. */
  readonly channels: readonly string[];
  /** The request's path as sent, without the query. */
  readonly path: string;
  /** The client's address without port. */
  readonly remoteAddr: string;
  /** The client's `Cookie` header, forwarded unchanged. */
  readonly cookie: string | null;
  /** The client's `Authorization` header, forwarded unchanged. */
  readonly authorization: string | null;
}

interface Cached {
  readonly until: number;
  readonly result: AuthResult;
}

/** Asks the application behind `--auth-url` whether a request may proceed. */
export class AuthUrl {
  readonly #config: AuthUrlConfig;
  readonly #maxInFlight: number;
  #inFlight = 0;
  /** Questions waiting for a place, oldest first. */
  readonly #waiting: (() => void)[] = [];
  /** Decisions by hashed question, oldest first (a Map keeps that order). */
  readonly #cache = new Map<string, Cached>();

  constructor(config: AuthUrlConfig) {
    this.#config = config;
    this.#maxInFlight = config.maxInFlight ?? AUTH_URL_MAX_IN_FLIGHT;
  }

  /** Questions in flight now, for tests and reports. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Questions waiting for a place now, for tests and reports. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * The application's decision on `question`: allowed (narrowed to the
   * channels asked for, with the expiry and user it named) or refused with
   * 401 or 403. Throws {@linkcode AuthServiceError} (503) when there is no
   * usable answer.
   */
  async ask(question: AuthQuestion, now = Date.now()): Promise<AuthResult> {
    const key = this.#config.cacheMs > 0 ? await cacheKey(question) : "";
    if (key !== "") {
      const hit = this.#cache.get(key);
      if (hit !== undefined && hit.until > now) {
        return decide(hit.result, question, Date.now());
      }
      this.#cache.delete(key);
    }
    const result = await this.#fetchDecision(question);
    if (key !== "") {
      if (this.#cache.size >= (this.#config.maxCached ?? AUTH_URL_MAX_CACHED)) {
        // Oldest first: the first key of the Map.
        this.#cache.delete(this.#cache.keys().next().value!);
      }
      this.#cache.set(key, {
        until: Date.now() + this.#config.cacheMs,
        result,
      });
    }
    return decide(result, question, Date.now());
  }

  /** Asks the application, within the timeout; a failure throws. */
  async #fetchDecision(question: AuthQuestion): Promise<AuthResult> {
    const controller = new AbortController();
    // One timer for the whole question, the wait for a place included.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#config.timeoutMs);
    let holding = false;
    try {
      await this.#enter(controller.signal);
      holding = true;
      return await this.#post(question, controller.signal);
    } catch (error) {
      if (error instanceof AuthServiceError) throw error;
      if (timedOut) {
        throw this.#failure(
          `no answer within ${this.#config.timeoutMs / 1000} s`,
        );
      }
      throw this.#failure(
        error instanceof Error ? error.message : String(error),
      );
    } finally {
      clearTimeout(timer);
      if (holding) this.#leave();
    }
  }

  /** Waits for a place in flight, until `signal` aborts. */
  #enter(signal: AbortSignal): Promise<void> {
    if (this.#inFlight < this.#maxInFlight) {
      this.#inFlight++;
      return Promise.resolve();
    }
    if (this.#waiting.length >= AUTH_URL_MAX_WAITING) {
      return Promise.reject(
        this.#failure(`${AUTH_URL_MAX_WAITING} questions already waiting`),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const onAbort = () => {
      const at = this.#waiting.indexOf(take);
      if (at >= 0) this.#waiting.splice(at, 1);
      reject(this.#failure(
        `no place among the ${this.#maxInFlight} questions in flight within ${
          this.#config.timeoutMs / 1000
        } s`,
      ));
    };
    // Called by #leave with the place already counted for this question.
    const take = () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.#waiting.push(take);
    return promise;
  }

  /** Gives the place to the next waiting question, or frees it. */
  #leave(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#inFlight--;
  }

  /** POSTs the question and reads the answer. */
  async #post(
    question: AuthQuestion,
    signal: AbortSignal,
  ): Promise<AuthResult> {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: "application/json",
    };
    if (question.cookie !== null) headers.Cookie = question.cookie;
    if (question.authorization !== null) {
      headers.Authorization = question.authorization;
    }
    const response = await fetch(this.#config.url, {
      method: "POST",
      headers,
      body: JSON.stringify({
        action: question.action,
        channels: question.channels,
        path: question.path,
        remoteAddr: question.remoteAddr,
      }),
      // A redirect is an answer the hub does not understand, not one to
      // follow with the client's cookies.
      redirect: "manual",
      signal,
    });
    const status = response.status;
    if (status === 401 || status === 403) {
      await response.body?.cancel();
      return {
        ok: false,
        status,
        reason: `the application refused to let this client ${question.action}`,
      };
    }
    if (status < 200 || status > 299) {
      await response.body?.cancel();
      throw this.#failure(`it answered ${status}`);
    }
    const body = await readLimited(response, AUTH_URL_MAX_ANSWER_BYTES);
    if (body === null) {
      throw this.#failure(
        `its answer is longer than ${AUTH_URL_MAX_ANSWER_BYTES} bytes`,
      );
    }
    const grant = parseGrant(body);
    if (typeof grant === "string") throw this.#failure(grant);
    return { ok: true, grant };
  }

  /** Logs why the application gave no usable answer; the error to throw. */
  #failure(detail: string): AuthServiceError {
    logger.warn("auth URL {url}: {detail}; refused with 503", {
      url: this.#config.url,
      detail,
    });
    return new AuthServiceError(
      "the authorization service gave no usable answer; try again later",
    );
  }
}

/**
 * Both decisions, for a request checked by the hub's own credentials
 * (`first`) and by the application (`second`): refused if either refuses;
 * else allowed until the earlier expiry, as the user either named. Each has
 * already been checked against the channels asked for, so the channels
 * allowed are those both allow.
 */
export function bothAllow(first: AuthResult, second: AuthResult): AuthResult {
  if (!first.ok) return first;
  if (!second.ok) return second;
  const expiries = [first.grant.expiresAt, second.grant.expiresAt].filter(
    (at): at is number => at !== undefined,
  );
  const user = second.grant.user ?? first.grant.user;
  return {
    ok: true,
    grant: {
      patterns: null,
      ...(expiries.length === 0 ? {} : { expiresAt: Math.min(...expiries) }),
      ...(user === undefined ? {} : { user }),
    },
  };
}

/**
 * The application's answer applied to this question: refused with 403 when
 * its channels do not cover one asked for, or its expiry has passed.
 */
function decide(
  result: AuthResult,
  question: AuthQuestion,
  now: number,
): AuthResult {
  if (!result.ok) return result;
  const action = question.action;
  if (result.grant.expiresAt !== undefined && result.grant.expiresAt <= now) {
    return {
      ok: false,
      status: 403,
      reason: `the application's permission to ${action} has expired`,
    };
  }
  const denied = deniedChannel(result.grant, question.channels);
  if (denied === null) return result;
  return {
    ok: false,
    status: 403,
    reason: denied === ""
      ? `the application does not allow to ${action} to every channel`
      : `the application does not allow to ${action} to channel ${
        JSON.stringify(denied)
      }`,
  };
}

/**
 * What a 2xx body grants: nothing but "allowed" when empty; else a JSON
 * object with optional `channels` (names or `*` patterns), `expires` (Unix
 * seconds) and `user`. A reason string when the body is none of these.
 */
export function parseGrant(body: string): Grant | string {
  if (body.trim() === "") return { patterns: null };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return "its 2xx answer is neither empty nor JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "its 2xx answer is not a JSON object";
  }
  const { channels, expires, user } = value as Record<string, unknown>;
  if (
    channels !== undefined &&
    !(Array.isArray(channels) && channels.every((c) => typeof c === "string"))
  ) {
    return '"channels" in its answer is not a list of strings';
  }
  if (
    expires !== undefined &&
    (typeof expires !== "number" || !Number.isFinite(expires))
  ) {
    return '"expires" in its answer is not a number of seconds';
  }
  if (user !== undefined && typeof user !== "string") {
    return '"user" in its answer is not a string';
  }
  return {
    patterns: channels === undefined ? null : channels as string[],
    ...(expires === undefined ? {} : { expiresAt: expires * 1000 }),
    ...(user === undefined ? {} : { user }),
  };
}

/** The body as text, or null when it is longer than `limit` bytes. */
async function readLimited(
  response: Response,
  limit: number,
): Promise<string | null> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel();
        return null;
      }
      parts.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return new TextDecoder().decode(concatBytes(parts));
}

/**
 * The cache key: a SHA-256 of everything the application is told, cookies
 * and credentials included, so a decision only serves the same client asking
 * the same thing (and the key holds no secret in the clear).
 */
async function cacheKey(question: AuthQuestion): Promise<string> {
  const text = JSON.stringify([
    question.action,
    question.channels,
    question.path,
    question.remoteAddr,
    question.cookie,
    question.authorization,
  ]);
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}
