#!/usr/bin/env bash
# Requests per second through Gatehouse against the same nginx origin directly, on loopback,
# through Gatehouse with Basic authentication against a bcrypt user, and through Gatehouse
# asking Squid's basic_ncsa_auth helper (package squid) about the same user.
# Bounded: each wrk run lasts DURATION seconds (default 5). Installs nginx and wrk if missing.
# The proxy is pinned to CPU 0 and nginx and wrk to CPU 1 (taskset), as in issue 7's setup.
# Usage: bench/http_rps.sh [connections] [duration-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-64}
duration=${2:-5}

for p in nginx-light wrk; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$p" >/dev/null
  fi
done
[ -x build/gatehouse ] || tools/setup.sh

work=$(mktemp -d)
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null || true
  [ -n "${auth_pid:-}" ] && kill "$auth_pid" 2>/dev/null || true
  [ -n "${helper_pid:-}" ] && kill "$helper_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

. bench/origin.sh
proxy_port=$(free_port)
start_origin
htpasswd -cbB "$work/users" bench 'bench:secret' 2>/dev/null
auth_port=$(free_port)
taskset -c 0 build/gatehouse --listen "127.0.0.1:$proxy_port" --workers 1 --access-log off --ssrf-guard false --log-level error &
proxy_pid=$!
taskset -c 0 build/gatehouse --listen "127.0.0.1:$auth_port" --workers 1 --access-log off --ssrf-guard false --log-level error \
  --auth-file "$work/users" &
auth_pid=$!
helper_port=$(free_port)
helper=/usr/lib/squid/basic_ncsa_auth
[ -x "$helper" ] || { echo "bench: $helper missing (apt-get install squid)" >&2; exit 1; }
taskset -c 0 build/gatehouse --listen "127.0.0.1:$helper_port" --workers 1 --access-log off --ssrf-guard false \
  --log-level error --auth-helper "$helper" --auth-helper "$work/users" &
helper_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$origin_port/1k" && break; done
for _ in $(seq 50); do curl -s -o /dev/null -x "http://127.0.0.1:$proxy_port" "http://127.0.0.1:$origin_port/1k" && break; done
for _ in $(seq 50); do curl -s -o /dev/null -x "http://127.0.0.1:$auth_port" "http://127.0.0.1:$origin_port/1k" && break; done
for _ in $(seq 50); do curl -s -o /dev/null -x "http://127.0.0.1:$helper_port" "http://127.0.0.1:$origin_port/1k" && break; done

rps() { awk '/Requests\/sec/ {print $2}'; }
load() { taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" "$@"; }
# Warm-up (not measured): fills the upstream pools and the auth cache, as steady traffic would.
for port in "$proxy_port" "$auth_port" "$helper_port"; do
  taskset -c 1 wrk -t1 -c"$connections" -d1s -s bench/proxy_target.lua "http://127.0.0.1:$port" -- \
    "http://127.0.0.1:$origin_port/1k" "bench:bench:secret" >/dev/null
done
direct=$(load "http://127.0.0.1:$origin_port/1k" | tee "$work/direct.txt" | rps)
proxied=$(load -s bench/proxy_target.lua "http://127.0.0.1:$proxy_port" -- \
  "http://127.0.0.1:$origin_port/1k" | tee "$work/proxy.txt" | rps)
authed=$(load -s bench/proxy_target.lua "http://127.0.0.1:$auth_port" -- \
  "http://127.0.0.1:$origin_port/1k" "bench:bench:secret" | tee "$work/auth.txt" | rps)
helped=$(load -s bench/proxy_target.lua "http://127.0.0.1:$helper_port" -- \
  "http://127.0.0.1:$origin_port/1k" "bench:bench:secret" | tee "$work/helper.txt" | rps)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "machine: $(nproc) cores, $(uname -r)"
echo "1 KiB GET, $connections keep-alive connections, ${duration}s each (wrk -t1; proxy on CPU 0)"
printf "%-22s %12s %8s\n" "" "requests/s" "ratio"
printf "%-22s %12s %8s\n" "direct" "$direct" "1.00"
printf "%-22s %12s %8s\n" "gatehouse" "$proxied" "$(ratio "$proxied" "$direct")"
printf "%-22s %12s %8s   (auth/no-auth %s)\n" "gatehouse+bcrypt auth" "$authed" \
  "$(ratio "$authed" "$direct")" "$(ratio "$authed" "$proxied")"
printf "%-22s %12s %8s   (helper/no-auth %s)\n" "gatehouse+ncsa helper" "$helped" \
  "$(ratio "$helped" "$direct")" "$(ratio "$helped" "$proxied")"
grep -HE "Non-2xx|Socket errors" "$work"/*.txt || true
