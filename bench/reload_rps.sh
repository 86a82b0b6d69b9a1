#!/usr/bin/env bash
# Reloading must not stall the loops or lose requests: wrk through Gatehouse for N seconds
# without reloads, then N seconds with a SIGHUP every second (the configuration re-read off the
# loop each time, with a 100,000-user file), rounds alternating. Prints requests/s, p99 and
# errors (socket errors and non-2xx) for both, and the p99 ratio. Loopback only; bounded.
# Usage: bench/reload_rps.sh [connections] [seconds] [rounds]   (default 64, 10, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-64}
duration=${2:-10}
rounds=${3:-2}
[ -x build/gatehouse ] || tools/setup.sh

work=$(mktemp -d)
cleanup() {
  [ -n "${hup_pid:-}" ] && kill "$hup_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
. bench/origin.sh
proxy_port=$(free_port)
start_origin
# 100,000 users ({SHA}, fast to check): the file a reload re-reads.
python3 -c "
import base64, hashlib
h = base64.b64encode(hashlib.sha1(b'secret').digest()).decode()
with open('$work/users', 'w') as f:
    for i in range(100000):
        f.write('user%d:{SHA}%s\n' % (i, h))
"
cat > "$work/gatehouse.toml" <<CONF
listen = ["127.0.0.1:$proxy_port"]
workers = 1
access_log = "off"
log_level = "warn"
ssrf_guard = false
auth_file = "$work/users"
CONF
taskset -c 0 build/gatehouse --config "$work/gatehouse.toml" &
proxy_pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null -U user7:secret -x "http://127.0.0.1:$proxy_port" \
    "http://127.0.0.1:$origin_port/1k" && break
  sleep 0.05
done
run() {
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency -s bench/proxy_target.lua \
    "http://127.0.0.1:$proxy_port" -- "http://127.0.0.1:$origin_port/1k" "user7:secret" \
    > "$work/wrk.txt"
  [ -n "${WRK_SHOW:-}" ] && grep -A5 "Latency Distribution" "$work/wrk.txt" >&2
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Socket errors/ {e = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) e += $i; print e}' "$work/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
  echo "$rps ${p99:-?} ${errors:-0} ${non2xx:-0}"
}
ms() { python3 -c "v='$1'; print(float(v[:-2]) if v.endswith('ms') else float(v[:-2])/1000 if v.endswith('us') else float(v[:-1])*1000)"; }
run >/dev/null # warm-up
quiet_p99=0
busy_p99=0
for round in $(seq "$rounds"); do
  read -r rps p99 errors non2xx < <(run)
  echo "round $round, no reloads:    $rps req/s, p99 $p99, errors $errors, non-2xx $non2xx"
  quiet_p99=$(python3 -c "print($quiet_p99 + $(ms "$p99"))")
  ( while kill -HUP "$proxy_pid" 2>/dev/null; do sleep 1; done ) &
  hup_pid=$!
  read -r rps p99 errors non2xx < <(run)
  kill "$hup_pid" 2>/dev/null || true
  wait "$hup_pid" 2>/dev/null || true
  hup_pid=
  echo "round $round, SIGHUP every 1 s: $rps req/s, p99 $p99, errors $errors, non-2xx $non2xx"
  busy_p99=$(python3 -c "print($busy_p99 + $(ms "$p99"))")
done
python3 -c "print('p99 with reloads / without: %.2f' % ($busy_p99 / $quiet_p99))"
