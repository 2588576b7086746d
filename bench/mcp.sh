#!/usr/bin/env bash
# MCP benchmark: tools/call and session creation, direct to an MCP server vs through the
# gateway (one Streamable HTTP target, stateful sessions), in one run.
#
# Usage: bench/mcp.sh   (after bench/run.sh has built target/bench/release, or it builds them)
#
# Knobs: BENCH_DURATION (default 8s), BENCH_ROUNDS (default 3), BENCH_MCP_CONNS (default "1 16").
# Everything listens on 127.0.0.1; the gateway and the server share CPU 0, wrk runs on CPU 1.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
BIN="$ROOT/target/bench/release"
DURATION="${BENCH_DURATION:-8s}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNS="${BENCH_MCP_CONNS:-1 16}"
TMP="$(mktemp -d -t agw-mcp-bench.XXXXXX)"
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT

if [ ! -x "$BIN/agentgateway" ] || [ ! -x "$BIN/bench-upstream" ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/bench" cargo build --release -p agentgateway -p bench-upstream)
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP="$(port)"; GW="$(port)"; ADMIN="$(port)"; METRICS="$(port)"; READY="$(port)"
cat >"$TMP/gw.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: agentgateway
  listeners: [{name: http, port: $GW, protocol: HTTP}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: mcp}
spec:
  mcp:
    targets: [{name: bench, static: {host: 127.0.0.1, port: $UP}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: mcp}]}]
YAML
taskset -c 0 "$BIN/bench-upstream" "$UP" >"$TMP/up.log" 2>&1 & PIDS+=($!)
RUST_LOG=warn taskset -c 0 "$BIN/agentgateway" run -f "$TMP/gw.yaml" --bind 127.0.0.1 --worker-threads 1 \
    --admin-addr "127.0.0.1:$ADMIN" --metrics-addr "127.0.0.1:$METRICS" --readiness-addr "127.0.0.1:$READY" >"$TMP/gw.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$READY/healthz/ready" >/dev/null && break; sleep 0.1; done

init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
session_of() { curl -fsS -D - -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d "$init" "$1" | awk 'tolower($1) == "mcp-session-id:" { gsub("\r", "", $2); print $2 }'; }
DIRECT_URL="http://127.0.0.1:$UP/mcp"; GATEWAY_URL="http://127.0.0.1:$GW/mcp"
DIRECT_SESSION="$(session_of "$DIRECT_URL")"; GATEWAY_SESSION="$(session_of "$GATEWAY_URL")"
[ -n "$GATEWAY_SESSION" ] || { echo "the gateway issued no session: $(cat "$TMP/gw.log")" >&2; exit 1; }

to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
measure() {  # measure URL SESSION SCRIPT CONNS -> "rps p50us p99us"
    local out; out="$(MCP_SESSION="$2" taskset -c 1 wrk -t1 -c"$4" -d"$DURATION" --latency -s "$BENCH_DIR/$3" "$1")"
    if grep -q "Non-2xx" <<<"$out"; then echo "wrk saw errors: $out" >&2; exit 1; fi
    printf '%s %s %s\n' "$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")" \
        "$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")" "$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
}
row() {  # row LABEL SCRIPT CONNS
    local d_rps="" d_p50="" d_p99="" g_rps="" g_p50="" g_p99="" r
    for r in $(seq 1 "$ROUNDS"); do
        read -r a b c < <(measure "$DIRECT_URL" "$DIRECT_SESSION" "$2" "$3"); d_rps+="$a "; d_p50+="$b "; d_p99+="$c "
        read -r a b c < <(measure "$GATEWAY_URL" "$GATEWAY_SESSION" "$2" "$3"); g_rps+="$a "; g_p50+="$b "; g_p99+="$c "
    done
    local dr dp dq gr gp gq
    dr="$(median <<<"$d_rps")"; dp="$(median <<<"$d_p50")"; dq="$(median <<<"$d_p99")"
    gr="$(median <<<"$g_rps")"; gp="$(median <<<"$g_p50")"; gq="$(median <<<"$g_p99")"
    printf '%-22s c=%-3s | direct %7s rps p50 %6sus p99 %6sus | gateway %7s rps p50 %6sus p99 %6sus | rps ratio %s, added p50 %sus\n' \
        "$1" "$3" "$dr" "$dp" "$dq" "$gr" "$gp" "$gq" "$(awk -v a="$gr" -v b="$dr" 'BEGIN { printf "%.2f", a / b }')" "$(awk -v a="$gp" -v b="$dp" 'BEGIN { printf "%.0f", a - b }')"
}

echo "MCP through the gateway vs direct ($ROUNDS rounds of $DURATION, medians; one Streamable HTTP target)"
for c in $CONNS; do row "tools/call" mcp_call.lua "$c"; done
# A new session per request: the added p50 is the gateway's cost of a session (initialize
# relayed, upstream session id sealed into the gateway's own with ChaCha20-Poly1305).
row "initialize (session)" mcp_initialize.lua 1
