#!/usr/bin/env bash
# usage: cli/tests/cli-tests.sh BUILD_DIR
# Every tool's command line against bad input and failing output (README.md
# "Reliability", cli/outfile.h, cli/numarg.h): each case runs a tool and
# checks the exit status and that the message names the input and the
# problem; the output cases check that nothing is half-written, devices and
# pipes are written in place, and output paths are checked before the run.
# Ends with "N passed, N failed".
set -u
B=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
bench=$B/bin/tk-bench verify=$B/bin/tk-verify conform=$B/bin/tk-conform seedc=$B/bin/tk-seed-counters
ref=$B/lib/libtk_ref_driver.so fake=$B/lib/libtk_fake_driver.so
nullfn=$B/lib/tests/libtk_fake_null_fn.so hang=$B/lib/conformance/libtk_hang.so
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
pass=0; fail=0
ok()  { pass=$((pass + 1)); printf 'PASS  %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL  %s: %s\n' "$1" "$2"; sed 's/^/    | /' "$tmp/err" 2>/dev/null | head -6; }

# expect NAME RC REGEX -- CMD...: exit status RC and stderr+stdout matching REGEX
expect() {
  local name=$1 rc=$2 re=$3; shift 4
  "$@" > "$tmp/out" 2> "$tmp/err"; local got=$?
  cat "$tmp/out" >> "$tmp/err"
  if [ "$got" -ne "$rc" ]; then bad "$name" "exit $got, expected $rc"
  elif ! grep -qE -- "$re" "$tmp/err"; then bad "$name" "message does not match /$re/"
  else ok "$name"; fi
}

# ---- tk-bench: bad input --------------------------------------------------------
W=seed-vtable-test
expect "bench: missing .wl path named as given"     2 "workload file 'x\.wl\.wl': No such file"      -- "$bench" x.wl.wl
expect "bench: missing path with a slash"           2 "workload file 'no/such\.wl': No such file"    -- "$bench" no/such.wl
expect "bench: unknown workload name"               2 "unknown workload 'nope' \(no file nope\.wl"   -- "$bench" nope
expect "bench: empty workload name"                 2 "empty workload name"                          -- "$bench" ""
expect "bench: --seed 010 is not octal"             2 "--seed: '010': leading zero"                  -- "$bench" $W --seed 010
expect "bench: --seed -1"                           2 "--seed: '-1': not a decimal integer"          -- "$bench" $W --seed -1
expect "bench: --seed 2^64"                         2 "--seed: '18446744073709551616': out of range" -- "$bench" $W --seed 18446744073709551616
expect "bench: --seed 0x10"                         2 "--seed: '0x10': not a decimal integer"        -- "$bench" $W --seed 0x10
expect "bench: --threads 0"                         2 "--threads: '0': out of range \[1, 1024\]"     -- "$bench" $W --threads 0
expect "bench: --threads 1025"                      2 "--threads: '1025': out of range"              -- "$bench" $W --threads 1025
expect "bench: --scale inf"                         2 "--scale: 'inf': not a decimal number"         -- "$bench" $W --scale inf
expect "bench: --scale nan"                         2 "--scale: 'nan': not a decimal number"         -- "$bench" $W --scale nan
expect "bench: --scale 1e999"                       2 "--scale: '1e999': out of range"               -- "$bench" $W --scale 1e999
expect "bench: --scale 0"                           2 "--scale: '0': must be greater than 0"         -- "$bench" $W --scale 0
expect "bench: --time-scale -1"                     2 "--time-scale: '-1': out of range"             -- "$bench" $W --time-scale -1
expect "bench: --strategy ''"                       2 "--strategy: empty"                            -- "$bench" $W --strategy ""
expect "bench: --strategy lazy,lazy"                2 "'lazy' listed twice"                          -- "$bench" $W --strategy lazy,lazy
expect "bench: --strategy lazy,,notier"             2 "empty name in the list"                       -- "$bench" $W --strategy lazy,,notier
expect "bench: --strategy bogus"                    2 "unknown strategy 'bogus' \(tierkit-reference offers: forwarder" -- "$bench" $W --strategy bogus
expect "bench: driver table with a NULL entry"      2 "the driver table's 'safepoint' is NULL"       -- "$bench" $W --impl "$nullfn"
expect "bench: --json into a missing directory"     2 "cannot write --json 'nodir/x\.json': directory 'nodir': No such file" -- "$bench" $W --json nodir/x.json
expect "bench: --json a directory"                  2 "cannot write --json '\.': is a directory"     -- "$bench" $W --json .
expect "bench: --trace into a missing directory"    2 "cannot write --trace 'nodir/t': directory"    -- "$bench" $W --trace nodir/t
printf '\xEF\xBB\xBF' > bom.wl; cat "$root/workloads/defs/$W.wl" >> bom.wl
"$bench" bom.wl --describe > bom.out 2> "$tmp/err"; rc=$?
"$bench" $W --describe > plain.out 2>/dev/null
if [ $rc -eq 0 ] && [ "$(grep -o 'fingerprint [0-9a-f]*' bom.out)" = "$(grep -o 'fingerprint [0-9a-f]*' plain.out)" ]; then
  ok "bench: a UTF-8 BOM is ignored (same fingerprint)"; else bad "bench: BOM" "exit $rc or another fingerprint"; fi
sed 's/^seed = .*/seed = 010/' "$root/workloads/defs/$W.wl" > oct.wl
expect "bench: seed = 010 in a file"                2 "oct\.wl:[0-9]+: key 'seed': '010' is not a decimal" -- "$bench" oct.wl --describe
# the outputs are checked before the run: a long workload fails at once
start=$(date +%s%N)
"$bench" orchard-like --json nodir/x.json > "$tmp/out" 2>&1; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $rc -eq 2 ] && ! grep -q '== strategy' "$tmp/out"; then ok "bench: --json checked before a 10 s run (${ms} ms)"
else bad "bench: --json checked before the run" "exit $rc"; fi

# ---- tk-bench: output discipline -------------------------------------------------
B1="$bench $W --deterministic --strategy lazy --impl $fake"
if [ "$(id -u)" -eq 0 ]; then
  $B1 --json /dev/null > /dev/null 2> "$tmp/err"; rc=$?
  [ $rc -eq 0 ] && [ -c /dev/null ] && ok "bench: --json /dev/null keeps the device node" || bad "bench: --json /dev/null" "exit $rc or /dev/null replaced"
else
  $B1 --json /dev/null > /dev/null 2> "$tmp/err"; [ $? -eq 0 ] && [ -c /dev/null ] && ok "bench: --json /dev/null (not root)" || bad "bench: /dev/null" "failed"
fi
expect "bench: --json /dev/full fails naming it"    1 "cannot write --json '/dev/full': No space left on device" -- $B1 --json /dev/full
expect "bench: standard output on /dev/full"        1 "cannot write standard output"                  -- sh -c "$B1 > /dev/full"
mkfifo pipe.json
(cat pipe.json > from-pipe.json) & reader=$!
$B1 --json pipe.json > /dev/null 2> "$tmp/err"; rc=$?
wait $reader
if [ $rc -eq 0 ] && [ -p pipe.json ] && grep -q '"schema_version": 1' from-pipe.json; then ok "bench: --json into a FIFO writes it in place"
else bad "bench: --json FIFO" "exit $rc"; fi
echo old > keep.json
$B1 --json keep.json > /dev/null 2>&1 && grep -q '"schema_version": 1' keep.json && [ -z "$(ls -A . | grep '\.tmp\.')" ] \
  && ok "bench: --json replaces a regular file whole, no temporary left" || bad "bench: regular file" "not replaced or temp left"
ln -s keep.json link.json
$B1 --json link.json > /dev/null 2>&1 && [ -L link.json ] && grep -q schema_version keep.json \
  && ok "bench: --json through a symlink keeps the link" || bad "bench: symlink" "link replaced"
TKFAKE_FAIL_STRATEGY=lazy $bench $W --deterministic --strategy forwarder,lazy,notier --impl "$fake" --json part.json > "$tmp/out" 2> "$tmp/err"; rc=$?
if [ $rc -eq 1 ] && /usr/bin/python3 -c '
import json,sys; d=json.load(open("part.json"))
assert set(d["strategies"]) == {"forwarder","notier"}, d["strategies"].keys()
assert [f["strategy"] for f in d["failures"]] == ["lazy"] and "TKFAKE_FAIL_STRATEGY" in d["failures"][0]["error"]' 2>> "$tmp/err"
then ok "bench: a failing strategy keeps the others' JSON (exit 1, failures[] names it)"
else bad "bench: failing strategy" "exit $rc or JSON lacks the finished strategies"; fi
# a full disk (a 32 KiB tmpfs in a private mount namespace; root only):
# the trace is complete or the run fails, the JSON is whole or the old file stays
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
  mkdir -p full
  echo '{"old": true}' > full-old.json
  unshare -m sh -c "mount -t tmpfs -o size=32k tmpfs '$tmp/full' && cp full-old.json full/r.json &&
    '$bench' $W --deterministic --strategy lazy --trace full/t.jsonl > full.out 2> full.err; echo \$? > full.rc;
    ls full > full.ls; dd if=/dev/zero of=full/fill bs=1k count=64 2>/dev/null;
    '$bench' $W --deterministic --strategy lazy --impl '$fake' --json full/r.json > /dev/null 2> full-json.err; echo \$? > full-json.rc;
    cat full/r.json > full-json.after"
  if [ "$(cat full.rc)" = 1 ] && grep -q "cannot write trace '.*t.jsonl': No space left on device; the incomplete trace was removed" full.err \
     && grep -q "the runtime left no complete trace" full.err && ! grep -q t.jsonl full.ls; then
    ok "bench: a trace on a full disk is removed and the run fails (exit 1)"
  else cp full.err "$tmp/err"; bad "bench: trace on a full disk" "exit $(cat full.rc), files: $(cat full.ls | tr '\n' ' ')"; fi
  if [ "$(cat full-json.rc)" = 1 ] && grep -q "cannot write --json '.*r.json': No space left on device" full-json.err \
     && grep -q '"old": true' full-json.after; then ok "bench: --json on a full disk fails and the old file stays whole"
  else cp full-json.err "$tmp/err"; bad "bench: --json on a full disk" "exit $(cat full-json.rc)"; fi
else
  echo "SKIP  full-disk cases: need root and unshare -m"
fi
# megamorphic burst vs churn (the burst resolved receivers of unloaded types)
expect "bench: megamorphic burst after churn (churn_ms=150)" 0 "churn: [0-9]+ events" -- "$bench" megamorphic --deterministic --strategy notier --set churn_ms=150
# a quadratic generator took minutes here; linear takes a few seconds
start=$(date +%s%N)
timeout 60 "$bench" orchard-like --set classes=500000 --describe > "$tmp/out" 2> "$tmp/err"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 0 ] && grep -q '500000 classes' "$tmp/out" && ok "bench: 500000 classes --describe (${ms} ms, limit 60 s)" || bad "bench: 500000 classes" "exit $rc after ${ms} ms"

# ---- tk-verify --------------------------------------------------------------------
H='{"type":"header","schema":"tierkit-trace","trace_schema_version":1,"strategy":"lazy"}'
ev() { printf '{"type":"event","seq":%s,"ev":"type_load","thread":%s,"type_name":"T"}\n' "$1" "$2"; }
vt() { { echo "$H"; shift 0; cat; } > "$1"; }
{ echo "$H"; ev -1 1; } > negseq.jsonl
expect "verify: negative seq"                       2 "negseq\.jsonl:2: malformed trace: field 'seq' must be an integer in \[0, 18446744073709551615\]" -- "$verify" negseq.jsonl
{ echo "$H"; ev 1 1; ev 9223372036854775808 1; ev 18446744073709551615 1; } > bigseq.jsonl
expect "verify: 19-20 digit seq accepted"           0 "3 events"                                      -- "$verify" bigseq.jsonl
{ echo "$H"; ev 18446744073709551616 1; } > hugeseq.jsonl
expect "verify: seq 2^64 rejected"                  2 "hugeseq\.jsonl:2: .*'seq' must be an integer"  -- "$verify" hugeseq.jsonl
{ echo "$H"; ev 1 -3; } > negthr.jsonl
expect "verify: negative thread"                    2 "negthr\.jsonl:2: .*'thread' must be an integer" -- "$verify" negthr.jsonl
{ echo "$H"; echo '{"type":"event","seq":1,"ev":"activate","thread":1,"method":"M","il_version":4294967297}'; } > bigil.jsonl
expect "verify: il_version beyond int is rejected, not truncated" 2 "bigil\.jsonl:2: .*'il_version' must be an integer in \[0, 2147483647\]" -- "$verify" bigil.jsonl
{ printf '\xEF\xBB\xBF'; echo "$H"; } > bom.jsonl
expect "verify: BOM named"                          2 "bom\.jsonl:1: malformed trace: starts with a UTF-8 byte order mark" -- "$verify" bom.jsonl
expect "verify: --json needs an argument"           2 "--json needs an argument"                      -- "$verify" bigseq.jsonl --json
expect "verify: --strategy ''"                      2 "--strategy: empty"                             -- "$verify" bigseq.jsonl --strategy ""
expect "verify: --json into a missing directory"    2 "cannot write --json 'nodir/v\.json': directory" -- "$verify" bigseq.jsonl --json nodir/v.json
expect "verify: --json /dev/full"                   2 "cannot write --json '/dev/full': No space"      -- "$verify" bigseq.jsonl --json /dev/full
expect "verify: standard output on /dev/full"       2 "cannot write standard output"                   -- sh -c "'$verify' bigseq.jsonl > /dev/full"
expect "verify: a directory as the trace"           2 "cannot read '\.'|malformed"                     -- "$verify" .

# ---- tk-conform ---------------------------------------------------------------------
C="$conform --impl $ref --config Strategy=lazy --filter counting_threshold_exact"
for t in inf nan 1e300 0 -1 abc; do
  expect "conform: --timeout $t"                    2 "--timeout '$t': "                               -- $C --timeout "$t"
done
expect "conform: --expect DIR"                      2 "--expect '\.' is a directory"                   -- $C --expect .
printf 'counting_threshold_exact PASSED\n' > st.txt
expect "conform: --expect bad status names file:line" 2 "st\.txt:1: status 'PASSED' must be FAIL"     -- $C --expect st.txt
printf 'x FAIL a=b c\n' > cond.txt
expect "conform: --expect bad condition"            2 "cond\.txt:1: condition 'c' is not KEY=VALUE"    -- $C --expect cond.txt
printf '\xEF\xBB\xBF# comment\ncounting_threshold_exact FAIL Strategy=notier # not this config\n' > bomx.txt
expect "conform: --expect with a BOM"               0 "1 passed, 0 failed"                              -- $C --expect bomx.txt
expect "conform: --json into a missing directory before any test" 2 "cannot write --json 'nodir/c\.json'" -- $C --json nodir/c.json
expect "conform: --json /dev/full exits 1"          1 "cannot write --json '/dev/full': No space"      -- $C --json /dev/full
expect "conform: --junit /dev/full exits 1"         1 "cannot write --junit '/dev/full'"               -- $C --junit /dev/full
expect "conform: --result-fd abc"                   2 "--result-fd 'abc'"                              -- $C --result-fd abc
expect "conform: NULL mandatory entry"              2 "advertises TK_CAP_DETERMINISTIC but its driver table's 'safepoint' is NULL" -- "$conform" --impl "$nullfn"
expect "conform: TK_RANDOM_PROGRAMS=abc fails"      1 "TK_RANDOM_PROGRAMS='abc': not a decimal integer" -- env TK_RANDOM_PROGRAMS=abc "$conform" --impl "$ref" --filter random_differential
expect "conform: TK_RANDOM_PROGRAMS=0 fails"        1 "TK_RANDOM_PROGRAMS='0': out of range"          -- env TK_RANDOM_PROGRAMS=0 "$conform" --impl "$ref" --filter random_differential
# timeout and signals kill the test child (the hang driver blocks in create)
child_gone() { for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
rm -f pids; TK_HANG_PIDFILE=$tmp/pids "$conform" --impl "$hang" --filter counting_threshold_exact --timeout 1 > "$tmp/err" 2>&1; rc=$?
cp=$(head -1 pids 2>/dev/null)
if [ $rc -eq 1 ] && grep -q '^TIMEOUT' "$tmp/err" && [ -n "$cp" ] && child_gone "$cp"; then ok "conform: --timeout 1 kills the hung test (TIMEOUT)"
else bad "conform: timeout" "exit $rc, child ${cp:-none}"; fi
for sig in INT TERM; do
  rm -f pids; TK_HANG_PIDFILE=$tmp/pids "$conform" --impl "$hang" --timeout 600 > "$tmp/err" 2>&1 & cpid=$!
  for i in $(seq 100); do [ -s pids ] && break; sleep 0.1; done
  cp=$(head -1 pids 2>/dev/null)
  kill -$sig $cpid; wait $cpid; rc=$?
  want=$((128 + $(kill -l $sig)))
  if [ -n "$cp" ] && [ $rc -eq $want ] && child_gone "$cp"; then ok "conform: SIG$sig kills the running test's process group (exit $rc)"
  else bad "conform: SIG$sig" "exit $rc (want $want), child ${cp:-none} $(kill -0 "$cp" 2>/dev/null && echo 'still running')"; [ -n "$cp" ] && kill -9 "$cp" 2>/dev/null; fi
done

# ---- the runtime's TK_ environment variables --------------------------------------------
RB="$bench $W --strategy lazy --deterministic"
expect "runtime: mistyped TK_ key is an error naming it" 1 "environment variable TK_CallCountTreshold: not a tierkit configuration key; did you mean TK_CallCountThreshold\?" -- env TK_CallCountTreshold=5 $RB
expect "runtime: wrong-case TK_ key"                1 "environment variable TK_STRATEGY: .*did you mean TK_Strategy\?" -- env TK_STRATEGY=lazy $RB
expect "runtime: unknown TK_ tool-like variable warns once" 0 "warning: environment variable TK_FOO is not a tierkit" -- env TK_FOO=1 $RB
expect "runtime: bad TK_ value names the variable"  1 "environment variable TK_CallCountThreshold: .*invalid value 'x'" -- env TK_CallCountThreshold=x $RB
expect "seed-counters: mistyped TK_ key"            2 "environment variable TK_TieredPgo: .*did you mean TK_TieredPGO\?" -- env TK_TieredPgo=0 "$seedc"
expect "seed-counters: mistyped key, whole key list"  2 "did you mean TK_TieredPGO\?.*\(keys: [^()]*\)$" -- env TK_TieredPgo=0 "$seedc"
# A long invalid value is quoted whole when the message fits the tool's buffer
# (the variable's name, then the configuration's own message, not cut short).
long=$(printf '7%.0s' $(seq 600))
expect "seed-counters: long invalid value quoted whole" 2 "environment variable TK_CallCountThreshold: config: invalid value '$long' for key CallCountThreshold \(allowed: [^()]*\)$" -- env TK_CallCountThreshold=$long "$seedc"

# ---- tk-seed-counters -----------------------------------------------------------------
expect "seed-counters: --help"                      0 "usage: tk-seed-counters"                        -- "$seedc" --help
expect "seed-counters: THRESHOLD 010"               2 "THRESHOLD '010': leading zero"                  -- "$seedc" 010
expect "seed-counters: THRESHOLD abc"               2 "THRESHOLD 'abc': not a decimal integer"         -- "$seedc" abc
expect "seed-counters: unknown option"              2 "unexpected argument '--bogus'"                  -- "$seedc" --bogus
expect "seed-counters: standard output on /dev/full" 1 "cannot write standard output"                  -- sh -c "'$seedc' > /dev/full"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
