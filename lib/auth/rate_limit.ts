/**
 * Publish rate limits: a token bucket per publisher (a control connection, or
 * an HTTP client address), refilled at `perSecond` and holding at most one
 * second's worth, so short bursts pass and a flood is refused.
 *
 * @module
 */

/** One publisher's allowance. */
export class TokenBucket {
  readonly #rate: number;
  #tokens: number;
  #updated: number;

  constructor(perSecond: number, now = performance.now()) {
    this.#rate = perSecond;
    this.#tokens = perSecond;
    this.#updated = now;
  }

  /** Takes `count` tokens if there are enough; false (and takes none) if not. */
  take(count = 1, now = performance.now()): boolean {
    this.#tokens = Math.min(
      this.#rate,
      this.#tokens + (now - this.#updated) * this.#rate / 1000,
    );
    this.#updated = now;
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** True when the bucket is full again, so forgetting it changes nothing. */
  full(now = performance.now()): boolean {
    return this.#tokens + (now - this.#updated) * this.#rate / 1000 >=
      this.#rate;
  }
}

/**
 * Buckets by key (client address). Full buckets are forgotten by
 * {@linkcode RateLimiter.sweep}, so the map only holds recent publishers.
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #buckets = new Map<string, TokenBucket>();

  /** `perSecond` 0 means no limit. */
  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  /** May `key` publish `count` events now? */
  allow(key: string, count = 1, now = performance.now()): boolean {
    if (this.#perSecond === 0) return true;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      // Bounded: past 10,000 publishers, forget those back to full first.
      if (this.#buckets.size >= 10_000) this.sweep(now);
      this.#buckets.set(key, bucket = new TokenBucket(this.#perSecond, now));
    }
    return bucket.take(count, now);
  }

  /** Forgets publishers whose allowance is back to full. */
  sweep(now = performance.now()): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.full(now)) this.#buckets.delete(key);
    }
  }

  /** Number of publishers tracked. */
  get size(): number {
    return this.#buckets.size;
  }
}
