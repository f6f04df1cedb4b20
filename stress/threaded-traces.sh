#!/usr/bin/env bash
# usage: stress/threaded-traces.sh BUILD_DIR
# The reference passes its own verifier under real threads: every strategy
# runs orchard-like and megamorphic (type churn) threaded with tracing on,
# once with the defaults and once with a small threshold and delay and
# call-counting stub deletion on, and tk-verify must accept every trace
# (SPEC.md "Event trace"; inv.tiering.promotion-after-threshold among the
# rules).  A run must exit 0 and leave a complete trace (header first,
# every line a whole JSON object, ending in a newline): a trace is
# complete or the run fails.  Ends with "N passed, N failed".
set -u
B=$(cd "${1:-build}" && pwd)
bench=$B/bin/tk-bench verify=$B/bin/tk-verify
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# every strategy the reference driver offers (tk-bench lists them when asked for an unknown one)
strategies=($("$B/bin/tk-bench" seed-vtable-test --strategy '?' 2>&1 | sed -nE 's/.*offers: (.*)\)$/\1/p' | tr -d ','))
[ ${#strategies[@]} -gt 0 ] || { echo "cannot list the driver's strategies"; echo "0 passed, 1 failed"; exit 1; }
pass=0; fail=0
# short phases: the point is concurrency (workers, background worker, churn), not timing
common=(--threads 4 --time-scale 0.1 --quick)
small=(--config CallCountThreshold=2 --config CallCountingDelayMs=1 --config DeleteCallCountingStubsAfter=1)
for wl in orchard-like megamorphic; do
  for s in "${strategies[@]}"; do
    for cfg in default small; do
      name="$wl/$s/$cfg"
      tr=$tmp/$wl-$s-$cfg.jsonl
      extra=(); [ $cfg = small ] && extra=("${small[@]}")
      "$bench" "$wl" --strategy "$s" "${common[@]}" "${extra[@]}" --trace "$tr" > "$tmp/bench.out" 2>&1; rc=$?
      if [ $rc -ne 0 ]; then fail=$((fail + 1)); echo "FAIL  $name: tk-bench exit $rc"; tail -3 "$tmp/bench.out" | sed 's/^/    | /'; continue; fi
      if [ ! -s "$tr" ] || [ "$(tail -c1 "$tr" | od -An -c | tr -d ' ')" != '\n' ]; then
        fail=$((fail + 1)); echo "FAIL  $name: the trace is missing or does not end with a whole line"; continue; fi
      "$verify" "$tr" > "$tmp/v.out" 2>&1; rc=$?
      lines=$(wc -l < "$tr")
      if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "PASS  $name: $lines events verified"
      else fail=$((fail + 1)); echo "FAIL  $name: tk-verify exit $rc on $lines lines"; grep -m3 -E 'inv\.|malformed' "$tmp/v.out" | sed 's/^/    | /'; fi
    done
  done
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
