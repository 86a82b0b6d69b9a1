#!/usr/bin/env bash
# RSS per idle connection of Gatehouse alone (the idle-cost rows of compare.sh, without the
# other proxies): N idle tunnels, then N idle keep-alive clients, each on a fresh proxy with
# Basic auth on, as compare.sh runs it. Loopback only; bounded (150 s per probe).
# Usage: bench/idle.sh [N] [rounds]   (default 2000, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
rounds=${2:-1}
[ -x build/gatehouse ] || tools/setup.sh
work=$(mktemp -d)
cleanup() {
  [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
htpasswd -cbm "$work/users" bench secret 2>/dev/null
for round in $(seq "$rounds"); do
  for mode in tunnel keepalive; do
    port=$(free_port)
    taskset -c 0 build/gatehouse --listen "127.0.0.1:$port" --workers 1 --access-log off \
      --ssrf-guard false --log-level error --auth-file "$work/users" --connect-ports '*' \
      --max-connections 100000 &
    proxy_pid=$!
    for _ in $(seq 100); do
      python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break
      sleep 0.05
    done
    line=$(timeout 150 python3 bench/idle_cost.py "$port" "$proxy_pid" "$n" "$mode" bench:secret 2>/dev/null | tail -1 || true)
    echo "round $round, $n idle $mode: $line"
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=
  done
done
