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
 * @module
 */

/** Flags for `--v8-flags=`, comma-separated. */
export const V8_FLAGS = "--heap-growing-percent=100";
