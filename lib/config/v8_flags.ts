/**
 * The V8 flags the server runs with: `deno task start`, the binary made by
 * `deno compile` (scripts/build.sh), the re-executed daemon, the tests and
 * the benchmark all use these.
 *
 * `--heap-growing-percent=100`: V8 lets the heap at most double between
 * full collections (by default up to 4x). Measured with 10,000 subscribers
 * (one run each, `deno task bench`): with no flag, peak RSS reached 278-298
 * MiB in `fanout-10k` and `flood` (the limit we keep under is 300 MB) and
 * 18-19 KiB per idle connection; at 25 % the peaks were 250-263 MiB but
 * every collection came sooner, costing 8-10 % of fan-out throughput and
 * about 5 ms of `steady` p99 (111-113 against 102-108 ms); at 100 % the
 * peaks are 256-282 MiB with most of that throughput and latency back.
 *
 * `--max-semi-space-size=8`: the young generation (where every request's
 * and every write's short-lived objects are made) may grow to two 8 MiB
 * halves instead of V8's default 32 MiB each (64 MiB in all, seen in
 * `node:v8`'s heap statistics). Once grown it stays grown, so it
 * was about 3 KiB of every idle connection's share of RSS with 10,000
 * held, and a young generation that big no longer fits the processor's
 * caches. Medians of 3 (`deno task bench`, POST, one run beside the other):
 * idle 12.6 -> 9.0 KiB per connection; `users` 11k -> 15k deliveries/s at
 * 88.7 -> 64.0 µs of CPU per delivery; `churn` 62k -> 75k deliveries/s;
 * `steady` p99 213 -> 168 ms; `fanout-10k` 1.50M -> 1.44M deliveries/s.
 * `flood` (POST, another set): 1.08M -> 1.03M deliveries/s, peak RSS
 * 201 -> 161 MiB.
 * At 2 MiB idle was 8.1 KiB but `fanout-10k` halved (the writes in flight
 * to 10,000 sockets outlive a small young generation and are promoted); at
 * 4 MiB it lost a third.
 *
 * @module
 */

/** Flags for `--v8-flags=`, comma-separated. */
export const V8_FLAGS = "--heap-growing-percent=100,--max-semi-space-size=8";
