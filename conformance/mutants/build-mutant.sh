#!/usr/bin/env bash
# usage: conformance/mutants/build-mutant.sh NAME OUT.so
#   environment: CC, CFLAGS (CPPFLAGS + CFLAGS of the build), LDLIBS (the
#   driver's link flags), REF_SRCS and ARCH_SRCS (sources of the driver),
#   ARCH_LIB (the built libtkarch.a), WORK (a scratch directory); PATCH_FILE
#   (optional) a patch kept elsewhere (harness/inject/: injected regressions)
#
# Builds the hand-written mutant NAME (conformance/mutants/patches/NAME.patch,
# described in conformance/mutants/mutants.md) as a driver library: copies
# reference/ and arch/ into WORK/NAME, applies the patch there with no fuzz,
# and compiles the copy.  The sources themselves are never changed: the
# reference reads as the reference.  A patch that no longer applies exactly
# (the code it changes was edited) stops the build with the failing hunk
# named, so a stale mutant fails loudly instead of silently testing nothing.
set -euo pipefail
name=$1; out=$2
here=$(cd "$(dirname "$0")" && pwd)
patch_file=${PATCH_FILE:-$here/patches/$(echo "$name" | tr A-Z a-z).patch}
[ -f "$patch_file" ] || { echo "build-mutant: no patch for mutant $name ($patch_file)" >&2; exit 2; }
: "${CC:?}" "${REF_SRCS:?}" "${ARCH_SRCS:?}" "${ARCH_LIB:?}" "${WORK:?}"
dir=$WORK/$(echo "$name" | tr A-Z a-z)
rm -rf "$dir"
mkdir -p "$dir"
cp -R reference arch "$dir/"
if ! (cd "$dir" && patch -p1 --fuzz=0 --no-backup-if-mismatch --batch -s < "$patch_file") >"$dir/patch.log" 2>&1; then
  echo "build-mutant: STALE MUTANT $name: $patch_file no longer applies to reference/ and arch/:" >&2
  sed 's/^/  /' "$dir/patch.log" >&2
  echo "  (re-create the patch against the current sources, see conformance/mutants/mutants.md)" >&2
  exit 1
fi
# Only what the patch changed needs the copy; arch is taken from the build
# unless the patch touches it.
srcs=()
for s in $REF_SRCS; do srcs+=("$dir/$s"); done
arch=("$ARCH_LIB")
if grep -q '^+++ b/arch/' "$patch_file"; then
  arch=()
  for s in $ARCH_SRCS; do arch+=("$dir/$s"); done
fi
mkdir -p "$(dirname "$out")"
# -I the copy first, so the copy's headers win over the tree's.
# shellcheck disable=SC2086
$CC -I"$dir" -I"$dir/arch" -I"$dir/reference/include" $CFLAGS -shared -o "$out.tmp" "${srcs[@]}" "${arch[@]}" $LDLIBS
mv "$out.tmp" "$out"
