# harness/build.mk — `make reproduce` (the README's main command) and the
# harness's pytest suite.  The harness is Python 3 stdlib only, run with $(PY);
# it only runs binaries (tk-bench, valgrind) and reads their JSON/output.
#   make reproduce                     full run, < 3 minutes on 2 cores
#   make reproduce REPRODUCE_QUICK=1   quick run, < 60 s
#   make reproduce REPRODUCE_STRATEGY=eager-final
#                                      also run a registered design besides
#                                      the published five
#   make reproduce-sensitivity         opt-in: the as-merged regression over a
#                                      grid of tier0_cost x owning-slot share
#                                      (results/sensitivity.json/.md, < 4 min)
# Results: results/reproduce.json (harness/schema/reproduce.schema.json) and
# results/reproduce.md.  See README.md "Reproducing the published figures".
.PHONY: reproduce reproduce-sensitivity test-harness

# The as-merged row of orchard-like (PR #124664 with the owning-slot bypass)
# runs the reference's OWNING_SLOT_BYPASS mutant driver.  reference/build.mk
# defines the template and guards against double instantiation, so asking
# for it again here is harmless; without the template the row is left out.
ifneq ($(filter tk_ref_mutant,$(.VARIABLES)),)
$(eval $(call tk_ref_mutant,OWNING_SLOT_BYPASS))
REPRO_AS_MERGED := $(B)/lib/mutants/libtk_mut_owning_slot_bypass.so
endif

# -j: the as-merged mutant driver is a dozen objects; build them in parallel
# also when `make reproduce` itself was started without -j.
reproduce: deps
	@$(MAKE) --no-print-directory -j$$(nproc) native $(REPRO_AS_MERGED)
	REPRODUCE_QUICK=$(REPRODUCE_QUICK) $(PY) harness/reproduce.py $(if $(REPRODUCE_STRATEGY),--strategy $(REPRODUCE_STRATEGY))
	@if [ "$(REPRODUCE_CORECLR)" = 1 ]; then $(MAKE) --no-print-directory reproduce-coreclr; fi

reproduce-sensitivity: deps
	@$(MAKE) --no-print-directory -j$$(nproc) native $(REPRO_AS_MERGED)
	REPRODUCE_QUICK=$(REPRODUCE_QUICK) $(PY) harness/reproduce.py --sensitivity

# Injected regressions (harness/inject/NAME.patch): real code changes built
# like the mutants, as variant drivers, for tk-track's tests (README
# "Tracking performance in CI").  x86-64 only, as the tracker's runners.
TRACK_INJECT := $(B)/lib/inject/libtk_inj_plus_one_counted_call.so
$(B)/lib/inject/libtk_inj_%.so: harness/inject/%.patch conformance/mutants/build-mutant.sh $(REF_SRCS) \
    $(ARCH_PORTABLE) $(ARCH_X86_64) $(wildcard reference/*.h reference/*/*.h arch/*.h) $(B)/lib/libtkarch.a reference/driver.map
	$(TK_MUT_ENV) WORK=$(B)/inject-src PATCH_FILE=$(CURDIR)/$< conformance/mutants/build-mutant.sh $* $@
TEST_BUILD += $(TRACK_INJECT)

test-harness: $(B)/bin/tk-bench $(B)/bin/tk-tierup $(B)/lib/libtk_ref_driver.so $(B)/lib/libtk_fake_driver.so $(TRACK_INJECT)
	ci/run-suite harness pytest -- $(PY) -m pytest -q harness/tests
TEST_TARGETS += test-harness

# ---- tk-track: regression tracking (README "Tracking performance in CI") ----
#   make track                 quick suite, HEAD vs its merge base with main
#                              (or its parent), measured here, interleaved;
#                              the base is built in a temporary git worktree.
#                              TRACK_BASE=REV / TRACK_SUITE=NAME override.
#   make track-calibrate       A/A false-positive rate + injected regressions
#                              -> results/track-calibration.json (~15 min)
#   make track-report          results/track-report/index.html from the history
TRACK_SUITE ?= quick
.PHONY: track track-calibrate track-report test-track
track: deps $(B)/bin/tk-bench $(B)/bin/tk-tierup $(B)/lib/libtk_ref_driver.so
	$(PY) harness/tk-track gate --suite $(TRACK_SUITE) $(if $(TRACK_BASE),--base $(TRACK_BASE)) \
	  --markdown $(RESULTS)/track-gate.md --json $(RESULTS)/track-gate.json

track-report:
	$(PY) harness/tk-track report

# The variant-driver injection: the reference's COUNT_FINAL_TIER mutant.
ifneq ($(filter tk_ref_mutant,$(.VARIABLES)),)
$(eval $(call tk_ref_mutant,COUNT_FINAL_TIER))
TRACK_VARIANT := $(B)/lib/mutants/libtk_mut_count_final_tier.so
endif

track-calibrate: deps $(B)/bin/tk-bench $(B)/bin/tk-tierup $(B)/lib/libtk_ref_driver.so $(TRACK_VARIANT)
	$(PY) harness/track_calibrate.py
