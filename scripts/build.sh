#!/usr/bin/env bash
# Builds the single self-contained binary dist/sse-server with `deno compile`.
#
# The binary gets exactly the permissions of the "default" permission set in
# deno.json (read, write, net, run, env SSE_SERVER_REEXEC), baked in with
# `-P`; never -A.
#
# `deno compile` joins the program to a Deno runtime binary, "denort", of the
# same version as the `deno` that compiles. It normally downloads it from
# https://dl.deno.land. Without internet access, point DENORT_BIN at a denort
# binary of the same version (from denort-<target>.zip of the same Deno
# release), e.g.:
#
#   DENORT_BIN=/opt/denort/denort bash scripts/build.sh
#
# Usage: bash scripts/build.sh      (or: deno task compile)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly OUT=dist/sse-server
readonly TMP_OUT=dist/.sse-server.building
readonly ENTRY=main.ts

say() { printf 'build.sh: %s\n' "$*"; }
fail() { printf 'build.sh: error: %s\n' "$*" >&2; }

if ! command -v deno >/dev/null 2>&1; then
  fail "deno is not on PATH (install it, e.g. npm i -g deno@2)"
  exit 1
fi
deno_version=$(deno --version | head -n 1)
# "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)"
version=$(awk '{ print $2 }' <<<"$deno_version")
target=$(sed -n 's/.*, \([^,)]*\))$/\1/p' <<<"$deno_version")
readonly denort_url="https://dl.deno.land/release/v${version}/denort-${target:-<target>}.zip"

if [[ -n "${DENORT_BIN:-}" && -f "${DENORT_BIN}" ]]; then
  export DENORT_BIN
  runtime="the runtime DENORT_BIN=${DENORT_BIN}"
  say "using the Deno runtime DENORT_BIN=${DENORT_BIN} (no download)"
else
  if [[ -n "${DENORT_BIN:-}" ]]; then
    fail "DENORT_BIN=${DENORT_BIN} is not a file; ignoring it"
    unset DENORT_BIN
  fi
  runtime="the runtime (denort) downloaded from dl.deno.land"
  say "DENORT_BIN is not set: deno compile will download its runtime" \
    "(denort) for ${deno_version}; this needs internet access to" \
    "https://dl.deno.land"
fi

mkdir -p dist
rm -f "$TMP_OUT"
say "compiling ${ENTRY} -> ${OUT} with the \"default\" permission set of deno.json (-P)"
errors=$(mktemp)
trap 'rm -f "$errors" "$TMP_OUT"' EXIT
# The V8 flags the server runs with are baked into the binary (lib/config/v8_flags.ts).
V8_FLAGS=$(sed -n 's/^export const V8_FLAGS = "\(.*\)";$/\1/p' lib/config/v8_flags.ts)
[[ -n "$V8_FLAGS" ]] || { fail "no V8_FLAGS found in lib/config/v8_flags.ts"; exit 1; }
if ! deno compile -q -P --v8-flags="$V8_FLAGS" --output "$TMP_OUT" "$ENTRY" 2>"$errors"; then
  cat "$errors" >&2
  echo >&2
  if grep -qE 'dl\.deno\.land|denort|base binary' "$errors"; then
    if [[ -n "${DENORT_BIN:-}" ]]; then
      fail "deno compile could not use DENORT_BIN=${DENORT_BIN} (see above)." \
        "It must be a denort binary of exactly this Deno version:"
    else
      fail "deno compile could not download its runtime (denort) from" \
        "https://dl.deno.land: this machine has no access to it. Set" \
        "DENORT_BIN to the path of a denort binary of exactly this Deno" \
        "version (unzip ${denort_url}, fetched on a machine with internet" \
        "access) and run this again:"
    fi
  else
    fail "deno compile failed (see above); with ${runtime}, for:"
  fi
  deno --version >&2
  fail "${OUT} was not built."
  exit 1
fi

# Check that the result is the server and not, say, a plain deno binary
# given as DENORT_BIN (which would ignore the embedded program).
if ! help=$(timeout 20 "./${TMP_OUT}" --help 2>&1) || [[ "$help" != "Usage: sse-server"* ]]; then
  printf '%s\n' "$help" | head -n 5 >&2
  fail "the compiled binary does not behave as sse-server (--help printed" \
    "the above); is DENORT_BIN a denort binary of this Deno version?"
  deno --version >&2
  fail "${OUT} was not built."
  exit 1
fi

mv -f "$TMP_OUT" "$OUT"
say "built ${OUT} ($(du -h "$OUT" | cut -f1)) with ${deno_version}"
