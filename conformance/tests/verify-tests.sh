#!/usr/bin/env bash
# usage: conformance/tests/verify-tests.sh TK_VERIFY TK_CONFORM REF_DRIVER.so [BAD_ABI.so]
# Tests of tk-verify:
#   traces/ok--*.jsonl               accepted (exit 0)
#   traces/viol--ANCHOR.jsonl        exit 1, violations of ANCHOR and no other anchor
#   traces/malformed-LN--*.jsonl     exit 2, error names line N
#   a trace the reference driver writes (Trace=path) for every strategy: accepted
#   tk-conform's command-line errors (bad --impl, no tk_driver_v1, ABI mismatch)
# Ends with "N passed, N failed".
set -u
verify=$1; conform=$2; ref=$3; badabi=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
expect=$here/../expectations/reference.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); printf 'PASS  %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL  %s: %s\n' "$1" "$2"; [ -f "$tmp/out" ] && sed 's/^/    | /' "$tmp/out" | head -8; }

for f in "$here"/traces/*.jsonl; do
  n=$(basename "$f")
  "$verify" "$f" --json "$tmp/v.json" > "$tmp/out" 2>&1; rc=$?
  case $n in
    ok--*)
      [ $rc -eq 0 ] && ok "$n accepted" || bad "$n" "exit $rc, expected 0";;
    viol--*)
      anchor=${n#viol--}; anchor=${anchor%.jsonl}
      others=$(grep -oE ': inv\.[a-z0-9-]+\.[a-z0-9-]+:' "$tmp/out" | tr -d ': ' | sort -u | grep -vx "$anchor")
      if [ $rc -ne 1 ]; then bad "$n" "exit $rc, expected 1"
      elif ! grep -q ": $anchor: " "$tmp/out"; then bad "$n" "violation of $anchor not reported"
      elif [ -n "$others" ]; then bad "$n" "also reported: $others"
      elif ! grep -q '"schema_version":1' "$tmp/v.json" || ! grep -q "\"anchor\":\"$anchor\"" "$tmp/v.json"; then bad "$n" "--json lacks schema_version or the violation"
      else ok "$n caught ($anchor, line $(grep -m1 -oE '\.jsonl:[0-9]+' "$tmp/out" | cut -d: -f2))"; fi;;
    malformed-L*)
      line=${n#malformed-L}; line=${line%%--*}
      if [ $rc -ne 2 ]; then bad "$n" "exit $rc, expected 2"
      elif ! grep -q "$(basename "$f"):$line: malformed trace" "$tmp/out"; then bad "$n" "error does not name line $line"
      else ok "$n rejected at line $line"; fi;;
  esac
done

# command-line behaviour
"$verify" --help > "$tmp/out" 2>&1 && grep -q usage "$tmp/out" && ok "--help" || bad "--help" "no usage text / nonzero exit"
"$verify" "$tmp/does-not-exist.jsonl" > "$tmp/out" 2>&1; [ $? -eq 2 ] && ok "missing file -> exit 2" || bad "missing file" "exit not 2"
"$verify" --bogus > "$tmp/out" 2>&1; [ $? -eq 2 ] && ok "bad option -> exit 2" || bad "bad option" "exit not 2"
: > "$tmp/empty.jsonl"; "$verify" "$tmp/empty.jsonl" > "$tmp/out" 2>&1; [ $? -eq 2 ] && ok "empty trace -> exit 2" || bad "empty trace" "exit not 2"

# tk-conform command line
"$conform" --help > "$tmp/out" 2>&1 && grep -q -- '--impl' "$tmp/out" && ok "tk-conform --help" || bad "tk-conform --help" "no usage"
"$conform" --impl "$tmp/nope.so" > "$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "cannot load --impl '$tmp/nope.so'" "$tmp/out" && ok "tk-conform: missing library named (exit 2)" || bad "tk-conform missing library" "exit $rc"
nosym=$(ls /lib/$(uname -m)-linux-gnu/libm.so.6 2>/dev/null | head -1)
if [ -n "$nosym" ]; then
  "$conform" --impl "$nosym" > "$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "does not export tk_driver_v1" "$tmp/out" && ok "tk-conform: library without tk_driver_v1 (exit 2)" || bad "tk-conform no symbol" "exit $rc"
fi
if [ -n "$badabi" ]; then
  "$conform" --impl "$badabi" > "$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "ABI version 99" "$tmp/out" && ok "tk-conform: ABI version mismatch (exit 2)" || bad "tk-conform ABI mismatch" "exit $rc"
fi
"$conform" --bogus > "$tmp/out" 2>&1; [ $? -eq 2 ] && ok "tk-conform: unknown option (exit 2)" || bad "tk-conform unknown option" "exit not 2"
printf 'counting_threshold_exact FAIL  # deliberately wrong\n' > "$tmp/x.txt"
"$conform" --impl "$ref" --config Strategy=lazy --filter counting_threshold_exact --expect "$tmp/x.txt" --tap "$tmp/t.tap" --junit "$tmp/j.xml" --json "$tmp/j.json" > "$tmp/out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q '^XPASS' "$tmp/out" && tail -1 "$tmp/out" | grep -qx '0 passed, 1 failed' && grep -q '^not ok 1' "$tmp/t.tap" \
   && grep -q '<failure type="XPASS"' "$tmp/j.xml" && grep -q '"schema_version":1' "$tmp/j.json"; then ok "tk-conform: XPASS fails the run; TAP/JUnit/JSON written"
else bad "tk-conform XPASS" "exit $rc"; fi

# traces written by the reference driver
xfail=0
[ -f "$expect" ] && grep -qE '^verify:reference-trace[[:space:]]+FAIL' "$expect" && xfail=1
for s in forwarder precode-reuse lazy entry-cell notier; do
  tr=$tmp/ref-$s.jsonl
  TK_CONFORM_KEEP_TRACE=$tr "$conform" --impl "$ref" --config Strategy=$s --filter observability_trace_file > /dev/null 2>&1
  if [ ! -s "$tr" ]; then rm -f "$tmp/out"; bad "reference trace ($s)" "the driver wrote no trace"; continue; fi
  "$verify" "$tr" > "$tmp/out" 2>&1; rc=$?
  if [ $rc -eq 0 ] && [ $xfail -eq 1 ]; then bad "reference trace ($s)" "XPASS: accepted, but expectations say verify:reference-trace FAIL; remove that line"
  elif [ $rc -eq 0 ]; then ok "reference trace ($s) accepted ($(wc -l < "$tr") lines)"
  elif [ $xfail -eq 1 ]; then
    # only the known defect may differ: with NULL written as "0x0" the trace must pass
    sed 's/"(nil)"/"0x0"/g' "$tr" > "$tmp/norm.jsonl"
    if "$verify" "$tmp/norm.jsonl" > "$tmp/out" 2>&1; then ok "reference trace ($s) XFAIL (exit $rc, known \"(nil)\" defect only)"
    else bad "reference trace ($s)" "fails beyond the known \"(nil)\" defect"; fi
  else bad "reference trace ($s)" "tk-verify exit $rc"; fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
