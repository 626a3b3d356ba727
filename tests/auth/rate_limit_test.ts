// Publish rate limits: a bucket per publisher that refills at the rate and
// holds a second's worth; times are given, so nothing waits.
import assert from "node:assert/strict";
import { RateLimiter, TokenBucket } from "../../lib/auth/rate_limit.ts";

Deno.test("TokenBucket: a second's worth at once, then the rate", () => {
  const bucket = new TokenBucket(10, 0);
  assert.ok(bucket.take(10, 0));
  assert.ok(!bucket.take(1, 0));
  // 100 ms later: one token back.
  assert.ok(bucket.take(1, 100));
  assert.ok(!bucket.take(1, 100));
  // A refused take takes nothing.
  assert.ok(!bucket.take(5, 200));
  assert.ok(bucket.take(1, 200));
  // Never more than a second's worth, however long it waits.
  assert.ok(bucket.full(10_000));
  assert.ok(!bucket.take(11, 10_000));
  assert.ok(bucket.take(10, 10_000));
});

Deno.test("RateLimiter: one bucket per key, 0 means no limit, full buckets forgotten", () => {
  const unlimited = new RateLimiter(0);
  for (let i = 0; i < 1000; i++) assert.ok(unlimited.allow("a", 1, 0));
  assert.equal(unlimited.size, 0);
  const limiter = new RateLimiter(2);
  assert.ok(limiter.allow("a", 2, 0));
  assert.ok(!limiter.allow("a", 1, 0));
  // Another publisher has its own allowance.
  assert.ok(limiter.allow("b", 2, 0));
  assert.equal(limiter.size, 2);
  limiter.sweep(250);
  assert.equal(limiter.size, 2);
  limiter.sweep(1000);
  assert.equal(limiter.size, 0);
  assert.ok(limiter.allow("a", 2, 1000));
});

Deno.test("RateLimiter: past 10,000 publishers the full ones are forgotten first", () => {
  const limiter = new RateLimiter(1);
  for (let i = 0; i < 10_000; i++) limiter.allow(`p${i}`, 1, 0);
  assert.equal(limiter.size, 10_000);
  // A second later all are full again: the next new key sweeps them.
  assert.ok(limiter.allow("new", 1, 1000));
  assert.equal(limiter.size, 1);
});
