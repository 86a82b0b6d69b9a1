#!/usr/bin/env bash
# Runs every test: unit and integration tests, the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer (leak detection on, fuzz regression inputs replayed), and a short
# libFuzzer run of each fuzz target (tools/fuzz.sh). Expects tools/setup.sh to have run (the
# README's test command does both). Ends with "tests: N passed, M failed"; non-zero if M > 0.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== layering (layers only point down; only src/uv includes <uv.h>)"
tools/check_layers.sh

echo "== config check of conf/gatehouse.toml"
build/gatehouse --config conf/gatehouse.toml --check

# Every section runs even when an earlier one failed, so one run shows everything that is
# broken; the closing line counts both, and the exit status is non-zero if anything failed.
results=$(mktemp)
trap 'rm -f "$results"' EXIT
section_failures=0
echo "== unit and integration tests (release build)"
cmake --build build
status=0
ctest --test-dir build -j "$jobs" --output-on-failure 2>&1 | tee -a "$results" || status=$?
# A ctest that fails without its summary line (crashed, killed) still counts as a failure.
if ((status != 0)) && ! tail -n 20 "$results" | grep -qE '[0-9]+ tests failed out of'; then
  section_failures=$((section_failures + 1))
fi

echo "== the same tests under ASan+UBSan (and every fuzz target's regression inputs)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_SANITIZE=ON >/dev/null
cmake --build build-asan
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure 2>&1 | tee -a "$results" || status=$?
if ((status != 0)) && ! tail -n 20 "$results" | grep -qE '[0-9]+ tests failed out of'; then
  section_failures=$((section_failures + 1))
fi

# Regression inputs first, then a short run of every target (tools/fuzz.sh; FUZZ_SECONDS sets
# the time per target, 20 s by default).
echo "== fuzzing every parser (${FUZZ_SECONDS:=20}s per target)"
status=0
FUZZ_SECONDS=$FUZZ_SECONDS tools/fuzz.sh 2>&1 | tee -a "$results" || status=$?
if ((status != 0)) && ! tail -n 1 "$results" | grep -qE '^fuzz: [0-9]+ passed, [0-9]+ failed'; then
  section_failures=$((section_failures + 1))
fi

# One closing line for CI: every ctest case of both builds, plus one per fuzz target
# (its regression replay and its run together).
read -r passed failed < <(awk -v extra="$section_failures" '
  /tests passed, [0-9]+ tests failed out of/ {f = $(NF - 5); p += $NF - f; fl += f}
  /^fuzz: [0-9]+ passed, [0-9]+ failed/ {p += $2; fl += $4}
  END {print p + 0, fl + extra}' "$results")
echo "tests: $passed passed, $failed failed"
((failed == 0))
