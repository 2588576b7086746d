#!/usr/bin/env bash
# Loopback HTTP/1.1 proxy benchmark: direct upstream vs agentgateway vs nginx, plus the
# gateway's LLM routes (OpenAI, OpenAI->Anthropic translation; JSON and SSE) vs its plain route.
#
# Usage: bench/run.sh            (from anywhere; see bench/README.md)
#
# Environment knobs:
#   BENCH_DURATION    wrk duration of one measurement (one target, one level, one round; default 8s)
#   BENCH_ROUNDS      interleaved rounds per concurrency level; medians are reported (default 3)
#   BENCH_WARMUP      warm-up duration per target before the first round (default 2s)
#   BENCH_CONNS       space-separated concurrency levels (default "1 16 64")
#   BENCH_AI_CONNS    concurrency of the LLM-route rows (default 16)
#   BENCH_SKIP_BUILD  set to 1 to reuse the binaries already in target/bench/release
#   BENCH_NO_APT      set to 1 to never call apt-get (nginx is then skipped if absent)
#
# Not part of the test suite. Everything listens on 127.0.0.1 only; every run is bounded
# by BENCH_DURATION x rounds x levels x targets (+ warm-ups). Output is also saved under
# bench/results/.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${BENCH_DURATION:-8s}"
WARMUP="${BENCH_WARMUP:-2s}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNS="${BENCH_CONNS:-1 16 64}"
AI_CONNS="${BENCH_AI_CONNS:-16}"
TARGET_DIR="$ROOT/target/bench"
BIN_DIR="$TARGET_DIR/release"

STAMP="$(date +%Y%m%d-%H%M%S)"
RESULTS_DIR="$BENCH_DIR/results"
RAW_DIR="$RESULTS_DIR/$STAMP"
mkdir -p "$RAW_DIR"
LOG="$RESULTS_DIR/run-$STAMP.txt"
# Everything printed from here on also goes to the results file.
exec > >(tee "$LOG") 2>&1

log() { printf '[bench] %s\n' "$*"; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

case "$ROUNDS" in ''|*[!0-9]*|0) die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')" ;; esac
case "$AI_CONNS" in ''|*[!0-9]*|0) die "BENCH_AI_CONNS must be a positive integer (got '$AI_CONNS')" ;; esac
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"

TMP="$(mktemp -d -t agw-bench.XXXXXX)"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_pid() {
    local pid="$1" _
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- prerequisites
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

NGINX_SKIP_REASON=""
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    if [ "${BENCH_NO_APT:-0}" = 1 ]; then
        log "BENCH_NO_APT=1: not installing missing tools"
    else
        log "installing missing tools with apt-get (nginx, wrk)"
        if as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nginx wrk >"$TMP/apt.log" 2>&1; then
            log "apt-get install done"
        else
            log "apt-get failed (see below); continuing with what is installed"
            tail -n 5 "$TMP/apt.log" 2>/dev/null || true
        fi
    fi
fi
command -v wrk >/dev/null || die "wrk is required (apt-get install wrk)"
command -v curl >/dev/null || die "curl is required for the sanity checks"
NGINX_BIN="$(command -v nginx || true)"
if [ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ]; then NGINX_BIN=/usr/sbin/nginx; fi
if [ -z "$NGINX_BIN" ]; then
    NGINX_SKIP_REASON="nginx is not installed and could not be installed: SKIPPING the nginx reference"
    log "$NGINX_SKIP_REASON"
fi

NCPU="$(nproc)"
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    PROXY_CPU=(taskset -c 0)
    LOAD_CPU=(taskset -c 1)
    PINNING="proxy on CPU 0; upstream + wrk on CPU 1"
else
    PROXY_CPU=()
    LOAD_CPU=()
    PINNING="NOT pinned (needs >= 2 CPUs and taskset); numbers are noisier"
fi

# ---------------------------------------------------------------- build
if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
    log "BENCH_SKIP_BUILD=1: reusing $BIN_DIR"
else
    log "building release binaries into target/bench (this can take several minutes)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -p agentgateway -p bench-upstream)
fi
AGW="$BIN_DIR/agentgateway"
UPSTREAM="$BIN_DIR/bench-upstream"
[ -x "$AGW" ] || die "missing $AGW"
[ -x "$UPSTREAM" ] || die "missing $UPSTREAM"

# ---------------------------------------------------------------- ports
free_ports() {
    # Ask the kernel for N distinct free ports on loopback.
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if command -v python3 >/dev/null; then
    read -r UP_PORT GW_PORT NGINX_PORT ADMIN_PORT METRICS_PORT READY_PORT <<<"$(free_ports 6)"
else
    read -r UP_PORT GW_PORT NGINX_PORT ADMIN_PORT METRICS_PORT READY_PORT <<<"38411 38412 38413 38414 38415 38416"
    for p in $UP_PORT $GW_PORT $NGINX_PORT $ADMIN_PORT $METRICS_PORT $READY_PORT; do
        port_in_use "$p" && die "port $p is busy; install python3 or free it"
    done
fi

wait_port() {
    local port="$1" pid="$2" name="$3" _
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during startup"
        port_in_use "$port" && return 0
        sleep 0.05
    done
    die "$name did not listen on 127.0.0.1:$port"
}

# check_chat URL NAME SCRIPT PATTERN: POST the body of a wrk chat script (bench/chat*.lua),
# expect HTTP 200 and PATTERN in the response.
check_chat() {
    local url="$1" name="$2" body out
    body="$(sed -n "s/^wrk.body = '\\(.*\\)'$/\\1/p" "$3")"
    [ -n "$body" ] || die "no wrk.body in $3"
    out="$(curl --noproxy '*' -sS -m 5 -H 'content-type: application/json' --data-binary "$body" -w ' HTTP %{http_code}' "$url")" \
        || die "$name: request failed (gateway log: $RAW_DIR/gateway.log)"
    case "$out" in
        *"$4"*"HTTP 200") log "$name sanity check ok: POST $url" ;;
        *) die "$name sanity check failed (gateway log: $RAW_DIR/gateway.log): $out" ;;
    esac
}

check_body() {
    local url="$1" name="$2" out
    out="$(curl --noproxy '*' -sS -m 5 -w ' HTTP %{http_code}' "$url")" || die "$name: request failed"
    case "$out" in
        *bench-upstream*"HTTP 200") log "$name sanity check ok: $url" ;;
        *) die "$name sanity check failed: $out" ;;
    esac
}

rss_mib() {
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# ---------------------------------------------------------------- wrk
to_us() {
    # "123.45us" | "1.23ms" | "2.00s" | "1.5m" -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000;
        else if (u == "m") m = 60000000; else m = -1
        if (m < 0) print "nan"; else printf "%.0f", n * m
    }'
}

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat, all threads) in clock ticks.
cpu_ticks() {
    local stat rest
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo ""; return 0; }
    rest="${stat##*) }"   # drop "pid (comm) "; the comm may contain spaces
    # shellcheck disable=SC2086
    set -- $rest          # now $1 is field 3 (state), so field 14 is $12 and 15 is $13
    echo $(( ${12} + ${13} ))
}

# median FMT VALUE...: median of the numeric values (mean of the middle two for an even
# count), printed with FMT; empty when there are none.
median() {
    local fmt="$1"; shift
    printf '%s\n' "$@" | awk '$1 ~ /^-?[0-9.]+$/' | sort -g |
        awk -v f="$fmt" '{ a[NR] = $1 } END {
            if (NR == 0) exit
            if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
            printf f "\n", m
        }'
}

# Per-round values, keyed "target,conc,round"; medians keyed "target,conc".
declare -A R_RPS R_P50 R_P99 R_REQS R_CPU ERRS RPS P50 P99 CPU
declare -A URL CPU_PID SCRIPT
TARGETS=()

run_wrk() {
    # run_wrk TARGET CONNS ROUND: one measurement; records rps, latencies, requests and,
    # for proxies, the CPU time the proxy process spent per request.
    local target="$1" c="$2" r="$3" url="${URL[$1]}" t out line pid="${CPU_PID[$1]:-}" t0="" t1="" k="$1,$2,$3" cpu=""
    local script=()
    [ -n "${SCRIPT[$1]:-}" ] && script=(-s "${SCRIPT[$1]}")
    t=$((c < 2 ? c : 2))
    out="$RAW_DIR/wrk-$target-c$c-r$r.txt"
    [ -n "$pid" ] && t0="$(cpu_ticks "$pid")"
    "${LOAD_CPU[@]}" wrk -t"$t" -c"$c" -d"$DURATION" --latency "${script[@]}" "$url" >"$out" 2>&1 || die "wrk failed for $target c=$c round $r: $(cat "$out")"
    [ -n "$pid" ] && t1="$(cpu_ticks "$pid")"
    R_RPS[$k]="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")"
    R_REQS[$k]="$(awk '/ requests in / { print $1; exit }' "$out")"
    line="$(awk '$1 == "50%" { print $2 }' "$out")"; R_P50[$k]="$(to_us "$line")"
    line="$(awk '$1 == "99%" { print $2 }' "$out")"; R_P99[$k]="$(to_us "$line")"
    line="$(awk '/Non-2xx|Socket errors/ { $1 = $1; printf "%s; ", $0 }' "$out")"
    [ -n "$line" ] && ERRS[$k]="$line"
    if [ -n "$t0" ] && [ -n "$t1" ] && [ -n "${R_REQS[$k]}" ]; then
        cpu="$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v n="${R_REQS[$k]}" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1000000 / hz / n }')"
        printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$c" "$r" "$t0" "$t1" >>"$RAW_DIR/cpu-ticks.tsv"
    fi
    R_CPU[$k]="$cpu"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$c" "$r" "${R_RPS[$k]}" "${R_P50[$k]}" "${R_P99[$k]}" "${R_REQS[$k]}" "$cpu" >>"$RAW_DIR/rounds.tsv"
    log "$(printf '%-11s c=%-3s r%-2s rps=%-9s p50=%sus p99=%sus%s %s' "$target" "$c" "$r" "${R_RPS[$k]}" "${R_P50[$k]}" "${R_P99[$k]}" \
        "${cpu:+ cpu=${cpu}us/req}" "${ERRS[$k]:-}")"
}

warm_up() {
    # warm_up TARGET [CONNS]: default is the highest level of BENCH_CONNS.
    local target="$1" c maxc="${2:-1}" script=()
    if [ -z "${2:-}" ]; then for c in $CONNS; do [ "$c" -gt "$maxc" ] && maxc="$c"; done; fi
    [ -n "${SCRIPT[$target]:-}" ] && script=(-s "${SCRIPT[$target]}")
    log "$target: warm-up $WARMUP at c=$maxc"
    "${LOAD_CPU[@]}" wrk -t"$((maxc < 2 ? maxc : 2))" -c"$maxc" -d"$WARMUP" "${script[@]}" "${URL[$target]}" >"$RAW_DIR/wrk-$target-warmup.txt" 2>&1 || die "warm-up failed for $target"
}

# ---------------------------------------------------------------- run
log "date: $(date -u +%FT%TZ); git: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo n/a)$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
log "cpus: $NCPU ($PINNING); wrk $(wrk -v 2>&1 | awk 'NR==1 { print $2 }'); nginx: ${NGINX_BIN:+$("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //')}"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before measuring: $LOAD_START"
EST="$(awk -v d="$DURATION" -v w="$WARMUP" -v r="$ROUNDS" -v n="$(echo $CONNS | wc -w)" 'function sec(v,  x, u) {
    x = v + 0; u = v; sub(/^[0-9.]+/, "", u); return u == "m" ? 60 * x : u == "h" ? 3600 * x : x }
    BEGIN { printf "%.0f", 3 * (sec(w) + r * n * sec(d)) + 6 * sec(w) + 8 * r * sec(d) + 10 }')"
log "duration per measurement: $DURATION; rounds: $ROUNDS; warm-up: $WARMUP; concurrency levels: $CONNS; LLM rows at c=$AI_CONNS (about ${EST}s in total)"
log "ports: upstream=$UP_PORT gateway=$GW_PORT nginx=$NGINX_PORT admin=$ADMIN_PORT metrics=$METRICS_PORT readiness=$READY_PORT"

"${LOAD_CPU[@]}" "$UPSTREAM" "$UP_PORT" 2>"$RAW_DIR/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_port "$UP_PORT" "$UP_PID" "bench-upstream"
check_body "http://127.0.0.1:$UP_PORT/" "direct"

# All targets stay up for the whole run, so the rounds can be interleaved: a burst of
# noise from a neighbour then hits every target of a round instead of one whole column.
# (a) direct
TARGETS+=(direct)
URL[direct]="http://127.0.0.1:$UP_PORT/"

# (b) agentgateway
cat >"$TMP/gateway.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench
spec:
  gatewayClassName: agentgateway
  listeners:
  - name: http
    port: $GW_PORT
    protocol: HTTP
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata:
  name: upstream
spec:
  static:
    host: 127.0.0.1
    port: $UP_PORT
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bench
spec:
  parentRefs:
  - name: bench
  rules:
  - backendRefs:
    - group: agentgateway.dev
      kind: AgentgatewayBackend
      name: upstream
---
# LLM routes on the same listener; bench-upstream plays both providers.
# /ai: OpenAI client -> OpenAI provider (request/usage parsing, no translation).
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata:
  name: llm-openai
spec:
  ai:
    provider:
      openai: {}
      host: 127.0.0.1
      port: $UP_PORT
---
# /translated: OpenAI client -> Anthropic provider (the gateway translates both ways).
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata:
  name: llm-anthropic
spec:
  ai:
    provider:
      anthropic: {}
      host: 127.0.0.1
      port: $UP_PORT
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: llm
spec:
  parentRefs:
  - name: bench
  rules:
  - matches:
    - path: {type: PathPrefix, value: /ai}
    backendRefs:
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: llm-openai}
  - matches:
    - path: {type: PathPrefix, value: /translated}
    backendRefs:
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: llm-anthropic}
EOF
cp "$TMP/gateway.yaml" "$RAW_DIR/gateway.yaml"
"$AGW" validate -f "$TMP/gateway.yaml" || die "generated gateway config does not validate"

"${PROXY_CPU[@]}" "$AGW" run -f "$TMP/gateway.yaml" --bind 127.0.0.1 \
    --admin-addr "127.0.0.1:$ADMIN_PORT" --metrics-addr "127.0.0.1:$METRICS_PORT" \
    --readiness-addr "127.0.0.1:$READY_PORT" --log-level warn 2>"$RAW_DIR/gateway.log" &
GW_PID=$!
PIDS+=("$GW_PID")
wait_port "$READY_PORT" "$GW_PID" "agentgateway readiness"
for _ in $(seq 1 100); do
    [ "$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$READY_PORT/healthz/ready")" = 200 ] && break
    kill -0 "$GW_PID" 2>/dev/null || die "agentgateway exited during startup (see $RAW_DIR/gateway.log)"
    sleep 0.1
done
wait_port "$GW_PORT" "$GW_PID" "agentgateway listener"
sleep 1
GW_RSS_START="$(rss_mib "$GW_PID")"
GW_THREADS="$(awk '/^Threads:/ { print $2 }' "/proc/$GW_PID/status")"
log "agentgateway idle RSS after startup: ${GW_RSS_START} MiB (threads: $GW_THREADS)"
check_body "http://127.0.0.1:$GW_PORT/" "agentgateway"
TARGETS+=(gateway)
URL[gateway]="http://127.0.0.1:$GW_PORT/"
CPU_PID[gateway]="$GW_PID"

# LLM-route targets, measured in their own phase at c=$AI_CONNS after the proxy comparison.
# "plain" / "plain-stream" send the same chat POSTs through the gateway's plain (static)
# route, so every LLM row is compared with the proxy carrying the same bytes without the
# LLM processing; "direct-sse" is the streaming POST straight at the upstream (baseline for
# added latency).
AI_TARGETS=(plain plain-stream ai ai-stream xlat xlat-stream direct-sse)
URL[plain]="http://127.0.0.1:$GW_PORT/v1/chat/completions"
URL[plain-stream]="${URL[plain]}"
SCRIPT[plain]="$BENCH_DIR/chat.lua"; SCRIPT[plain-stream]="$BENCH_DIR/chat_stream.lua"
URL[ai]="http://127.0.0.1:$GW_PORT/ai/v1/chat/completions"
URL[ai-stream]="${URL[ai]}"
URL[xlat]="http://127.0.0.1:$GW_PORT/translated/v1/chat/completions"
URL[xlat-stream]="${URL[xlat]}"
URL[direct-sse]="http://127.0.0.1:$UP_PORT/v1/chat/completions"
SCRIPT[ai]="$BENCH_DIR/chat.lua"; SCRIPT[xlat]="$BENCH_DIR/chat.lua"
SCRIPT[ai-stream]="$BENCH_DIR/chat_stream.lua"; SCRIPT[xlat-stream]="$BENCH_DIR/chat_stream.lua"
SCRIPT[direct-sse]="$BENCH_DIR/chat_stream.lua"
for target in plain plain-stream ai ai-stream xlat xlat-stream; do CPU_PID[$target]="$GW_PID"; done
check_chat "${URL[direct-sse]}" "direct stream" "${SCRIPT[direct-sse]}" "[DONE]"
check_chat "${URL[plain]}" "gateway plain route" "${SCRIPT[plain]}" '"chat.completion"'
check_chat "${URL[plain-stream]}" "gateway plain route stream" "${SCRIPT[plain-stream]}" "[DONE]"
check_chat "${URL[ai]}" "gateway /ai" "${SCRIPT[ai]}" '"chat.completion"'
check_chat "${URL[ai-stream]}" "gateway /ai stream" "${SCRIPT[ai-stream]}" "[DONE]"
check_chat "${URL[xlat]}" "gateway /translated" "${SCRIPT[xlat]}" '"chat.completion"'
check_chat "${URL[xlat-stream]}" "gateway /translated stream" "${SCRIPT[xlat-stream]}" "chat.completion.chunk"

# (c) nginx
if [ -n "$NGINX_BIN" ]; then
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
    NGINX_USER=""
    [ "$(id -u)" -eq 0 ] && NGINX_USER="user root;"
    cat >"$TMP/nginx/nginx.conf" <<EOF
$NGINX_USER
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_requests 1000000;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    cp "$TMP/nginx/nginx.conf" "$RAW_DIR/nginx.conf"
    if "$NGINX_BIN" -t -q -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf"; then
        "${PROXY_CPU[@]}" "$NGINX_BIN" -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" &
        NGINX_PID=$!
        PIDS+=("$NGINX_PID")
        wait_port "$NGINX_PORT" "$NGINX_PID" "nginx"
        check_body "http://127.0.0.1:$NGINX_PORT/" "nginx"
        # CPU is read from the (single) worker process, which does all the proxying.
        NGINX_WORKER=""
        for _ in $(seq 1 50); do
            NGINX_WORKER="$(pgrep -P "$NGINX_PID" | head -n 1 || true)"
            [ -n "$NGINX_WORKER" ] && break
            sleep 0.1
        done
        [ -n "$NGINX_WORKER" ] || log "nginx worker pid not found: no CPU/request for nginx"
        log "nginx master pid $NGINX_PID, worker pid ${NGINX_WORKER:-n/a}"
        TARGETS+=(nginx)
        URL[nginx]="http://127.0.0.1:$NGINX_PORT/"
        CPU_PID[nginx]="$NGINX_WORKER"
    else
        NGINX_SKIP_REASON="nginx config test failed: SKIPPING the nginx reference"
        log "$NGINX_SKIP_REASON"
        NGINX_BIN=""
    fi
fi

# (d) measure: warm-up once per target, then per level ROUNDS interleaved rounds.
printf 'target\tconc\tround\trps\tp50_us\tp99_us\trequests\tcpu_us_per_req\n' >"$RAW_DIR/rounds.tsv"
printf 'target\tconc\tround\tticks_before\tticks_after\n' >"$RAW_DIR/cpu-ticks.tsv"
for target in "${TARGETS[@]}"; do warm_up "$target"; done
for c in $CONNS; do
    for r in $(seq 1 "$ROUNDS"); do
        for target in "${TARGETS[@]}"; do run_wrk "$target" "$c" "$r"; done
    done
    for target in "${TARGETS[@]}"; do
        vals_rps=() vals_p50=() vals_p99=() vals_cpu=()
        for r in $(seq 1 "$ROUNDS"); do
            vals_rps+=("${R_RPS[$target,$c,$r]:-}"); vals_p50+=("${R_P50[$target,$c,$r]:-}")
            vals_p99+=("${R_P99[$target,$c,$r]:-}"); vals_cpu+=("${R_CPU[$target,$c,$r]:-}")
        done
        RPS[$target,$c]="$(median %.0f "${vals_rps[@]}")"
        P50[$target,$c]="$(median %.0f "${vals_p50[@]}")"
        P99[$target,$c]="$(median %.0f "${vals_p99[@]}")"
        CPU[$target,$c]="$(median %.2f "${vals_cpu[@]}")"
    done
done

sleep 2
GW_RSS_END="$(rss_mib "$GW_PID")"
log "agentgateway idle RSS after the run: ${GW_RSS_END} MiB"
if [ -n "${NGINX_PID:-}" ]; then
    stop_pid "$NGINX_PID"
    cp "$TMP/nginx/logs/error.log" "$RAW_DIR/nginx-error.log" 2>/dev/null || true
fi

# (e) LLM routes: same interleaved rounds, at one level (c=$AI_CONNS), after the idle-RSS
# reading so that reading still means "after the proxy comparison". nginx is stopped by now.
log "LLM routes at c=$AI_CONNS: ${AI_TARGETS[*]}"
for target in "${AI_TARGETS[@]}"; do warm_up "$target" "$AI_CONNS"; done
# Each round also runs the streaming pair at c=1, where latency is not inflated by queueing:
# that is the cleaner added-time-to-first-byte estimate.
AI_RUNS=()
for target in "${AI_TARGETS[@]}"; do AI_RUNS+=("$target,$AI_CONNS"); done
[ "$AI_CONNS" != 1 ] && AI_RUNS+=("direct-sse,1" "ai-stream,1")
for r in $(seq 1 "$ROUNDS"); do
    for run in "${AI_RUNS[@]}"; do run_wrk "${run%,*}" "${run#*,}" "$r"; done
done
for run in "${AI_RUNS[@]}"; do
    vals_rps=() vals_p50=() vals_p99=() vals_cpu=()
    for r in $(seq 1 "$ROUNDS"); do
        vals_rps+=("${R_RPS[$run,$r]:-}"); vals_p50+=("${R_P50[$run,$r]:-}")
        vals_p99+=("${R_P99[$run,$r]:-}"); vals_cpu+=("${R_CPU[$run,$r]:-}")
    done
    RPS[$run]="$(median %.0f "${vals_rps[@]}")"
    P50[$run]="$(median %.0f "${vals_p50[@]}")"
    P99[$run]="$(median %.0f "${vals_p99[@]}")"
    CPU[$run]="$(median %.2f "${vals_cpu[@]}")"
done
stop_pid "$GW_PID"
stop_pid "$UP_PID"

# ---------------------------------------------------------------- report
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY="$(ps -eo pcpu=,comm= --sort=-pcpu 2>/dev/null | awk '$1 >= 20 && $2 != "wrk" && $2 != "bench-upstream" && $2 != "agentgateway" && $2 != "nginx" { printf "%s(%s%%) ", $2, $1 }' | head -c 200 || true)"
# fdiv A B [fmt]: A/B, or n/a when either side is missing.
fdiv() { awk -v a="${1:-}" -v b="${2:-}" -v f="${3:-%.2f}" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf f, a / b }'; }
fsub() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan") print "n/a"; else printf "%d", a - b }'; }
or_na() { [ -n "${1:-}" ] && echo "$1" || echo "n/a"; }

echo
echo "================ results (loopback, HTTP/1.1 keep-alive; median of $ROUNDS interleaved rounds of $DURATION; latencies in microseconds) ================"
echo "Throughput (requests/sec, median)"
printf '%5s | %10s %10s %10s | %9s %9s %9s\n' conc direct gateway nginx gw/direct ngx/direct gw/nginx
printf -- '------+----------------------------------+------------------------------\n'
for c in $CONNS; do
    d="${RPS[direct,$c]:-}"; g="${RPS[gateway,$c]:-}"; n="${RPS[nginx,$c]:-}"
    printf '%5s | %10s %10s %10s | %9s %9s %9s\n' "$c" "$(or_na "$d")" "$(or_na "$g")" "$(or_na "$n")" \
        "$(fdiv "$g" "$d")" "$(fdiv "$n" "$d")" "$(fdiv "$g" "$n")"
done
echo
echo "Latency (us, medians): p50 / p99 per target; added p50 = proxy p50 - direct p50"
printf '%5s | %15s %15s %15s | %8s %8s %11s\n' conc "direct p50/p99" "gateway p50/p99" "nginx p50/p99" "gw +p50" "ngx +p50" "gw/ngx +p50"
printf -- '------+-------------------------------------------------+------------------------------\n'
for c in $CONNS; do
    dp="${P50[direct,$c]:-}"; gp="${P50[gateway,$c]:-}"; np="${P50[nginx,$c]:-}"
    ga="$(fsub "$gp" "$dp")"; na="$(fsub "$np" "$dp")"
    printf '%5s | %15s %15s %15s | %8s %8s %11s\n' "$c" \
        "$(or_na "$dp")/$(or_na "${P99[direct,$c]:-}")" \
        "$(or_na "$gp")/$(or_na "${P99[gateway,$c]:-}")" \
        "$(or_na "$np")/$(or_na "${P99[nginx,$c]:-}")" \
        "$ga" "$na" "$( [ "$ga" = n/a ] || [ "$na" = n/a ] && echo n/a || fdiv "$ga" "$na")"
done
echo
echo "CPU cost per request (us of proxy CPU time, utime+stime / wrk requests; median) -- the most reliable"
echo "comparison on a shared machine: it barely depends on how much CPU time neighbours leave the proxy"
printf '%5s | %10s %10s | %14s | %-24s %s\n' conc gateway nginx "ngx/gw (eff.)" "gateway per round" "nginx per round"
printf -- '------+-----------------------+----------------+--------------------------------------------------\n'
for c in $CONNS; do
    gr="" nr=""
    for r in $(seq 1 "$ROUNDS"); do
        gr+="$(or_na "${R_CPU[gateway,$c,$r]:-}") "; nr+="$(or_na "${R_CPU[nginx,$c,$r]:-}") "
    done
    printf '%5s | %10s %10s | %14s | %-24s %s\n' "$c" "$(or_na "${CPU[gateway,$c]:-}")" "$(or_na "${CPU[nginx,$c]:-}")" \
        "$(fdiv "${CPU[nginx,$c]:-}" "${CPU[gateway,$c]:-}")" "${gr% }" "${nr% }"
done
echo
echo "Per-round rps (rounds run interleaved: direct, gateway, nginx, then again; gw/nginx from the same round)"
hdr=""; for r in $(seq 1 "$ROUNDS"); do hdr+="$(printf ' %9s' "r$r")"; done
printf '%5s %-8s |%s | %9s\n' conc target "$hdr" median
for c in $CONNS; do
    for target in "${TARGETS[@]}"; do
        row=""; for r in $(seq 1 "$ROUNDS"); do row+="$(printf ' %9s' "$(or_na "${R_RPS[$target,$c,$r]:-}")")"; done
        printf '%5s %-8s |%s | %9s\n' "$c" "$target" "$row" "$(or_na "${RPS[$target,$c]:-}")"
    done
    if [ -n "${URL[nginx]:-}" ]; then
        row="" ratios=()
        for r in $(seq 1 "$ROUNDS"); do
            x="$(fdiv "${R_RPS[gateway,$c,$r]:-}" "${R_RPS[nginx,$c,$r]:-}")"; ratios+=("$x")
            row+="$(printf ' %9s' "$x")"
        done
        printf '%5s %-8s |%s | %9s\n' "$c" "gw/nginx" "$row" "$(or_na "$(median %.2f "${ratios[@]}")")"
    fi
done
echo
echo "agentgateway idle RSS: ${GW_RSS_START} MiB after startup, ${GW_RSS_END} MiB after the run"
errs=""
for k in $(printf '%s\n' "${!ERRS[@]}" | sort -t, -k2,2n -k3,3n -k1,1); do [ -n "${ERRS[$k]}" ] && errs+="  $k: ${ERRS[$k]}"$'\n'; done
[ -n "$errs" ] && printf 'wrk reported errors:\n%s' "$errs"

# verdict LABEL CONDITION-OUTPUT
verdict() { printf '  %-68s %s\n' "$1" "$2"; }
check() {
    # check EXPR A B -> PASS/FAIL/n/a (awk expression over a and b)
    awk -v a="${2:-}" -v b="${3:-}" "BEGIN { if (a == \"\" || b == \"\" || a == \"nan\" || b == \"nan\" || a == \"n/a\" || b == \"n/a\") print \"n/a\"; else if ($1) print \"PASS\"; else print \"FAIL\" }"
}
echo
echo "Targets (from the medians above):"
g64="${RPS[gateway,64]:-}"; n64="${RPS[nginx,64]:-}"
verdict "c=64 gateway rps >= 0.8 x nginx rps ($(or_na "$g64") vs $(awk -v n="$n64" 'BEGIN { if (n == "") print "n/a"; else printf "%.0f", 0.8 * n }'))" \
    "$(check 'a >= 0.8 * b' "$g64" "$n64")"
verdict "c=64 gateway p99 <= nginx p99 ($(or_na "${P99[gateway,64]:-}") vs $(or_na "${P99[nginx,64]:-}") us)" \
    "$(check 'a <= b' "${P99[gateway,64]:-}" "${P99[nginx,64]:-}")"
ga1="$(fsub "${P50[gateway,1]:-}" "${P50[direct,1]:-}")"; na1="$(fsub "${P50[nginx,1]:-}" "${P50[direct,1]:-}")"
verdict "c=1 gateway added p50 <= 1.2 x nginx added p50 ($ga1 vs $na1 us)" "$(check 'a <= 1.2 * b' "$ga1" "$na1")"
verdict "idle RSS < 15 MiB (startup $GW_RSS_START, after run $GW_RSS_END)" \
    "$(check 'a < 15 && b < 15' "$GW_RSS_START" "$GW_RSS_END")"
echo "Informational (CPU-based equivalent of the rps target, robust against neighbours):"
gc64="${CPU[gateway,64]:-}"; nc64="${CPU[nginx,64]:-}"
verdict "c=64 gateway CPU/req <= 1.25 x nginx CPU/req ($(or_na "$gc64") vs $(awk -v n="$nc64" 'BEGIN { if (n == "") print "n/a"; else printf "%.2f", 1.25 * n }') us)" \
    "$(check 'a <= 1.25 * b' "$gc64" "$nc64") (throughput-equivalent $(fdiv "$nc64" "$gc64") x nginx, target >= 0.8)"
echo
echo "LLM routes at c=$AI_CONNS (gateway; medians of $ROUNDS interleaved rounds; ratio = route rps / rps of the same POSTs"
echo "through the plain static route in this phase: JSON rows against 'plain', SSE rows against 'plain SSE')"
printf '%-28s | %9s %6s | %7s %7s | %9s | %s\n' route rps ratio p50 p99 "cpu us/req" "per-round rps"
printf -- '-----------------------------+------------------+-----------------+-----------+------------------------\n'
ai_label() {
    case "$1" in
        plain) echo "plain route POST (reference)" ;;
        plain-stream) echo "plain route SSE (reference)" ;;
        ai) echo "/ai            openai" ;;
        ai-stream) echo "/ai            openai SSE" ;;
        xlat) echo "/translated    ->anthropic" ;;
        xlat-stream) echo "/translated    ->anthr. SSE" ;;
        direct-sse) echo "direct SSE POST (no proxy)" ;;
    esac
}
# reference_rps TARGET: the plain-route rps the target is compared with.
reference_rps() {
    case "$1" in
        *-stream) echo "${RPS[plain-stream,$AI_CONNS]:-}" ;;
        *) echo "${RPS[plain,$AI_CONNS]:-}" ;;
    esac
}
for target in "${AI_TARGETS[@]}"; do
    row=""; for r in $(seq 1 "$ROUNDS"); do row+="$(or_na "${R_RPS[$target,$AI_CONNS,$r]:-}") "; done
    ratio="$(fdiv "${RPS[$target,$AI_CONNS]:-}" "$(reference_rps "$target")")"
    [ "$target" = direct-sse ] && ratio="-"
    printf '%-28s | %9s %6s | %7s %7s | %9s | %s\n' "$(ai_label "$target")" "$(or_na "${RPS[$target,$AI_CONNS]:-}")" "$ratio" \
        "$(or_na "${P50[$target,$AI_CONNS]:-}")" "$(or_na "${P99[$target,$AI_CONNS]:-}")" "$(or_na "${CPU[$target,$AI_CONNS]:-}")" "${row% }"
done
echo
echo "Added latency of a streamed chat completion (estimate of the gateway's added time to first byte;"
echo "direct = streaming POST straight at the upstream, via /ai = the same POST through the gateway's /ai route):"
ttft_line() {
    local c="$1" ds50="${P50[direct-sse,$1]:-}" ds99="${P99[direct-sse,$1]:-}" as50="${P50[ai-stream,$1]:-}" as99="${P99[ai-stream,$1]:-}"
    ADD50="$(fsub "$as50" "$ds50")"; ADD99="$(fsub "$as99" "$ds99")"
    printf '  c=%-3s direct p50/p99 %s/%s us, via /ai %s/%s us: added p50 %s us, added p99 %s us\n' "$c" \
        "$(or_na "$ds50")" "$(or_na "$ds99")" "$(or_na "$as50")" "$(or_na "$as99")" "$ADD50" "$ADD99"
}
ttft_line 1; ADD99_C1="$ADD99"
[ "$AI_CONNS" != 1 ] && ttft_line "$AI_CONNS"
echo "  (wrk's latency is the time to the complete response; these streams are tiny, so it is time to first"
echo "   byte plus a negligible stream time, and the difference is the gateway's added latency. At c=1 that is"
echo "   pure per-request cost; at higher concurrency it also includes queueing on the gateway's single core.)"
echo
echo "LLM targets:"
for target in ai ai-stream xlat xlat-stream; do
    x="$(fdiv "${RPS[$target,$AI_CONNS]:-}" "$(reference_rps "$target")")"
    verdict "c=$AI_CONNS $(ai_label "$target" | tr -s ' ') rps >= 0.90 x plain route ($x)" "$(check 'a >= 0.9' "$x" 1)"
done
verdict "c=1 added TTFT p99 (/ai stream vs direct SSE) < 200 us ($ADD99_C1 us)" "$(check 'a < 200' "$ADD99_C1" 1)"

echo
echo "Caveats:"
echo "  - gateway runs with --log-level warn, so its (info-level) access log is off, like nginx's access_log off."
echo "  - $PINNING. The gateway's runtime sizes its worker pool from the CPUs it may use, so under taskset it"
echo "    runs a single worker ($GW_THREADS threads in total after startup); nginx runs 1 worker process."
echo "  - direct numbers share CPU 1 between wrk and the upstream; they are a ceiling of the load generator, not of a proxy."
echo "  - CPU/request is the proxy process's utime+stime (gateway: all threads; nginx: the worker process) over the"
echo "    requests wrk completed, at $CLK_TCK ticks/s; it includes the kernel's socket work done on the proxy's behalf."
echo "  - both proxies stay up (idle) while the other targets run; an idle proxy uses next to no CPU."
echo "  - loopback only: no network latency, so 'added p50' is pure proxy processing + one extra loopback hop."
echo "  - load average (1/5/15 min): $LOAD_START before, $LOAD_END after the measurements; anything well above 0 means"
echo "    other work shared the two CPUs and the numbers (tails especially) are pessimistic and noisy."
[ -n "$BUSY" ] && echo "  - other busy processes at the end of the run: $BUSY"
[ -n "$NGINX_SKIP_REASON" ] && echo "  - $NGINX_SKIP_REASON"
echo
log "raw wrk output and configs: bench/results/$STAMP/; this report: bench/results/run-$STAMP.txt"
