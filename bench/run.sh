#!/usr/bin/env bash
# Loopback HTTP/1.1 proxy benchmark: direct upstream vs agentgateway vs nginx.
#
# Usage: bench/run.sh            (from anywhere; see bench/README.md)
#
# Environment knobs:
#   BENCH_DURATION    wrk duration per concurrency level (default 8s)
#   BENCH_WARMUP      warm-up duration per target before measuring (default 2s)
#   BENCH_CONNS       space-separated concurrency levels (default "1 16 64")
#   BENCH_SKIP_BUILD  set to 1 to reuse the binaries already in target/bench/release
#   BENCH_NO_APT      set to 1 to never call apt-get (nginx is then skipped if absent)
#
# Not part of the test suite. Everything listens on 127.0.0.1 only; every run is bounded
# by BENCH_DURATION x levels x targets. Output is also saved under bench/results/.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${BENCH_DURATION:-8s}"
WARMUP="${BENCH_WARMUP:-2s}"
CONNS="${BENCH_CONNS:-1 16 64}"
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

declare -A RPS P50 P99 ERRS

run_wrk() {
    # run_wrk TARGET CONNS URL
    local target="$1" c="$2" url="$3" t out line
    t=$((c < 2 ? c : 2))
    out="$RAW_DIR/wrk-$target-c$c.txt"
    "${LOAD_CPU[@]}" wrk -t"$t" -c"$c" -d"$DURATION" --latency "$url" >"$out" 2>&1 || die "wrk failed for $target c=$c: $(cat "$out")"
    RPS[$target,$c]="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")"
    line="$(awk '$1 == "50%" { print $2 }' "$out")"; P50[$target,$c]="$(to_us "$line")"
    line="$(awk '$1 == "99%" { print $2 }' "$out")"; P99[$target,$c]="$(to_us "$line")"
    ERRS[$target,$c]="$(awk '/Non-2xx|Socket errors/ { $1 = $1; printf "%s; ", $0 }' "$out")"
    log "$(printf '%-8s c=%-3s rps=%-9s p50=%sus p99=%sus %s' "$target" "$c" "${RPS[$target,$c]}" "${P50[$target,$c]}" "${P99[$target,$c]}" "${ERRS[$target,$c]}")"
}

measure() {
    # measure TARGET URL: warm-up, then every concurrency level.
    local target="$1" url="$2" c maxc=1
    for c in $CONNS; do [ "$c" -gt "$maxc" ] && maxc="$c"; done
    log "$target: warm-up $WARMUP at c=$maxc"
    "${LOAD_CPU[@]}" wrk -t"$((maxc < 2 ? maxc : 2))" -c"$maxc" -d"$WARMUP" "$url" >"$RAW_DIR/wrk-$target-warmup.txt" 2>&1 || die "warm-up failed for $target"
    for c in $CONNS; do run_wrk "$target" "$c" "$url"; done
}

# ---------------------------------------------------------------- run
log "date: $(date -u +%FT%TZ); git: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo n/a)$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
log "cpus: $NCPU ($PINNING); wrk $(wrk -v 2>&1 | awk 'NR==1 { print $2 }'); nginx: ${NGINX_BIN:+$("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //')}"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before measuring: $LOAD_START"
log "duration per level: $DURATION; warm-up: $WARMUP; concurrency levels: $CONNS"
log "ports: upstream=$UP_PORT gateway=$GW_PORT nginx=$NGINX_PORT admin=$ADMIN_PORT metrics=$METRICS_PORT readiness=$READY_PORT"

"${LOAD_CPU[@]}" "$UPSTREAM" "$UP_PORT" 2>"$RAW_DIR/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_port "$UP_PORT" "$UP_PID" "bench-upstream"
check_body "http://127.0.0.1:$UP_PORT/" "direct"

# (a) direct
measure direct "http://127.0.0.1:$UP_PORT/"

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
measure gateway "http://127.0.0.1:$GW_PORT/"
sleep 2
GW_RSS_END="$(rss_mib "$GW_PID")"
log "agentgateway idle RSS after the run: ${GW_RSS_END} MiB"
stop_pid "$GW_PID"

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
        measure nginx "http://127.0.0.1:$NGINX_PORT/"
        stop_pid "$NGINX_PID"
        cp "$TMP/nginx/logs/error.log" "$RAW_DIR/nginx-error.log" 2>/dev/null || true
    else
        NGINX_SKIP_REASON="nginx config test failed: SKIPPING the nginx reference"
        log "$NGINX_SKIP_REASON"
        NGINX_BIN=""
    fi
fi
stop_pid "$UP_PID"

# ---------------------------------------------------------------- report
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY="$(ps -eo pcpu=,comm= --sort=-pcpu 2>/dev/null | awk '$1 >= 20 && $2 != "wrk" && $2 != "bench-upstream" && $2 != "agentgateway" && $2 != "nginx" { printf "%s(%s%%) ", $2, $1 }' | head -c 200 || true)"
# fdiv A B [fmt]: A/B, or n/a when either side is missing.
fdiv() { awk -v a="${1:-}" -v b="${2:-}" -v f="${3:-%.2f}" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf f, a / b }'; }
fsub() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan") print "n/a"; else printf "%d", a - b }'; }
or_na() { [ -n "${1:-}" ] && echo "$1" || echo "n/a"; }

echo
echo "================ results (loopback, HTTP/1.1 keep-alive, $DURATION per level; latencies in microseconds) ================"
echo "Throughput (requests/sec)"
printf '%5s | %10s %10s %10s | %9s %9s %9s\n' conc direct gateway nginx gw/direct ngx/direct gw/nginx
printf -- '------+----------------------------------+------------------------------\n'
for c in $CONNS; do
    d="${RPS[direct,$c]:-}"; g="${RPS[gateway,$c]:-}"; n="${RPS[nginx,$c]:-}"
    printf '%5s | %10s %10s %10s | %9s %9s %9s\n' "$c" "$(or_na "$d")" "$(or_na "$g")" "$(or_na "$n")" \
        "$(fdiv "$g" "$d")" "$(fdiv "$n" "$d")" "$(fdiv "$g" "$n")"
done
echo
echo "Latency (us): p50 / p99 per target; added p50 = proxy p50 - direct p50"
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
echo "agentgateway idle RSS: ${GW_RSS_START} MiB after startup, ${GW_RSS_END} MiB after the run"
errs=""
for k in "${!ERRS[@]}"; do [ -n "${ERRS[$k]}" ] && errs+="  $k: ${ERRS[$k]}"$'\n'; done
[ -n "$errs" ] && printf 'wrk reported errors:\n%s' "$errs"

# verdict LABEL CONDITION-OUTPUT
verdict() { printf '  %-58s %s\n' "$1" "$2"; }
check() {
    # check EXPR A B -> PASS/FAIL/n/a (awk expression over a and b)
    awk -v a="${2:-}" -v b="${3:-}" "BEGIN { if (a == \"\" || b == \"\" || a == \"nan\" || b == \"nan\" || a == \"n/a\" || b == \"n/a\") print \"n/a\"; else if ($1) print \"PASS\"; else print \"FAIL\" }"
}
echo
echo "Targets:"
g64="${RPS[gateway,64]:-}"; n64="${RPS[nginx,64]:-}"
verdict "c=64 gateway rps >= 0.8 x nginx rps ($(or_na "$g64") vs $(awk -v n="$n64" 'BEGIN { if (n == "") print "n/a"; else printf "%.0f", 0.8 * n }'))" \
    "$(check 'a >= 0.8 * b' "$g64" "$n64")"
verdict "c=64 gateway p99 <= nginx p99 ($(or_na "${P99[gateway,64]:-}") vs $(or_na "${P99[nginx,64]:-}") us)" \
    "$(check 'a <= b' "${P99[gateway,64]:-}" "${P99[nginx,64]:-}")"
ga1="$(fsub "${P50[gateway,1]:-}" "${P50[direct,1]:-}")"; na1="$(fsub "${P50[nginx,1]:-}" "${P50[direct,1]:-}")"
verdict "c=1 gateway added p50 <= 1.2 x nginx added p50 ($ga1 vs $na1 us)" "$(check 'a <= 1.2 * b' "$ga1" "$na1")"
verdict "idle RSS < 15 MiB (startup $GW_RSS_START, after run $GW_RSS_END)" \
    "$(check 'a < 15 && b < 15' "$GW_RSS_START" "$GW_RSS_END")"
echo
echo "Caveats:"
echo "  - gateway runs with --log-level warn, so its (info-level) access log is off, like nginx's access_log off."
echo "  - $PINNING. The gateway's runtime sizes its worker pool from the CPUs it may use, so under taskset it"
echo "    runs a single worker ($GW_THREADS threads in total after startup); nginx runs 1 worker process."
echo "  - direct numbers share CPU 1 between wrk and the upstream; they are a ceiling of the load generator, not of a proxy."
echo "  - loopback only: no network latency, so 'added p50' is pure proxy processing + one extra loopback hop."
echo "  - load average (1/5/15 min): $LOAD_START before, $LOAD_END after the measurements; anything well above 0 means"
echo "    other work shared the two CPUs and the numbers (tails especially) are pessimistic and noisy."
[ -n "$BUSY" ] && echo "  - other busy processes at the end of the run: $BUSY"
[ -n "$NGINX_SKIP_REASON" ] && echo "  - $NGINX_SKIP_REASON"
echo
log "raw wrk output and configs: bench/results/$STAMP/; this report: bench/results/run-$STAMP.txt"
