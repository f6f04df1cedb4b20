#!/usr/bin/env bash
# usage: stress/stress.sh BUILD_DIR [RUNS]
# Opt-in stress (make stress): RUNS (default 200) threaded tk-bench runs
# cycling over orchard-like and megamorphic, 8 and 16 worker threads, every
# strategy and a new seed each run, with call-counting stub deletion on and
# a small threshold and delay (the settings that maximise concurrent
# backpatching, promotion and deletion), tracing on.  Each run must exit 0
# and its trace must pass tk-verify.  Ends with "N passed, N failed".
set -u
B=$(cd "$1" && pwd); runs=${2:-200}
bench=$B/bin/tk-bench verify=$B/bin/tk-verify
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# every strategy the reference driver offers (tk-bench lists them when asked for an unknown one)
strategies=($("$B/bin/tk-bench" seed-vtable-test --strategy '?' 2>&1 | sed -nE 's/.*offers: (.*)\)$/\1/p' | tr -d ','))
[ ${#strategies[@]} -gt 0 ] || { echo "cannot list the driver's strategies"; echo "0 passed, 1 failed"; exit 1; }
pass=0; fail=0; events=0; start=$(date +%s)
for i in $(seq 1 "$runs"); do
  wl=$([ $((i % 2)) -eq 0 ] && echo orchard-like || echo megamorphic)
  th=$([ $(((i / 2) % 2)) -eq 0 ] && echo 8 || echo 16)
  s=${strategies[$(((i / 4) % ${#strategies[@]}))]}
  tr=$tmp/t.jsonl
  "$bench" "$wl" --strategy "$s" --threads "$th" --seed "$i" --quick --time-scale 0.1 \
    --config CallCountThreshold=2 --config CallCountingDelayMs=1 --config DeleteCallCountingStubsAfter=1 \
    --trace "$tr" > "$tmp/out" 2>&1; rc=$?
  name="run $i: $wl $s $th threads seed $i"
  if [ $rc -ne 0 ]; then fail=$((fail + 1)); echo "FAIL  $name: tk-bench exit $rc: $(tail -1 "$tmp/out")"; continue; fi
  "$verify" "$tr" > "$tmp/v" 2>&1; vr=$?
  n=$(wc -l < "$tr")
  if [ $vr -eq 0 ]; then pass=$((pass + 1)); events=$((events + n)); echo "PASS  $name: $n events verified"
  else fail=$((fail + 1)); echo "FAIL  $name: tk-verify exit $vr: $(grep -m1 -E 'inv\.|malformed' "$tmp/v")"; cp "$tr" "results/stress-fail-$i.jsonl" 2>/dev/null; fi
done
echo "stress: $runs runs in $(( $(date +%s) - start )) s, $events trace events verified"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
