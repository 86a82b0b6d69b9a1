#!/usr/bin/env bash
# Installs what Gatehouse needs from Debian (only what is missing) and builds build/gatehouse.
# Safe to run again: it installs nothing and rebuilds only what changed.
#
#   tools/setup.sh           build dependencies, then the proxy binary only (no tests)
#   tools/setup.sh --tests   also the peers the tests start themselves (Squid, slapd, HAProxy,
#                            nginx, Chromium, ...); their package scripts start no services
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

packages=(
  build-essential cmake ninja-build pkg-config git
  libuv1-dev node-llhttp libssl-dev libspdlog-dev catch2 libc-ares-dev libcrypt-dev
  libtomlplusplus-dev libcli11-dev libpacparser-dev libsystemd-dev
  curl python3 openssl
)
# Test-only: the fuzzing toolchain and the real peers and clients the tests drive.
test_packages=(
  clang libclang-rt-14-dev apache2-utils
  squid slapd ldap-utils haproxy nginx-light tinyproxy apache2
  chromium python3-pacparser wrk dpkg-dev file systemd logrotate
)
[ "$with_tests" -eq 1 ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Debian's maintainer scripts would start squid, slapd, haproxy, nginx, apache2 and
  # tinyproxy as system services on their default ports; policy-rc.d answering 101 forbids
  # that. The tests start their own instances on loopback ports.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only the proxy: the tests are built by tools/test.sh, so the first start does not wait on them.
cmake --build build --target gatehouse
