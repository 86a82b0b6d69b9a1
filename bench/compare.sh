#!/usr/bin/env bash
# Side-by-side benchmark of Gatehouse, Squid, tinyproxy and Apache mod_proxy (issue 7).
# Loopback only, every run bounded in time. Each proxy runs with Basic auth (one user with an
# Apache-MD5 hash, which every one of them reads; plain text for tinyproxy, which has no
# hashes; Apache verifies on every request, the others cache), no caching and access logs
# off, pinned to CPU 0;
# nginx (the origin), wrk and curl run on CPU 1. Prints one table per scenario with each
# figure's ratio to direct, writes bench/results/latest.{json,md} and draws latest.png.
# The origin is on loopback, which the SSRF guard refuses when auth is on: it is off here.
# Usage: bench/compare.sh [seconds-per-http-run]   (default 5; the whole run takes ~10 min)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}

# ---- installation (Debian packages only; services are not started) ---------------------------
need=()
for p in nginx-light wrk squid tinyproxy apache2 apache2-utils gnuplot-nox curl python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Keep package scripts from starting system-wide squid/apache/tinyproxy services.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  $sudo rm -f /usr/sbin/policy-rc.d
fi
[ -x build/gatehouse ] || tools/setup.sh

work=$(mktemp -d /tmp/gatehouse-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for p in "${!main_pid[@]}"; do kill "${main_pid[$p]}" 2>/dev/null || true; done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
user=bench; pass=secret

# ---- origin --------------------------------------------------------------------------------
origin=$(free_port)
mkdir -p "$work/www" && chmod 755 "$work/www"
head -c 1024 /dev/zero | tr '\0' 'x' > "$work/www/1k"
head -c 65536 /dev/zero | tr '\0' 'x' > "$work/www/64k"
# Real bytes, not sparse files: nginx's sendfile of holes is slow and made "direct" look slower
# than any proxy in an earlier version of this script.
head -c 1073741824 /dev/zero > "$work/www/1g"
head -c 104857600 /dev/zero > "$work/www/100m"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 20000; }
http {
  log_format conn '\$connection';
  access_log $work/origin-access.log conn;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  sendfile on;
  client_body_temp_path $work;
  server { listen 127.0.0.1:$origin backlog=4096; root $work/www; }
}
CONF
taskset -c 1 nginx -c "$work/nginx.conf"

# ---- the proxies ---------------------------------------------------------------------------
htpasswd -cbm "$work/users" "$user" "$pass" 2>/dev/null
htpasswd -cbB "$work/users-bcrypt" "$user" "$pass" 2>/dev/null
chmod 644 "$work/users" "$work/users-bcrypt"
declare -A port
declare -A main_pid
# Each proxy is started by a function so the idle-cost scenario can restart it fresh: an
# allocator keeps freed memory, so RSS growth is only meaningful from a new process.
start_gatehouse() {
  taskset -c 0 build/gatehouse --listen "127.0.0.1:${port[gatehouse]}" --workers 1 --access-log off --ssrf-guard false \
    --log-level error --auth-file "$work/users" --connect-ports '*' --max-connections 100000 &
  main_pid[gatehouse]=$!
}
start_squid() {
  rm -f "$work/squid/squid.pid"
  taskset -c 0 squid -N -f "$work/squid.conf" &
  main_pid[squid]=$!
}
start_tinyproxy() {
  taskset -c 0 tinyproxy -d -c "$work/tinyproxy.conf" &
  main_pid[tinyproxy]=$!
}
start_apache() {
  taskset -c 0 apache2 -f "$work/apache.conf" -DFOREGROUND &
  main_pid[apache]=$!
}
wait_ready() { # proxy: returns once an authenticated request goes through
  for _ in $(seq 100); do
    if curl -s -o /dev/null -U "$user:$pass" -x "http://127.0.0.1:${port[$1]}" "http://127.0.0.1:$origin/1k"; then
      return 0
    fi
    sleep 0.1
  done
  echo "compare: $1 did not start" >&2
  exit 1
}
stop_proxy() {
  kill "${main_pid[$1]}" 2>/dev/null || true
  wait "${main_pid[$1]}" 2>/dev/null || true
  for _ in $(seq 50); do # wait for the port to be free (apache and squid take a moment)
    python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${port[$1]}))" 2>/dev/null && return 0
    sleep 0.2
  done
}
for p in gatehouse squid tinyproxy apache; do port[$p]=$(free_port); done

mkdir -p "$work/squid" && chmod 777 "$work/squid"
cat > "$work/squid.conf" <<CONF
http_port 127.0.0.1:${port[squid]}
pid_filename $work/squid/squid.pid
cache deny all
cache_mem 8 MB
access_log none
cache_store_log none
cache_log $work/squid/cache.log
coredump_dir $work/squid
max_filedescriptors 20000
auth_param basic program /usr/lib/squid/basic_ncsa_auth $work/users
auth_param basic children 5
auth_param basic credentialsttl 5 minutes
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
via on
forwarded_for delete
CONF

cat > "$work/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port ${port[tinyproxy]}
Listen 127.0.0.1
Timeout 600
MaxClients 20000
LogLevel Critical
BasicAuth $user $pass
CONF

mods=/usr/lib/apache2/modules
cat > "$work/apache.conf" <<CONF
ServerRoot $work
ServerName localhost
Listen 127.0.0.1:${port[apache]}
PidFile $work/apache.pid
ErrorLog $work/apache-error.log
LogLevel crit
User www-data
Group www-data
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authn_file_module $mods/mod_authn_file.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule auth_basic_module $mods/mod_auth_basic.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
LoadModule proxy_connect_module $mods/mod_proxy_connect.so
ServerLimit 4
ThreadsPerChild 64
MaxRequestWorkers 256
ProxyRequests On
ProxyVia On
AllowCONNECT 1-65535
<Proxy "*">
  AuthType Basic
  AuthName "bench"
  AuthBasicProvider file
  AuthUserFile $work/users
  Require valid-user
</Proxy>
CONF

proxies=(gatehouse squid tinyproxy apache)
for p in "${proxies[@]}"; do
  "start_$p"
  wait_ready "$p"
done
echo "all proxies answer (ports: gatehouse ${port[gatehouse]}, squid ${port[squid]}, tinyproxy ${port[tinyproxy]}, apache ${port[apache]})"

gh_open=$(free_port)   # Gatehouse without auth and with a bcrypt user, for the auth cost
taskset -c 0 build/gatehouse --listen "127.0.0.1:$gh_open" --workers 1 --access-log off --ssrf-guard false \
  --log-level error --connect-ports '*' &
pids+=($!)
gh_bcrypt=$(free_port)
taskset -c 0 build/gatehouse --listen "127.0.0.1:$gh_bcrypt" --workers 1 --access-log off --ssrf-guard false \
  --log-level error --connect-ports '*' --auth-file "$work/users-bcrypt" &
pids+=($!)
gh_copy=$(free_port)   # Gatehouse with splice off, to show what splicing gains
taskset -c 0 build/gatehouse --listen "127.0.0.1:$gh_copy" --workers 1 --access-log off --ssrf-guard false \
  --log-level error --connect-ports '*' --auth-file "$work/users" --splice false &
gh_copy_pid=$!
pids+=($!)
for p in "$gh_open" "$gh_bcrypt" "$gh_copy"; do
  for _ in $(seq 50); do curl -s -o /dev/null -U "$user:$pass" -x "http://127.0.0.1:$p" "http://127.0.0.1:$origin/1k" && break; sleep 0.1; done
done

mkdir -p bench/results
json=bench/results/latest.json
md=bench/results/latest.md
machine="$(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), Linux $(uname -r)"
echo "{\"machine\": \"$machine\", \"date\": \"$(date -u +%FT%TZ)\", \"results\": [" > "$json"
first=1
record() { # scenario proxy value unit ratio [extra-json]
  [ -n "$first" ] || echo "," >> "$json"
  first=""
  printf '  {"scenario": "%s", "proxy": "%s", "value": %s, "unit": "%s", "ratio": %s%s}' \
    "$1" "$2" "$3" "$4" "$5" "${6:+, $6}" >> "$json"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "0" }'; }
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }'; }
{
  echo "# Gatehouse side by side"
  echo
  echo "Machine: $machine. Proxies pinned to CPU 0; nginx, wrk and curl on CPU 1. Basic auth on"
  echo "(one Apache-MD5 user; tinyproxy: plain), no caching, access logs off. Ratios are to direct,"
  echo "same run. Direct CONNECT runs curl and nginx on CPU 1 as proxied runs do; \"direct, 2 cores\""
  echo "moves curl to CPU 0 (the loopback limit, for reference)."
  echo
} > "$md"

# ---- 1. HTTP forwarding ----------------------------------------------------------------------
wrk_run() { # port(empty: direct) path -> "rps p50 p99 errors"
  local out
  if [ -z "$1" ]; then
    out=$(taskset -c 1 wrk -t1 -c64 -d"${duration}s" --latency "http://127.0.0.1:$origin/$2")
  else
    out=$(taskset -c 1 wrk -t1 -c64 -d"${duration}s" --latency -s bench/proxy_target.lua \
      "http://127.0.0.1:$1" -- "http://127.0.0.1:$origin/$2" "$user:$pass")
  fi
  local rps p50 p99 errs
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}' | to_ms)
  errs=$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}')
  echo "$rps $p50 $p99 $errs"
}
for size in 1k 64k; do
  echo "## HTTP forwarding, $size bodies, 64 keep-alive connections, ${duration}s" | tee -a "$md"
  printf '| %-10s | %12s | %6s | %8s | %8s | %6s |\n|---|---:|---:|---:|---:|---:|\n' proxy "requests/s" ratio "p50 ms" "p99 ms" errors | tee -a "$md"
  read -r d_rps d_p50 d_p99 d_err < <(wrk_run "" "$size")
  printf '| %-10s | %12s | %6s | %8s | %8s | %6s |\n' direct "$d_rps" 1.00 "$d_p50" "$d_p99" "$d_err" | tee -a "$md"
  record "http_$size" direct "$d_rps" "req/s" 1.00 "\"p50_ms\": $d_p50, \"p99_ms\": $d_p99, \"errors\": $d_err"
  for p in "${proxies[@]}"; do
    wrk_run "${port[$p]}" "$size" >/dev/null # warm-up: pools, auth caches
    read -r rps p50 p99 err < <(wrk_run "${port[$p]}" "$size")
    r=$(ratio "$rps" "$d_rps")
    printf '| %-10s | %12s | %6s | %8s | %8s | %6s |\n' "$p" "$rps" "$r" "$p50" "$p99" "$err" | tee -a "$md"
    record "http_$size" "$p" "$rps" "req/s" "$r" "\"p50_ms\": $p50, \"p99_ms\": $p99, \"errors\": $err"
  done
  echo | tee -a "$md"
done

# ---- 2. CONNECT throughput ---------------------------------------------------------------------
# As in the HTTP runs, "direct" has curl and nginx on CPU 1, the cores a proxied run leaves them;
# the ratio is then what putting the proxy in the path costs. A second direct row, curl on
# CPU 0, shows the machine's loopback limit with client and origin on a core each (no proxy run
# can reach it: there curl and nginx share CPU 1).
curl_speed() { # proxy-port(empty: direct) path [cpu for direct] -> bytes/s
  if [ -z "$1" ]; then
    taskset -c "${3:-1}" curl -s --max-time 120 -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$origin/$2"
  else
    taskset -c 1 curl -s --max-time 120 -p -U "$user:$pass" -x "http://127.0.0.1:$1" -o /dev/null \
      -w '%{speed_download}' "http://127.0.0.1:$origin/$2"
  fi
}
parallel_speed() { # proxy-port(empty: direct) [cpu for direct] -> MiB/s for 100 tunnels x 100 MiB
  local urls=() start end
  for i in $(seq 100); do urls+=("http://127.0.0.1:$origin/100m?$i" -o /dev/null); done
  start=$(date +%s.%N)
  if [ -z "$1" ]; then
    taskset -c "${2:-1}" curl -s --max-time 180 -Z --parallel-max 100 "${urls[@]}" 2>/dev/null || true
  else
    taskset -c 1 curl -s --max-time 180 -Z --parallel-max 100 -p -U "$user:$pass" \
      -x "http://127.0.0.1:$1" "${urls[@]}" 2>/dev/null || true
  fi
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", 100 * 100 / (e - s) }'
}
pids_of() { # proxy -> comma-separated pids whose RSS and CPU time are counted
  case "$1" in
    gatehouse) echo "${main_pid[gatehouse]}" ;;
    squid) pgrep -f "squid -N -f $work" | paste -sd, ;;
    tinyproxy) pgrep -f "tinyproxy -d -c $work" | paste -sd, ;;
    apache) pgrep -f "apache2 -f $work" | paste -sd, ;;
  esac
}
cpu_ticks() { # proxy -> user+system clock ticks of its processes so far
  local total=0 pid
  for pid in $(pids_of "$1" | tr , ' '); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
echo "## CONNECT throughput" | tee -a "$md"
printf '| %-10s | %14s | %6s | %16s | %6s | %16s |\n|---|---:|---:|---:|---:|---:|\n' proxy "1 GiB MiB/s" ratio "100 tunnels MiB/s" ratio "proxy CPU s/GiB" | tee -a "$md"
d_single=$(awk -v b="$(curl_speed "" 1g)" 'BEGIN { printf "%.1f", b / 1048576 }')
d_par=$(parallel_speed "")
printf '| %-10s | %14s | %6s | %16s | %6s | %16s |\n' direct "$d_single" 1.00 "$d_par" 1.00 "" | tee -a "$md"
record connect_single direct "$d_single" "MiB/s" 1.00
record connect_100 direct "$d_par" "MiB/s" 1.00
d2_single=$(awk -v b="$(curl_speed "" 1g 0)" 'BEGIN { printf "%.1f", b / 1048576 }')
d2_par=$(parallel_speed "" 0)
printf '| %-10s | %14s | %6s | %16s | %6s | %16s |\n' "direct, 2 cores" "$d2_single" "$(ratio "$d2_single" "$d_single")" "$d2_par" "$(ratio "$d2_par" "$d_par")" "" | tee -a "$md"
record connect_single direct_2cores "$d2_single" "MiB/s" "$(ratio "$d2_single" "$d_single")"
record connect_100 direct_2cores "$d2_par" "MiB/s" "$(ratio "$d2_par" "$d_par")"
for p in "${proxies[@]}"; do
  # CPU the proxy spends per GiB relayed: what the tunnel costs, whatever the cores around it.
  ticks0=$(cpu_ticks "$p")
  single=$(awk -v b="$(curl_speed "${port[$p]}" 1g)" 'BEGIN { printf "%.1f", b / 1048576 }')
  ticks1=$(cpu_ticks "$p")
  cpu=$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  par=$(parallel_speed "${port[$p]}")
  printf '| %-10s | %14s | %6s | %16s | %6s | %16s |\n' "$p" "$single" "$(ratio "$single" "$d_single")" "$par" "$(ratio "$par" "$d_par")" "$cpu" | tee -a "$md"
  record connect_single "$p" "$single" "MiB/s" "$(ratio "$single" "$d_single")" "\"proxy_cpu_s_per_gib\": $cpu"
  record connect_100 "$p" "$par" "MiB/s" "$(ratio "$par" "$d_par")" "\"of_single\": $(ratio "$par" "$single")"
done
ticks0=$(awk '{ print $14 + $15 }' "/proc/$gh_copy_pid/stat")
single=$(awk -v b="$(curl_speed "$gh_copy" 1g)" 'BEGIN { printf "%.1f", b / 1048576 }')
ticks1=$(awk '{ print $14 + $15 }' "/proc/$gh_copy_pid/stat")
cpu=$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
printf '| %-10s | %14s | %6s | %16s | %6s | %16s |\n' "gatehouse, splice off" "$single" "$(ratio "$single" "$d_single")" "" "" "$cpu" | tee -a "$md"
record connect_single gatehouse_copy "$single" "MiB/s" "$(ratio "$single" "$d_single")" "\"proxy_cpu_s_per_gib\": $cpu"
echo | tee -a "$md"

# ---- 3. Idle cost --------------------------------------------------------------------------
echo "## Idle cost (RSS growth per idle connection)" | tee -a "$md"
printf '| %-10s | %-30s | %-30s | %-30s |\n|---|---|---|---|\n' proxy "2,000 tunnels" "9,000 tunnels" "2,000 keep-alive clients" | tee -a "$md"
for p in "${proxies[@]}"; do
  row=()
  for spec in "2000 tunnel" "9000 tunnel" "2000 keepalive"; do
    set -- $spec
    stop_proxy "$p"
    "start_$p"
    wait_ready "$p"
    line=$(timeout 150 python3 bench/idle_cost.py "${port[$p]}" "$(pids_of "$p")" "$1" "$2" "$user:$pass" 2>/dev/null | tail -1 || true)
    per=$(echo "$line" | sed -n 's/.* \([0-9.]*\) KiB each/\1/p')
    opened=$(echo "$line" | sed -n 's/^[a-z]*: \([0-9]*\) idle.*/\1/p')
    errs=$(echo "$line" | sed -n 's/.*idle, \([0-9]*\) errors.*/\1/p')
    row+=("${per:-?} KiB (${opened:-0} open, ${errs:-?} errors)")
    record "idle_$2_$1" "$p" "${per:-0}" "KiB" 0 "\"opened\": ${opened:-0}, \"errors\": ${errs:-0}"
  done
  printf '| %-10s | %-30s | %-30s | %-30s |\n' "$p" "${row[@]}" | tee -a "$md"
done
echo | tee -a "$md"

# ---- 4. Auth cost ----------------------------------------------------------------------------
echo "## Auth cost (Gatehouse with a bcrypt user against no auth, 1 KiB)" | tee -a "$md"
wrk_run "$gh_open" 1k >/dev/null
wrk_run "$gh_bcrypt" 1k >/dev/null
read -r open_rps _ < <(wrk_run "$gh_open" 1k)
read -r auth_rps _ < <(wrk_run "$gh_bcrypt" 1k)
echo "without auth $open_rps req/s, bcrypt user $auth_rps req/s: ratio $(ratio "$auth_rps" "$open_rps")" | tee -a "$md"
record auth_cost gatehouse "$auth_rps" "req/s" "$(ratio "$auth_rps" "$open_rps")" "\"without_auth\": $open_rps"
echo | tee -a "$md"

# ---- 5. Upstream reuse -----------------------------------------------------------------------
echo "## Upstream connections opened per 1,000 proxied requests (ab -n 1000 -c 10 -k)" | tee -a "$md"
for p in "${proxies[@]}"; do
  before=$(wc -l < "$work/origin-access.log")
  taskset -c 1 ab -q -n 1000 -c 10 -k -X "127.0.0.1:${port[$p]}" -P "$user:$pass" \
    "http://127.0.0.1:$origin/1k" >/dev/null 2>&1 || true
  conns=$(tail -n +"$((before + 1))" "$work/origin-access.log" | sort -u | wc -l)
  reqs=$(( $(wc -l < "$work/origin-access.log") - before ))
  echo "$p: $conns connections for $reqs requests" | tee -a "$md"
  record upstream_reuse "$p" "$conns" "connections" 0 "\"requests\": $reqs"
done
echo "]}" >> "$json"

# ---- chart -----------------------------------------------------------------------------------
python3 - "$json" "$work/chart.dat" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["results"]
rows = {}
for r in data:
    if r["scenario"] in ("http_1k", "http_64k", "connect_single", "connect_100") and r["proxy"] != "direct":
        rows.setdefault(r["proxy"], {})[r["scenario"]] = r["ratio"]
with open(sys.argv[2], "w") as f:
    f.write("proxy http_1k http_64k connect_single connect_100\n")
    for proxy in ("gatehouse", "squid", "tinyproxy", "apache"):
        v = rows.get(proxy, {})
        f.write(f"{proxy} {v.get('http_1k', 0)} {v.get('http_64k', 0)} {v.get('connect_single', 0)} {v.get('connect_100', 0)}\n")
PY
gnuplot <<GP
set terminal pngcairo size 900,480 font "sans,10"
set output "bench/results/latest.png"
set title "Throughput as a fraction of direct (higher is better)\n$machine"
set style data histograms
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set yrange [0:*]
set key outside bottom center horizontal
set grid ytics
plot "$work/chart.dat" every ::1 using 2:xtic(1) title "HTTP 1 KiB", '' every ::1 using 3 title "HTTP 64 KiB", \
     '' every ::1 using 4 title "CONNECT 1 stream", '' every ::1 using 5 title "CONNECT 100 tunnels"
GP
echo "results: $json, $md, bench/results/latest.png"
