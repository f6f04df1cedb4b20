#!/usr/bin/env bash
# workloads/tests/arm64-smoke.sh QEMU TK_BENCH — short threaded tk-bench runs
# on arm64 under qemu-user (make test-workloads-arm64-smoke; run with the top
# Makefile's QEMU_ENV in the environment).  Each check has a timeout, so a
# hung guest fails instead of blocking; prints "N passed, M failed".
set -u
qemu=$1; bench=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
check() {   # NAME SECONDS ARGS... ; passes when tk-bench exits 0 and writes its JSON
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  if timeout "$secs" "$qemu" "$bench" "$@" --json "$tmp/$name.json" > "$tmp/$name.out" 2>&1 \
     && grep -q '"schema_version": 1' "$tmp/$name.json"; then
    echo "PASS $name ($((SECONDS - t0)) s)"; passed=$((passed + 1))
  else
    echo "FAIL $name (exit or timeout after $((SECONDS - t0)) s): $bench $*"; tail -5 "$tmp/$name.out"
    failed=$((failed + 1))
  fi
}
# deterministic, every strategy (single thread, manual clock)
check seed-vtable-test 20 seed-vtable-test --deterministic
# threaded: real worker threads + the runtime's background worker
check orchard-threaded 30 orchard-like --quick --scale 0.25 --threads 2 --strategy lazy,precode-reuse
# threaded with receiver rotation and type churn (parks workers, unloads types)
check megamorphic-churn 30 megamorphic --quick --scale 0.25 --threads 2 --strategy lazy
if [ -f "$tmp/megamorphic-churn.json" ] && grep -q '"unloads": 0,' "$tmp/megamorphic-churn.json"; then
  echo "FAIL megamorphic-churn: no type was unloaded"; failed=$((failed + 1)); passed=$((passed - 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
