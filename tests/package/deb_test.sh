#!/usr/bin/env bash
# Builds the .deb with cpack from a configured build directory and checks what it installs:
#   tests/package/deb_test.sh BUILD_DIR
# The binary, the configuration as a conffile, the systemd unit (verified by systemd-analyze
# when present) and the logrotate file; the packaged binary passes --check on the packaged
# configuration.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/gatehouse-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --build "$build" --target gatehouse >/dev/null
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >/dev/null) ||
  fail "cpack -G DEB failed"
deb=$(ls "$work"/out/gatehouse_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no gatehouse_*.deb produced"
echo "built $(basename "$deb")"

contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/gatehouse ./etc/gatehouse/gatehouse.toml \
            ./lib/systemd/system/gatehouse.service ./etc/logrotate.d/gatehouse \
            ./usr/share/doc/gatehouse/haproxy.cfg; do
  grep -q " $path\$" <<<"$contents" || fail "$path missing from the package"
done
grep -q "^-rwxr-xr-x root/root .* ./usr/bin/gatehouse$" <<<"$contents" ||
  fail "the binary is not root-owned and executable"

info=$(dpkg-deb -I "$deb")
grep -q "^ Package: gatehouse$" <<<"$info" || fail "package name"
grep -q "^ Version: 0\.1\.0" <<<"$info" || fail "package version"
grep -q "^ Depends:.*libuv1" <<<"$info" || fail "Depends lacks libuv1 (shlibdeps)"
conffiles=$(dpkg-deb -f "$deb" Package >/dev/null && dpkg-deb --ctrl-tarfile "$deb" |
  tar -xO ./conffiles)
grep -qx "/etc/gatehouse/gatehouse.toml" <<<"$conffiles" ||
  fail "/etc/gatehouse/gatehouse.toml is not a conffile"

dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/bin/gatehouse" --version | grep -q "gatehouse" || fail "packaged binary --version"
"$work/root/usr/bin/gatehouse" --config "$work/root/etc/gatehouse/gatehouse.toml" --check ||
  fail "packaged configuration does not pass --check"

unit="$work/root/lib/systemd/system/gatehouse.service"
grep -q "^Type=notify$" "$unit" || fail "unit type"
grep -q "^ExecReload=/bin/kill -HUP \$MAINPID$" "$unit" || fail "unit ExecReload"
grep -q "^NoNewPrivileges=yes$" "$unit" || fail "unit NoNewPrivileges"
grep -q "^CapabilityBoundingSet=$" "$unit" || fail "unit capabilities"
if command -v systemd-analyze >/dev/null; then
  # Verify the unit as installed, pointed at the extracted binary and configuration.
  mkdir -p "$work/unit"
  sed "s|/usr/bin/gatehouse|$work/root/usr/bin/gatehouse|g;
       s|/etc/gatehouse/gatehouse.toml|$work/root/etc/gatehouse/gatehouse.toml|g" \
    "$unit" >"$work/unit/gatehouse.service"
  out=$(systemd-analyze verify "$work/unit/gatehouse.service" 2>&1) || fail "systemd-analyze: $out"
  [ -z "$out" ] || fail "systemd-analyze warns: $out"
  echo "systemd-analyze verify: clean"
else
  echo "systemd-analyze not installed: unit syntax not verified"
fi
if command -v logrotate >/dev/null; then
  logrotate -d "$work/root/etc/logrotate.d/gatehouse" >/dev/null 2>&1 ||
    fail "logrotate rejects the logrotate file"
fi
echo "PASS: $(basename "$deb") installs binary, conffile, unit and logrotate file"
