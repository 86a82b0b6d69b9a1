#!/usr/bin/env bash
# What a 100,000-entry host list costs a forwarding proxy: requests/s through Gatehouse with
# no rules and with a deny rule over a generated 100,000-line hosts_file (the request's host is
# not in it, so every request is looked up and allowed), rounds alternating so drift in the
# machine's load hits both alike. Loopback only; every run bounded.
# Usage: bench/policy_rps.sh [connections] [seconds] [rounds]   (default 64, 5, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-64}
duration=${2:-5}
rounds=${3:-3}
[ -x build/gatehouse ] || tools/setup.sh

work=$(mktemp -d)
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for pid in ${plain_pid:-} ${rules_pid:-}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
. bench/origin.sh
start_origin
python3 -c "
with open('$work/blocklist.txt', 'w') as f:
    for i in range(100000):
        f.write('*.tracker%d.example\n' % i)
"
cat > "$work/rules.toml" <<CONF
[[rule]]
name = "blocklist"
action = "deny"
hosts_file = "$work/blocklist.txt"
CONF
plain_port=$(free_port)
rules_port=$(free_port)
common=(--workers 1 --access-log off --ssrf-guard false --log-level error)
taskset -c 0 build/gatehouse --listen "127.0.0.1:$plain_port" "${common[@]}" &
plain_pid=$!
taskset -c 0 build/gatehouse --config "$work/rules.toml" --listen "127.0.0.1:$rules_port" \
  "${common[@]}" &
rules_pid=$!
for port in "$plain_port" "$rules_port"; do
  for _ in $(seq 100); do
    curl -s -o /dev/null -x "http://127.0.0.1:$port" "http://127.0.0.1:$origin_port/1k" && break
    sleep 0.05
  done
done
rps() { awk '/Requests\/sec/ {print $2}'; }
load() {
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" -s bench/proxy_target.lua \
    "http://127.0.0.1:$1" -- "http://127.0.0.1:$origin_port/1k" | rps
}
load "$plain_port" >/dev/null # warm-up
load "$rules_port" >/dev/null
sum_plain=0
sum_rules=0
for round in $(seq "$rounds"); do
  p=$(load "$plain_port")
  r=$(load "$rules_port")
  echo "round $round: no rules $p req/s, 100,000-entry hosts_file $r req/s"
  sum_plain=$(python3 -c "print($sum_plain + $p)")
  sum_rules=$(python3 -c "print($sum_rules + $r)")
done
python3 -c "print('with the 100,000-entry list: %.3f of no rules (%d rounds of ${duration}s)' % ($sum_rules / $sum_plain, $rounds))"
