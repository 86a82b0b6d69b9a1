#!/usr/bin/env bash
# Runs every test: unit and integration tests, the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer (leak detection on), and a short libFuzzer run of each fuzz
# target. Expects tools/setup.sh to have run (the README's test command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== layering (layers only point down; only src/uv includes <uv.h>)"
tools/check_layers.sh

echo "== config check of conf/gatehouse.toml"
build/gatehouse --config conf/gatehouse.toml --check

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "== unit and integration tests (release build)"
cmake --build build
ctest --test-dir build -j "$jobs" --output-on-failure | tee -a "$results"

echo "== the same tests under ASan+UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_SANITIZE=ON >/dev/null
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure | tee -a "$results"

echo "== fuzzing the request and response paths (${FUZZ_SECONDS:=30}s each)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGATEHOUSE_FUZZ=ON -DGATEHOUSE_TESTS=OFF >/dev/null
cmake --build build-fuzz
for target in fuzz_request fuzz_response; do
  corpus=$(mktemp -d)
  cp tests/fuzz/corpus/"${target#fuzz_}"/* "$corpus"/
  build-fuzz/tests/fuzz/"$target" -max_total_time="$FUZZ_SECONDS" -max_len=8192 \
    -print_final_stats=1 "$corpus" 2>&1 | grep -E "^(stat::number_of_executed_units|Done|#.*DONE)" || true
  build-fuzz/tests/fuzz/"$target" -runs=0 "$corpus" >/dev/null 2>&1
  rm -rf "$corpus"
done
# One closing line for CI: every ctest case of both builds (fuzzing has no count).
passed=$(awk '/tests passed, [0-9]+ tests failed out of/ {n += $NF} END {print n + 0}' "$results")
echo "tests: $passed passed, 0 failed"
