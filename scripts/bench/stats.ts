/**
 * Statistics of the benchmark: a bounded latency histogram that workers fill
 * and the main thread merges, and medians over runs.
 *
 * @module
 */

/**
 * Buckets grow by 2 % from 1 µs: bucket `i` holds values in
 * `[1.02^i, 1.02^(i+1))` µs, so a percentile read from it is within 2 % of
 * the true value. 1,200 buckets reach past 20,000 s; values below 1 µs go to
 * bucket 0.
 */
export const HISTOGRAM_BUCKETS = 1200;
const LOG_BASE = Math.log(1.02);

/** Bucket index of a latency in microseconds. */
export function bucketOf(micros: number): number {
  if (micros < 1) return 0;
  const i = Math.floor(Math.log(micros) / LOG_BASE);
  return i < HISTOGRAM_BUCKETS ? i : HISTOGRAM_BUCKETS - 1;
}

/** The value a bucket stands for (its geometric middle), in microseconds. */
export function bucketValue(i: number): number {
  return Math.pow(1.02, i + 0.5);
}

/** A latency histogram in microseconds; `max` is exact. */
export class Histogram {
  readonly counts: Float64Array;
  count = 0;
  max = 0;
  sum = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(HISTOGRAM_BUCKETS);
  }

  record(micros: number): void {
    this.counts[bucketOf(micros)]++;
    this.count++;
    this.sum += micros;
    if (micros > this.max) this.max = micros;
  }

  merge(other: HistogramData): void {
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      this.counts[i] += other.counts[i];
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** The value at quantile `q` (0..1), in microseconds; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(bucketValue(i), this.max);
    }
    return this.max;
  }

  data(): HistogramData {
    return {
      counts: this.counts,
      count: this.count,
      max: this.max,
      sum: this.sum,
    };
  }
}

/** A histogram as it crosses a worker boundary. */
export interface HistogramData {
  readonly counts: Float64Array;
  readonly count: number;
  readonly max: number;
  readonly sum: number;
}

/** The median of the finite values, NaN when there are none. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1
    ? finite[mid]
    : (finite[mid - 1] + finite[mid]) / 2;
}

/** Deterministic pseudo-random numbers (mulberry32), for repeatable layouts. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
