#!/usr/bin/env bash
# Interleaved A/B of two or more Gatehouse binaries, to tell a regression from machine noise:
# each round runs every binary once, in turn, against the same nginx origin, so slow drifts
# of the machine hit all of them alike. Per run: 1 KiB GETs through Basic auth (wrk -t1 -c64,
# 1 s warm-up, then DURATION s) and one 1 GiB CONNECT download with the proxy's CPU time.
# The proxy is pinned to CPU 0, nginx, wrk and curl to CPU 1, as in compare.sh. Loopback only;
# every run is bounded (wrk by its duration, curl by --max-time 120).
# Build an old binary with: git worktree add /tmp/old <commit> && cmake -S /tmp/old -B
# /tmp/old/build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build /tmp/old/build
# --target gatehouse
# Usage: bench/ab.sh ROUNDS BINARY... (DURATION=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/ab.sh ROUNDS BINARY..." >&2; exit 2; }
rounds=$1
shift
duration=${DURATION:-5}
work=$(mktemp -d)
proxy_pid=
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
. bench/origin.sh
start_origin
head -c 1073741824 /dev/zero > "$work/1g"
htpasswd -cbm "$work/users" bench secret 2>/dev/null
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$origin_port/1k" && break; done
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
binaries=("$@")
count=${#binaries[@]}
for round in $(seq "$rounds"); do
  # Each round starts with the next binary: no binary always runs first (or after another).
  for i in $(seq 0 $((count - 1))); do
    binary=${binaries[$(((i + round - 1) % count))]}
    port=$(free_port)
    guard=() # binaries from before the SSRF guard have no such flag
    "$binary" --help 2>/dev/null | grep -q -- --ssrf-guard && guard=(--ssrf-guard false)
    taskset -c 0 "$binary" --listen "127.0.0.1:$port" --workers 1 --access-log off "${guard[@]}" \
      --log-level error --auth-file "$work/users" --connect-ports '*' --max-connections 100000 &
    proxy_pid=$!
    for _ in $(seq 100); do
      curl -s -o /dev/null -U bench:secret -x "http://127.0.0.1:$port" "http://127.0.0.1:$origin_port/1k" && break
    done
    load() {
      taskset -c 1 wrk -t1 -c64 -d"$1" -s bench/proxy_target.lua "http://127.0.0.1:$port" -- \
        "http://127.0.0.1:$origin_port/1k" bench:secret
    }
    load 1s >/dev/null
    # Throughput moves with whatever else the machine does; the proxy's own CPU time per
    # request (user + system, from /proc) is the steadier measure of what the code costs.
    ticks=$(cpu_ticks "$proxy_pid")
    out=$(load "${duration}s")
    ticks=$(($(cpu_ticks "$proxy_pid") - ticks))
    rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    before=$(cpu_ticks "$proxy_pid")
    speed=$(taskset -c 1 curl -s --max-time 120 -p -U bench:secret -x "http://127.0.0.1:$port" -o /dev/null \
      -w '%{speed_download}' "http://127.0.0.1:$origin_port/1g")
    after=$(cpu_ticks "$proxy_pid")
    kill "$proxy_pid"
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=
    printf "round %d  %-36s 1 KiB %9s req/s %6.1f us CPU/req   CONNECT %7.1f MiB/s %5.2f CPU s/GiB\n" \
      "$round" "$binary" "$rps" "$(awk -v t="$ticks" -v n="$requests" 'BEGIN { print t * 10000 / n }')" \
      "$(awk -v s="$speed" 'BEGIN { print s / 1048576 }')" \
      "$(awk -v a="$before" -v b="$after" 'BEGIN { print (b - a) / 100 }')"
  done
done
