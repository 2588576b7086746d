#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: formatting, lints, unit, golden, in-process
# integration and end-to-end tests against the real binary. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "cargo is required (the pinned toolchain is in rust-toolchain.toml)" >&2
  exit 1
fi

# A test run builds everything once; incremental caches would only fill the disk (they
# grew past the whole build's size on a long-lived checkout).
export CARGO_INCREMENTAL=0

step "format"
cargo fmt --all -- --check

step "lints (clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "test servers (redis-server from the distribution; MCP servers, clients and the conformance suite from npm and PyPI)"
./scripts/ensure-redis.sh
./scripts/ensure-mcp.sh
# The Redis tests fail rather than skip if the server is missing.
export REDIS_LIMIT_REQUIRE_SERVER=1

step "tests"
# Snapshots must match what is checked in; never rewrite them during a test run.
export INSTA_UPDATE=no
cargo test --workspace --locked 2>&1 | tee target/test-output.log

step "end to end: official SDKs against the real binary"
cargo build --workspace --bins --locked
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
(cd e2e && ../.venv/bin/python -m unittest discover -v -s . -p 'test_*.py') 2>&1 | tee target/e2e-output.log

# One closing line for everything: cargo's per-binary results plus the SDK tests.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { print p, f, s }' target/test-output.log > target/cargo-counts
read -r cargo_passed cargo_failed cargo_skipped < target/cargo-counts
# A failing SDK test has already stopped the script (pipefail); here every one passed.
e2e_ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' target/e2e-output.log | tail -n 1)
if [ "${e2e_ran:-0}" -eq 0 ]; then
  echo "no end-to-end test ran" >&2
  exit 1
fi
printf '\n%d passed, %d failed, %d skipped\n' "$((cargo_passed + e2e_ran))" "$cargo_failed" "$cargo_skipped"

