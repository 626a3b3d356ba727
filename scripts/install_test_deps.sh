#!/usr/bin/env bash
# Installs the system packages the test suite needs on a Debian (or Ubuntu)
# machine, as root:
#
#   chromium       headless browser for the browser and dashboard tests
#   redis-server   the broker for tests/cluster_test.ts
#
# Idempotent: prints nothing and changes nothing when everything is there.
# Deno itself is not installed here (npm i -g deno@2).
#
# Usage: sudo bash scripts/install_test_deps.sh
set -euo pipefail

say() { printf 'install_test_deps.sh: %s\n' "$*"; }
fail() { printf 'install_test_deps.sh: error: %s\n' "$*" >&2; }

# `command -v` alone also reports a non-executable file of that name.
have_chromium() {
  local path
  path=$(command -v chromium 2>/dev/null) && [[ -f "$path" && -x "$path" ]]
}

missing=()
have_chromium || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  fail "missing: ${missing[*]}. Installing needs root; run" \
    "'sudo bash $0' (or 'sudo apt-get install -y ${missing[*]}')."
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  fail "missing: ${missing[*]}, and this is not a Debian-like system (no" \
    "apt-get). Install Chromium yourself; tests/browser_test.ts looks for" \
    "'chromium' on PATH, /usr/bin/chromium, or \$CHROMIUM_BIN."
  exit 1
fi

say "installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"

if ! have_chromium || ! command -v redis-server >/dev/null 2>&1; then
  fail "apt-get finished but chromium or redis-server is still not on PATH"
  exit 1
fi
say "installed: $(chromium --version 2>/dev/null | tail -n 1)"
