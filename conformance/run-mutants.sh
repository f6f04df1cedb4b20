#!/usr/bin/env bash
# usage: conformance/run-mutants.sh TK_CONFORM MUTANT_DIR
# Runs tk-conform against every mutant driver listed in
# conformance/mutants/list.txt with the strategy recorded there.  A mutant
# is killed when the run reports any FAIL, CRASH, TIMEOUT or XPASS.  Prints
# the table mutant -> killing tests, the mutation score, writes
# results/mutants.json and ends with "N passed, N failed" (passed = killed).
set -u
conform=$1; dir=$2
list=$(dirname "$0")/mutants/list.txt
expect=$(dirname "$0")/expectations/reference.txt
out=${RESULTS:-results}/mutants
mkdir -p "$out"
killed=0; survived=0; rows=(); json=()
printf '%-24s %-14s %-8s %s\n' mutant strategy result "killed by (anchor expected to catch it)"
while read -r name strategy anchors extra; do
  case "$name" in ''|\#*) continue;; esac
  lc=$(echo "$name" | tr A-Z a-z)
  so=$dir/libtk_mut_$lc.so
  cfg=(--config "Strategy=$strategy")
  for kv in $extra; do cfg+=(--config "$kv"); done
  exp_args=(); [ -f "$expect" ] && exp_args=(--expect "$expect")
  if [ ! -f "$so" ]; then
    res=MISSING; by="(no $so)"; survived=$((survived + 1)); rc=2
  else
    "$conform" --impl "$so" "${cfg[@]}" "${exp_args[@]}" --timeout 60 --json "$out/$lc.json" > "$out/$lc.log" 2>&1
    rc=$?
    by=$(awk '$1 ~ /^(FAIL|CRASH|TIMEOUT|XPASS)$/ {printf "%s%s(%s)", (n++ ? " " : ""), $2, $1}' "$out/$lc.log")
    if [ $rc -ne 0 ] && [ -n "$by" ]; then res=KILLED; killed=$((killed + 1))
    elif [ $rc -ne 0 ]; then res=ERROR; by="tk-conform exited $rc (see $out/$lc.log)"; survived=$((survived + 1))
    else res=SURVIVED; by="-"; survived=$((survived + 1)); fi
  fi
  hit=no
  for a in ${anchors//,/ }; do
    if [ -f "$out/$lc.json" ] && grep -q "\"$a\"" "$out/$lc.json" 2>/dev/null; then
      # an anchor is 'hit' when a killing test names it
      for t in $(echo "$by" | grep -oE '[a-z0-9_]+\((FAIL|CRASH|TIMEOUT|XPASS)\)' | sed 's/(.*//'); do
        "$conform" --list --filter "$t" | grep -q " $a\b" && hit=yes
      done
    fi
  done
  printf '%-24s %-14s %-8s %s [%s: %s]\n' "$name" "$strategy" "$res" "$by" "$anchors" "$hit"
  json+=("{\"mutant\":\"$name\",\"strategy\":\"$strategy\",\"expected_anchors\":\"$anchors\",\"result\":\"$res\",\"expected_anchor_hit\":\"$hit\",\"killed_by\":\"$by\",\"log\":\"$out/$lc.log\"}")
done < "$list"
total=$((killed + survived))
score=$(awk -v k=$killed -v t=$total 'BEGIN { printf "%.1f", t ? 100 * k / t : 0 }')
echo
echo "mutation score: $killed/$total killed ($score%)"
{
  echo "{\"schema_version\":1,\"tool\":\"run-mutants\",\"killed\":$killed,\"total\":$total,\"score_percent\":$score,\"mutants\":["
  for i in "${!json[@]}"; do [ "$i" -gt 0 ] && echo ","; echo "${json[$i]}"; done
  echo "]}"
} > "${RESULTS:-results}/mutants.json"
echo "$killed passed, $survived failed"
[ "$survived" -eq 0 ]
