#!/usr/bin/env bash
# The upload operations under load: sessions created, their bodies PUT,
# then each completed (cosgate asks COS for the object before it records
# it). COS is the development one cosgate serves itself (LOCAL_COS=true: it
# checks every signature, stores the bytes on disk and answers the HEAD of
# a completion), so it shares the machine and the process; the store is a
# SQLite file, and PostgreSQL too when BENCH_POSTGRES_URL names an empty
# database. Builds release binaries of cosgate and examples/upload_load.rs,
# which is the load (one virtual user per account, USERS at once). Prints
# one table: per phase and store, requests/s, p50, p99, errors, and the
# store operations each create and complete took (from cosgate's /metrics).
#
#   bench/uploads.sh                   # COUNT=4000 USERS=32 SIZE=1024
#   BENCH_POSTGRES_URL=postgres://postgres:postgres@127.0.0.1/bench bench/uploads.sh
#   COSGATE=/path/to/an/older/cosgate bench/uploads.sh   # before/after
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-4000}
USERS=${USERS:-32}
SIZE=${SIZE:-1024}
PORT=${PORT:-7795}

cargo build --release --quiet --bin cosgate --example upload_load
bin=target/release
cosgate=${COSGATE:-$bin/cosgate}
work=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

export COSGATE_ENV=development RUST_LOG=warn LOCAL_COS=true \
  RATE_LIMIT_SIGN_PER_MIN=0 RATE_LIMIT_LOGIN_PER_MIN=0 RATE_LIMIT_PARTS_PER_MIN=0 \
  JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 COSGATE_BIND=127.0.0.1:$PORT

stores=("sqlite|sqlite://$work/bench.db")
if [[ -n ${BENCH_POSTGRES_URL:-} ]]; then stores+=("postgres|$BENCH_POSTGRES_URL"); fi

for i in $(seq 1 "$USERS"); do "$cosgate" token --sub "bench$i"; done >"$work/tokens"

results=()
for entry in "${stores[@]}"; do
  name=${entry%%|*}
  DATABASE_URL=${entry#*|} LOCAL_COS_DIR="$work/cos-$name" "$cosgate" serve >"$work/$name.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
    sleep 0.1
  done
  echo "$name: $COUNT uploads of $SIZE bytes, $USERS users at once" >&2
  "$bin/examples/upload_load" "http://127.0.0.1:$PORT" "$work/tokens" "$COUNT" "$SIZE" >"$work/$name.out"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  while read -r phase rest; do results+=("$name $phase $rest"); done <"$work/$name.out"
done

printf '\nmachine: %s, %s cores, %s; load average: %s\n' \
  "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" "$(uname -sr)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s uploads of %s bytes, %s users at once; COS: cosgate'"'"'s development COS (same process)\n\n' "$COUNT" "$SIZE" "$USERS"
printf '| store | phase | req/s | p50 ms | p99 ms | errors | store operations per request |\n|---|---|---:|---:|---:|---:|---|\n'
for line in "${results[@]}"; do
  read -r store phase count seconds rps p50 p99 errors <<<"$line"
  [[ $phase == store ]] && continue
  ops=$(printf '%s\n' "${results[@]}" | awk -v s="$store" -v p="$phase" '$1 == s && $2 == "store" && $3 == p {print $4}')
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$store" "$phase" "$rps" "$p50" "$p99" "$errors" "${ops:-(not cosgate)}"
done
