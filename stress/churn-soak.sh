#!/usr/bin/env bash
# usage: stress/churn-soak.sh BUILD_DIR
# Bounded churn soak (tk-churn-soak, stress/churn_soak.c) for every
# strategy, 6000 type load/unload events in deterministic mode: from event
# 3000 to 6000 (N to 2N) the resident set may not grow by more than 16 pages,
# the live stub bytes per live type must stay within 10% and no precode of
# an unloaded type may remain (an unloaded type's stubs, versions, counting
# infos, code and, after the quarantine, structs are freed: lifetime.c).
# Ends with "N passed, N failed".
set -u
B=$1
# every strategy the reference driver offers (tk-bench lists them when asked for an unknown one)
strategies=($("$B/bin/tk-bench" seed-vtable-test --strategy '?' 2>&1 | sed -nE 's/.*offers: (.*)\)$/\1/p' | tr -d ','))
[ ${#strategies[@]} -gt 0 ] || { echo "cannot list the driver's strategies"; echo "0 passed, 1 failed"; exit 1; }
pass=0; fail=0
for s in "${strategies[@]}"; do
  out=$("$B/bin/tk-churn-soak" --strategy "$s" --events 6000 --sample 100 --warmup 50 2>&1); rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "PASS  $s: $out"
  else fail=$((fail + 1)); echo "FAIL  $s (exit $rc): $out"; fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
