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

step "format"
cargo fmt --all -- --check

step "lints (clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
# Snapshots must match what is checked in; never rewrite them during a test run.
export INSTA_UPDATE=no
cargo test --workspace --locked 2>&1 | tee target/test-output.log
# Print one closing line that sums every test binary's results.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "\n%d passed, %d failed, %d skipped\n", p, f, s }' target/test-output.log
