#!/usr/bin/env bash
# Two cosgate binaries on the same route, side by side: A and B served at
# once, loaded in alternated rounds (A B, B A, …) so that the machine's
# drift falls on both; prints each pair's B/A ratio and their median. For
# a change too small for bench/http.sh's run-to-run noise.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [PATH]     # PATH=/v1/qc_cos/config
#   ROUNDS=8 DURATION=5 bench/ab.sh …
#   B_ENV=RUST_LOG=info bench/ab.sh BIN BIN      # one binary, two settings
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 route=${3:-/v1/qc_cos/config}
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-5}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
export COSGATE_ENV=development RUST_LOG=warn LOCAL_COS=false RATE_LIMIT_SIGN_PER_MIN=0 \
  RATE_LIMIT_LOGIN_PER_MIN=0 RATE_LIMIT_PARTS_PER_MIN=0 \
  JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 QCOS_APPID=1250000000 \
  QCOS_SECRET_ID=AKIDEXAMPLE QCOS_SECRET_KEY=bench-secret-key QCOS_BUCKET_NAME=examplebucket \
  QCOS_REGION=ap-guangzhou WXAPP_ID=wx0000000000000000 WXAPP_SECRET=bench
for side in a b; do
  port=$([[ $side == a ]] && echo 7801 || echo 7802)
  extra=$([[ $side == a ]] && echo "${A_ENV:-}" || echo "${B_ENV:-}")
  # shellcheck disable=SC2086 # A_ENV and B_ENV are lists of NAME=value
  env $extra COSGATE_BIND=127.0.0.1:$port DATABASE_URL="sqlite://$work/$side.db" "${!side}" serve >"$work/$side.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
auth="Authorization: Bearer $("$a" token --sub bench)"
rps() { wrk -t1 -c64 -d"$2" -H "$auth" "http://127.0.0.1:$1$route" | awk '/Requests\/sec/ {print $2}'; }
rps 7801 2 >/dev/null; rps 7802 2 >/dev/null
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then ra=$(rps 7801 "$DURATION"); rb=$(rps 7802 "$DURATION")
  else rb=$(rps 7802 "$DURATION"); ra=$(rps 7801 "$DURATION"); fi
  ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.3f", b / a }')
  ratios+=("$ratio")
  printf 'round %s: A %s req/s, B %s req/s, B/A %s\n' "$round" "$ra" "$rb" "$ratio"
done
printf 'median B/A over %s rounds: %s\n' "$ROUNDS" \
  "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
