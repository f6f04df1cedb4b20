#!/usr/bin/env bash
# usage: fuzz/run-fuzz.sh [--keep] BUILD_DIR SECONDS TARGET...
# Runs each libFuzzer target for SECONDS with leak detection on, starting
# from its seed corpus (fuzz/build.mk).  Without --keep the corpus is a
# fresh copy of the seeds (the smoke in `make test`); with --keep it lives
# in results/fuzz/TARGET and grows across runs (`make fuzz`).  A crash, leak,
# UB report or timeout fails the target; its input is kept in
# results/fuzz/artifacts/.  Prints one line per target with the executions
# and ends with "N passed, N failed".  The per-input timeout (60 s) is far
# above any input's run time (microseconds): it only catches a real hang, also
# on a machine loaded by parallel suites.
set -u
keep=0; [ "${1:-}" = "--keep" ] && { keep=1; shift; }
B=$1; secs=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
seeds() {
  case $1 in
    fuzz-workload) echo "$root/workloads/defs $root/workloads/tests/bad";;
    fuzz-trace)    echo "$root/conformance/tests/traces";;
    fuzz-expect)   echo "$root/conformance/expectations";;
  esac
}
mkdir -p results/fuzz/artifacts
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
for t in "$@"; do
  if [ $keep -eq 1 ]; then corpus=results/fuzz/$t; else corpus=$tmp/$t; fi
  mkdir -p "$corpus"
  for d in $(seeds "$t"); do cp -n "$d"/* "$corpus"/ 2>/dev/null; done
  log=results/fuzz/$t.log
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$B/fuzz/bin/$t" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 -detect_leaks=1 \
      -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="results/fuzz/artifacts/$t-" "$corpus" > "$log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  size=$(ls "$corpus" | wc -l)
  if [ $rc -eq 0 ] && [ -n "$execs" ]; then
    pass=$((pass + 1)); echo "PASS  $t: ${execs} executions in ${secs} s, corpus ${size} inputs, no crash, leak or UB"
  else
    fail=$((fail + 1)); echo "FAIL  $t: exit $rc (log $log)"; grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    | /'
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
