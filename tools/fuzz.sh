#!/usr/bin/env bash
# Fuzzes the parsers with libFuzzer: tools/fuzz.sh [target...]
# Targets are named like "request" or "fuzz_request"; none given means every
# tests/fuzz/fuzz_<name>.cc (see tests/fuzz/README.md for the convention). For each target:
#   1. replay: every input in tests/fuzz/regressions/<name>/ (inputs that once failed) and the
#      seeds in tests/fuzz/corpus/<name>/ run once;
#   2. fuzz: FUZZ_SECONDS of libFuzzer from the seeds plus the corpus kept in FUZZ_OUT, with
#      the target's dictionary.
# Any finding (crash, sanitizer report, leak, timeout, out-of-memory, failed FUZZ_CHECK) fails
# the target and prints its name, the reproducer's path and its bytes (base64 and hex), so a CI
# log alone is enough to reproduce it. The last line is "fuzz: N passed, M failed" (one count
# per target: replay and fuzzing together); the exit status is non-zero when M > 0.
#
# Environment:
#   FUZZ_SECONDS           fuzzing time per target in seconds (default 20)
#   FUZZ_OUT               corpora, findings and logs (default build-fuzz/fuzz-out):
#                          corpus/<name>/ grows from run to run, findings/<name>/ receives
#                          reproducers, logs/<name>.log is libFuzzer's output
#   FUZZ_NO_BUILD=1        use the executables already in build-fuzz (no configure or build)
#   FUZZ_MINIMIZE_SECONDS  time to minimise a crash before printing it (default 30; 0: off)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${FUZZ_SECONDS:-20}
out=${FUZZ_OUT:-$root/build-fuzz/fuzz-out}
minimize_seconds=${FUZZ_MINIMIZE_SECONDS:-30}
bin=$root/build-fuzz/tests/fuzz

# Limits, the same for every target:
# - max_len 8192: twice the request head limit the request target uses (4096) and larger than
#   any config or user file line that matters; longer inputs only slow the search down.
# - timeout 10 s: one input of at most 8 KiB parses in microseconds; 10 s is room for ASan on
#   a loaded 2-core CI runner, so only a real hang (a loop that does not end) trips it.
# - malloc_limit_mb 16: no single allocation on a request's path comes near it. A head is at
#   most max_head_size (64 KiB by default, 1 MiB at most), the per-loop read buffer 256 KiB, a
#   config or user file is read whole but is small; an input of 8 KiB asking for 16 MiB at
#   once is an allocation sized by the attacker (e.g. a length field taken at face value).
# - rss_limit_mb 1024: the process holds one input at a time, yet its RSS under ASan levels
#   off at ~480 MiB (measured: flat from 1 to 2 million runs of fuzz_request), nearly all of
#   it ASan's quarantine of freed memory (256 MiB by default) and allocator caches. Twice that
#   means memory kept across inputs that LeakSanitizer cannot see (still referenced, like an
#   unbounded cache) or a runaway allocation.
# - detect_leaks 1: memory lost by one input is a finding (LeakSanitizer after each input
#   that allocated more than it freed).
limits=(-max_len=8192 -timeout=10 -malloc_limit_mb=16 -rss_limit_mb=1024 -detect_leaks=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=1:symbolize=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}print_stacktrace=1:halt_on_error=1

if [[ ${FUZZ_NO_BUILD:-0} != 1 ]]; then
  echo "== building the fuzz targets (clang, libFuzzer, ASan+UBSan) in build-fuzz"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGATEHOUSE_FUZZ=ON -DGATEHOUSE_TESTS=OFF >/dev/null
  cmake --build build-fuzz --target tests/fuzz/all
fi

# Every target that has a source file; names given on the command line must be among them.
mapfile -t all < <(find tests/fuzz -maxdepth 1 -name 'fuzz_*.cc' -printf '%f\n' | sed 's/^fuzz_//; s/\.cc$//' | sort)
targets=()
for arg in "$@"; do
  name=${arg#fuzz_}
  if [[ ! -f tests/fuzz/fuzz_$name.cc ]]; then
    echo "fuzz.sh: no target \"$arg\" (known: ${all[*]})" >&2
    exit 2
  fi
  targets+=("$name")
done
((${#targets[@]})) || targets=("${all[@]}")

# Prints a reproducer so it can be re-created from a log: path, size, base64, hex (up to 2 KiB).
print_input() {
  local label=$1 path=$2
  echo "  $label: $path ($(stat -c %s "$path") bytes)"
  echo "  base64: $(base64 -w0 "$path")"
  if (($(stat -c %s "$path") <= 2048)); then
    echo "  hex: $(od -An -v -tx1 "$path" | tr -d ' \n')"
  fi
}

# The part of a libFuzzer log that says what went wrong: from the first report line on,
# without libFuzzer's progress lines, ASan's shadow memory map or libFuzzer's byte dump (the
# input is printed below anyway), at most 80 lines.
print_report() {
  local log=$1
  awk '/ERROR:|runtime error:|FUZZ_CHECK failed|ALARM:|out-of-memory|==[0-9]+== *ERROR/ {on = 1}
       /Shadow bytes around the buggy address/ {shadow = 1}
       /==[0-9]+==ABORTING/ {shadow = 0}
       on && !shadow && !/^#[0-9]+\t/ && !/^0x[0-9a-f]+,/ {print "  | " $0; if (++n == 80) exit}' "$log"
}

# Reports a finding of target $1 (libFuzzer log $2, reproducer $3); minimises a crash first.
report_finding() {
  local name=$1 log=$2 input=$3 what=$4
  echo "FAIL fuzz_$name: $what"
  print_report "$log"
  if [[ -z $input || ! -f $input ]]; then
    echo "  (no reproducer was written; the log is $log)"
    return
  fi
  print_input "reproducer" "$input"
  # A crash can be cut down (leaks, timeouts and out-of-memory inputs cannot, reliably).
  if ((minimize_seconds > 0)) && [[ $(basename "$input") == crash-* ]]; then
    local minimized=$input.min
    "$bin/fuzz_$name" "${limits[@]}" -minimize_crash=1 -max_total_time="$minimize_seconds" \
      -exact_artifact_path="$minimized" "$input" >"$log.minimize" 2>&1 || true
    if [[ -f $minimized ]]; then
      print_input "minimised" "$minimized"
    fi
  fi
  echo "  reproduce: build-fuzz/tests/fuzz/fuzz_$name $input"
  echo "     or, from the log: echo '$(base64 -w0 "$input")' | base64 -d > repro &&" \
    "build-fuzz/tests/fuzz/fuzz_$name repro"
  if [[ $input != tests/fuzz/regressions/* ]]; then
    echo "  once fixed, keep it: cp <minimised input> tests/fuzz/regressions/$name/<what-it-shows>"
  fi
}

mkdir -p "$out/logs"
passed=0
failed=0
for name in "${targets[@]}"; do
  exe=$bin/fuzz_$name
  seeds=tests/fuzz/corpus/$name
  regressions=tests/fuzz/regressions/$name
  dict=tests/fuzz/dicts/$name.dict
  [[ -f $dict ]] || dict=tests/fuzz/dicts/http.dict
  log=$out/logs/$name.log
  findings=$out/findings/$name
  corpus=$out/corpus/$name
  if [[ ! -x $exe ]]; then
    echo "FAIL fuzz_$name: $exe was not built (is tests/fuzz/fuzz_$name.cc in the fuzz build?)"
    failed=$((failed + 1))
    continue
  fi
  if [[ ! -d $seeds ]] || [[ -z $(ls -A "$seeds") ]]; then
    echo "FAIL fuzz_$name: no seed corpus in $seeds/"
    failed=$((failed + 1))
    continue
  fi

  # 1. Replay regressions and seeds, one file at a time as libFuzzer does for file arguments.
  mapfile -t inputs < <(find "$regressions" "$seeds" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | sort)
  if ! "$exe" "${limits[@]}" "${inputs[@]}" >"$log" 2>&1; then
    # The input that failed is the last one libFuzzer started.
    culprit=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
    report_finding "$name" "$log" "$culprit" "replaying a regression or seed input fails"
    failed=$((failed + 1))
    continue
  fi
  replayed=${#inputs[@]}

  # 2. Fuzz. libFuzzer writes a finding to -artifact_prefix and says so in the log.
  mkdir -p "$corpus" "$findings"
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  status=0
  "$exe" "${limits[@]}" -dict="$dict" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1 || status=$?
  artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
  if ((status != 0)) || [[ -n $artifact ]]; then
    report_finding "$name" "$log" "$artifact" "finding while fuzzing (exit status $status)"
    failed=$((failed + 1))
    continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  echo "ok   fuzz_$name: $replayed inputs replayed, ${runs:-?} runs in ${seconds}s," \
    "corpus $(find "$corpus" -type f | wc -l) inputs, peak RSS ${rss:-?} MiB, no finding"
  passed=$((passed + 1))
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))
