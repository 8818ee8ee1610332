#!/usr/bin/env bash
# cosgate's HTTP path against two references on the same machine, in one
# run: the ceiling (examples/ceiling.rs: bare poem answering the very bytes
# cosgate answered, constant, no per-request body allocation) and the floor
# (examples/floor.rs: a poem-openapi operation with the same parameters and
# Authorization header, answering constant values: what the framework itself
# costs). Builds release binaries, starts them on loopback, and loads each
# target with wrk (1 thread, 64 connections), alternating targets over ROUNDS
# rounds after a warm-up. Prints one table: req/s, p50, p99, errors, each
# cosgate row's ratio to the ceiling and to the floor, and cosgate's RSS.
#
#   bench/http.sh                      # DURATION=10 ROUNDS=2 by default
#   DURATION=5 ROUNDS=3 bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-64}

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --bin cosgate --example ceiling --example floor
bin=target/release
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

export COSGATE_ENV=development RATE_LIMIT_SIGN_PER_MIN=0 RATE_LIMIT_LOGIN_PER_MIN=0 RATE_LIMIT_PARTS_PER_MIN=0 \
  JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 QCOS_APPID=1250000000 \
  QCOS_SECRET_ID=AKIDEXAMPLE QCOS_SECRET_KEY=bench-secret-key QCOS_BUCKET_NAME=examplebucket \
  QCOS_REGION=ap-guangzhou WXAPP_ID=wx0000000000000000 WXAPP_SECRET=bench OAUTH_CLIENTS=bench:bench-secret \
  LOCAL_COS=false

start() { # name port env... -- command...
  local name=$1 port=$2; shift 2
  env "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 1 100); do
    # Any HTTP answer (the ceiling has no /healthz) means it listens.
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return
    sleep 0.1
  done
  echo "$name did not start" >&2; exit 1
}
# cosgate with the defaults `cargo run` uses (its allocator's options are
# its own), at the two log levels.
start warn 7791 RUST_LOG=warn COSGATE_BIND=127.0.0.1:7791 DATABASE_URL="sqlite://$work/warn.db" "$bin/cosgate" serve
start info 7792 RUST_LOG=info COSGATE_BIND=127.0.0.1:7792 DATABASE_URL="sqlite://$work/info.db" "$bin/cosgate" serve
start floor 7793 "$bin/examples/floor" 127.0.0.1:7793

token=$("$bin/cosgate" token --sub bench)
cat >"$work/v5.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"method":"PUT","key":"/uploads/bench/photo.jpg","query":{"partNumber":"1","uploadId":"1700000000abcdef"},"headers":{"Content-Length":"1048576","Content-MD5":"mQ/fVh815F3k6TAUm8m0eg==","Host":"examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"}}'
LUA
auth="Authorization: Bearer $token"
# One answer of each must be right before anything is timed; the ceiling
# answers those very bytes.
curl -fsS -o "$work/config.json" -H "$auth" http://127.0.0.1:7791/v1/qc_cos/config
curl -fsS -o "$work/authorization.json" -H "$auth" -H 'Content-Type: application/json' -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$work/v5.lua")" \
  http://127.0.0.1:7791/v1/qc_cos/authorization
start ceiling 7790 "$bin/examples/ceiling" 127.0.0.1:7790 "$work/config.json" "$work/authorization.json"
curl -fsS -o /dev/null -H "$auth" http://127.0.0.1:7793/v1/qc_cos/config

# name | url | extra wrk arguments
targets=(
  "ceiling GET|http://127.0.0.1:7790/v1/qc_cos/config|"
  "ceiling POST|http://127.0.0.1:7790/v1/qc_cos/authorization|-s $work/v5.lua"
  "floor GET|http://127.0.0.1:7793/v1/qc_cos/config|-H $auth"
  "floor POST|http://127.0.0.1:7793/v1/qc_cos/authorization|-s $work/v5.lua -H $auth"
  "cosgate /healthz|http://127.0.0.1:7791/healthz|"
  "cosgate v4 config|http://127.0.0.1:7791/v1/qc_cos/config|-H $auth"
  "cosgate v5 authorization|http://127.0.0.1:7791/v1/qc_cos/authorization|-s $work/v5.lua -H $auth"
  "cosgate v4 config, RUST_LOG=info|http://127.0.0.1:7792/v1/qc_cos/config|-H $auth"
)

run() { # duration target -> "rps p50_ms p99_ms errors"
  local IFS='|'; read -r _ url extra <<<"$2"
  local args=()
  if [[ $extra == *"-s "* ]]; then args+=(-s "${extra#*-s }"); args[1]=${args[1]%% -H*}; fi
  if [[ $extra == *"-H "* ]]; then args+=(-H "${extra#*-H }"); fi
  wrk -t1 -c"$CONNECTIONS" -d"$1" --latency "${args[@]}" "$url" >"$work/wrk.out"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { errors += $NF }
    /Socket errors/ { gsub(/[a-z ,:]+/, " "); split($0, e, " "); for (i in e) errors += e[i] }
    END { printf "%s %.3f %.3f %d\n", rps, p50, p99, errors + 0 }' "$work/wrk.out"
}

echo "warm-up: 2 s per target" >&2
for t in "${targets[@]}"; do run 2 "$t" >/dev/null; done
declare -A rps p50 p99 errs
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS: ${DURATION} s per target" >&2
  for t in "${targets[@]}"; do
    name=${t%%|*}
    read -r r a b e < <(run "$DURATION" "$t")
    rps[$name]="${rps[$name]:-} $r"; p50[$name]="${p50[$name]:-} $a"; p99[$name]="${p99[$name]:-} $b"
    errs[$name]=$(( ${errs[$name]:-0} + e ))
  done
done
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid_warn/status")
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid_warn/status")
rss_info_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid_info/status")

mean() { tr ' ' '\n' <<<"$1" | awk 'NF { s += $1; n++ } END { printf "%.0f", s / n }'; }
meanf() { tr ' ' '\n' <<<"$1" | awk 'NF { s += $1; n++ } END { printf "%.2f", s / n }'; }
ceil_get=$(mean "${rps[ceiling GET]}")
ceil_post=$(mean "${rps[ceiling POST]}")
floor_get=$(mean "${rps[floor GET]}")
floor_post=$(mean "${rps[floor POST]}")
warn_cfg=$(mean "${rps[cosgate v4 config]}")

printf '\nmachine: %s, %s cores, %s; load average before the table: %s\n' \
  "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" "$(uname -sr)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'wrk -t1 -c%s, %s round(s) of %s s per target after a 2 s warm-up; req/s and latencies are means over rounds\n\n' \
  "$CONNECTIONS" "$ROUNDS" "$DURATION"
printf '| target | req/s | p50 ms | p99 ms | errors | ratio |\n|---|---:|---:|---:|---:|---:|\n'
for t in "${targets[@]}"; do
  name=${t%%|*}
  r=$(mean "${rps[$name]}")
  case $name in
    "ceiling GET"|"ceiling POST") ratio="1.00× (ceiling)" ;;
    "floor GET") ratio=$(awk -v a="$r" -v b="$ceil_get" 'BEGIN { printf "%.2f× ceiling", a / b }') ;;
    "floor POST") ratio=$(awk -v a="$r" -v b="$ceil_post" 'BEGIN { printf "%.2f× ceiling", a / b }') ;;
    "cosgate v5 authorization") ratio=$(awk -v a="$r" -v b="$ceil_post" -v f="$floor_post" 'BEGIN { printf "%.2f× ceiling, %.2f× floor", a / b, a / f }') ;;
    *RUST_LOG=info) ratio=$(awk -v a="$r" -v b="$ceil_get" -v f="$floor_get" -v w="$warn_cfg" 'BEGIN { printf "%.2f× ceiling, %.2f× floor, %.2f× warn", a / b, a / f, a / w }') ;;
    "cosgate /healthz") ratio=$(awk -v a="$r" -v b="$ceil_get" 'BEGIN { printf "%.2f× ceiling GET", a / b }') ;;
    *) ratio=$(awk -v a="$r" -v b="$ceil_get" -v f="$floor_get" 'BEGIN { printf "%.2f× ceiling, %.2f× floor", a / b, a / f }') ;;
  esac
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$r" "$(meanf "${p50[$name]}")" "$(meanf "${p99[$name]}")" "${errs[$name]}" "$ratio"
done
printf '\ncosgate RSS after the load: %s MB (peak %s MB); with RUST_LOG=info: %s MB\n' \
  "$((rss_kb / 1024))" "$((hwm_kb / 1024))" "$((rss_info_kb / 1024))"
