# conformance/build.mk — the conformance suite: tk-conform (tests + runner),
# tk-verify (offline trace checker), the mutant drivers and their runs.
#
#   make conform      tk-conform against the reference driver, every strategy,
#                     then `make mutants`
#   make mutants      every mutant in conformance/mutants/list.txt must be
#                     killed (results/mutants.json)
# Suites registered in TEST_TARGETS: conform-x86_64-<strategy>, verify-tests,
# mutants, conform-arm64-<strategy> (qemu, --spawn).

# Every strategy the reference registers, read from the one table of designs
# (reference/strategies/registry.c, its X("name", ops) lines; README.md "Adding
# a strategy") with make's own functions, so a new design gets its conformance
# suites without a second list to keep.  An empty list is a parse error: the
# table's shape changed and this line must follow it.
conf_lp := (
conf_comma := ,
CONF_STRATEGIES := $(patsubst X$(conf_lp)"%"$(conf_comma),%,$(filter X$(conf_lp)"%"$(conf_comma),$(file <reference/strategies/registry.c)))
ifeq ($(strip $(CONF_STRATEGIES)),)
$(error conformance/build.mk: no X("name", ops) line found in reference/strategies/registry.c)
endif
CONF_TESTS      := $(sort $(wildcard conformance/tests/test_*.c))
CONF_GEN        := $(B)/gen/conformance/spec_anchors.c
CONF_TKT_SRCS   := $(addprefix conformance/,tkt_registry.c tkt_config.c tkt_calllog.c tkt_introspect.c tkt_events.c tkt_time.c)
CONF_SRCS       := conformance/runner.c conformance/driver_load.c conformance/expectations.c \
                   conformance/isolation.c conformance/report.c $(CONF_TKT_SRCS) conformance/tkv.c conformance/json.c \
                   conformance/verify_cli.c $(CONF_TESTS) $(CONF_GEN)
VERIFY_SRCS     := conformance/verify_main.c conformance/verify_cli.c conformance/tkv.c conformance/json.c
REF_DRIVER      := $(B)/lib/libtk_ref_driver.so
REF_DRIVER64    := $(B64)/lib/libtk_ref_driver.so
CONF_TIMEOUT    ?= 60
CONF_EXPECT     := $(wildcard conformance/expectations/reference.txt)
CONF_EXPECT_ARGS := $(foreach f,$(CONF_EXPECT),--expect $(f))

# The spec's anchors become a C table at build time (the spec is the source).
$(CONF_GEN): SPEC.md conformance/gen-anchors.sh
	conformance/gen-anchors.sh $< $@
$(B)/obj/$(basename $(CONF_GEN)).o $(B64)/obj/$(basename $(CONF_GEN)).o: $(CONF_GEN)

$(eval $(call tk_prog,tk-conform,$(CONF_SRCS),tkcli,$(DL_LIBS) $(CHECK_LIBS) -lpthread))
$(eval $(call tk_prog,tk-verify,$(VERIFY_SRCS),tkcli,))

# ---- mutants (drivers built by reference/build.mk's tk_ref_mutant) ----------------
CONF_MUTANTS := $(shell awk '!/^\#/ && NF {print $$1}' conformance/mutants/list.txt 2>/dev/null)
ifneq ($(tk_ref_mutant),)
$(foreach m,$(CONF_MUTANTS),$(eval $(call tk_ref_mutant,$(m))))
endif
CONF_MUTANT_SOS := $(foreach m,$(CONF_MUTANTS),$(B)/lib/mutants/libtk_mut_$(call tk_lc,$(m)).so)

.PHONY: conform mutants conform-tools verify-tests conform-fake-driver \
        $(foreach s,$(CONF_STRATEGIES),conform-x86_64-$(s) conform-arm64-$(s))
conform-tools: $(B)/bin/tk-conform $(B)/bin/tk-verify $(REF_DRIVER)

# One suite per strategy: every test must PASS (or be UNSUPPORTED).
define conf_strategy_suite
conform-x86_64-$(1): conform-tools
	@mkdir -p $(RESULTS)
	ci/run-suite conform-x86_64-$(1) tally -- $(B)/bin/tk-conform --impl $(REF_DRIVER) \
	  --config Strategy=$(1) --timeout $(CONF_TIMEOUT) $(CONF_EXPECT_ARGS) \
	  --json $(RESULTS)/conform-x86_64-$(1).json --junit $(RESULTS)/conform-x86_64-$(1).xml
endef
$(foreach s,$(CONF_STRATEGIES),$(eval $(call conf_strategy_suite,$(s))))

# A driver with a wrong ABI version, for tk-conform's error-path tests.
$(B)/lib/conformance/libtk_bad_abi.so: conformance/tests/bad_abi_driver.c conformance/tk_driver.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $<

# A driver whose create() hangs, for the timeout and signal tests (cli/tests).
$(B)/lib/conformance/libtk_hang.so: conformance/tests/hang_driver.c conformance/tk_driver.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $<

verify-tests: conform-tools $(B)/lib/conformance/libtk_bad_abi.so
	ci/run-suite verify-tests tally -- conformance/tests/verify-tests.sh $(B)/bin/tk-verify $(B)/bin/tk-conform \
	  $(REF_DRIVER) $(B)/lib/conformance/libtk_bad_abi.so

TEST_BUILD += $(CONF_MUTANT_SOS) $(B)/lib/conformance/libtk_bad_abi.so
mutants: conform-tools $(CONF_MUTANT_SOS)
	ci/run-suite mutants tally -- conformance/run-mutants.sh $(B)/bin/tk-conform $(B)/lib/mutants

# The same suite on arm64 under qemu-user, every strategy; --spawn starts a
# fresh process per test instead of forking inside the emulator.
define conf_strategy_suite_arm64
conform-arm64-$(1): $(B64)/bin/tk-conform $(REF_DRIVER64)
	@mkdir -p $(RESULTS)
	QEMU=$(QEMU) $(QEMU_ENV) ci/run-suite conform-arm64-$(1) tally -- $(QEMU) $(B64)/bin/tk-conform --spawn \
	  --impl $(REF_DRIVER64) --config Strategy=$(1) --timeout 180 $(CONF_EXPECT_ARGS) \
	  --json $(RESULTS)/conform-arm64-$(1).json
endef
$(foreach s,$(CONF_STRATEGIES),$(eval $(call conf_strategy_suite_arm64,$(s))))

# One strategy again with a 64 KiB guest page: STUB_PAGE_SIZE becomes 64 KiB
# and the runtime runs on the 64 KiB stub templates (`stub.page-size`).
conform-arm64-64k-lazy: $(B64)/bin/tk-conform $(REF_DRIVER64)
	@mkdir -p $(RESULTS)
	QEMU="$(QEMU) -p 65536" $(QEMU_ENV) ci/run-suite conform-arm64-64k-lazy tally -- $(QEMU) -p 65536 \
	  $(B64)/bin/tk-conform --spawn --impl $(REF_DRIVER64) --config Strategy=lazy --timeout 180 \
	  $(CONF_EXPECT_ARGS) --json $(RESULTS)/conform-arm64-64k-lazy.json
TEST_TARGETS += conform-arm64-64k-lazy
.PHONY: conform-arm64-64k-lazy

# A second, much smaller implementation of the ABI (the workloads' fixture
# driver: no tiering, no classification, no events): everything it lacks
# must come out UNSUPPORTED, never FAIL.
conform-fake-driver: $(B)/bin/tk-conform $(B)/lib/libtk_fake_driver.so
	@mkdir -p $(RESULTS)
	ci/run-suite conform-fake-driver tally -- $(B)/bin/tk-conform --impl $(B)/lib/libtk_fake_driver.so \
	  --expect conformance/expectations/fake-driver.txt --timeout $(CONF_TIMEOUT) --json $(RESULTS)/conform-fake-driver.json

conform:
	@status=0; for s in $(CONF_STRATEGIES); do $(MAKE) --no-print-directory conform-x86_64-$$s || status=1; done; \
	  $(MAKE) --no-print-directory verify-tests || status=1; \
	  $(MAKE) --no-print-directory mutants || status=1; exit $$status

TEST_TARGETS += $(foreach s,$(CONF_STRATEGIES),conform-x86_64-$(s)) verify-tests mutants conform-fake-driver \
                $(foreach s,$(CONF_STRATEGIES),conform-arm64-$(s))

# ---- generated mutants (conformance/mutate/) ------------------------------------------
#   make mutate                 every generated mutant (long: see README), results/mutate.json
#   make mutate MUTATE_SAMPLE=N a fixed random sample of N
#   make mutate-sample          the fixed sample `make test` runs (MUTATE_TEST_SAMPLE)
#   make mutate MUTATE_SAMPLE=N MUTATE_SEED=holdout
#                               another fixed sample (the seed picks it): a score on
#                               mutants the tests were not written against
#   make mutate MUTATE_ONLY="ID ..."  just those mutants (results/mutate-only.json)
#   make mutate-list [MUTATE_SAMPLE=N] [MUTATE_SEED=S]  the mutants (of a sample), with ids
MUTATE_SOURCES     = $(REF_SRCS) $(ARCH_PORTABLE) $(ARCH_X86_64)
# Mutated: every C source of the driver except arch/wx.c, the W^X checker
# that only the arch tests call (the driver never runs it).
MUTATE_TARGETS     = $(filter-out arch/wx.c %.S,$(MUTATE_SOURCES))
MUTATE_SAMPLE      ?= 0
MUTATE_SEED        ?= tierkit
# MUTATE_ONLY="ID ..." runs just those mutants (ids from make mutate-list),
# e.g. to check that a new test kills a survivor; no score gate then.
MUTATE_ONLY        ?=
MUTATE_JSON        ?= $(RESULTS)/mutate$(if $(MUTATE_ONLY),-only).json
MUTATE_TEST_SAMPLE ?= 12
# The sample in `make test` guards against a collapse of the suite's power
# (a broken runner, a test that stopped checking, a unit binary no longer
# run); the 90% target applies to `make mutate` and is reported there.  The
# gate sits one survivor below the sample's measured score (README).
MUTATE_TEST_MIN    ?= 80
MUTATE_JOBS        ?= 2
# MUTATE_UNITS=1 (default): a mutant that survives tk-conform is also run
# against the implementation's own unit tests, linked with it, the way
# `make test` runs them, and the report gives both scores (conformance suite
# only, whole suite).  MUTATE_UNITS=0: the conformance suite alone.
# The units, in the order they run (cheapest and most likely to kill first;
# the first that fails kills the mutant; each must pass on the unmutated
# code first, or tk-mutate stops):
#   arch       tk-arch-tests (test-arch), arch mutants only
#   arch-asan  tk-arch-tests under ASan+LSan+UBSan (test-arch-asan), arch only
#   ref        tk-ref-tests, lock-rank checker on (test-ref)
#   ref-asan   tk-ref-tests under ASan+LSan+UBSan (test-asan)
#   ref-tsan   tk-ref-tests under TSan, CK_FORK=no, setarch -R (test-tsan)
# The sanitizer units take their objects, flags, environment and prefix
# from reference/build.mk's sanitizer block; the mutated file is recompiled
# with the unit's flags.
MUTATE_UNITS       ?= 1
mutate_arch_srcs = $(ARCH_PORTABLE) $(ARCH_X86_64)
# $(call mutate_san_unit,NAME,SANITIZER,SOURCES,TEST-SOURCES,LIBS)
mutate_san_unit = --unit '$(1)|$(B)/$(2)/obj|$(call REF_SAN_CFLAGS,$(2))|$(3)|$(call tk_objs,$(B)/$(2),$(4))|$(REF_SAN_$(2)) $(5)|$(REF_SAN_ENV_$(2))|$(REF_SAN_PREFIX_$(2))'
MUTATE_UNIT_arch      = --unit 'arch||| $(mutate_arch_srcs)|$(call tk_objs,$(B),$(ARCH_TEST_SRCS))|$(ARCH_TEST_LDLIBS)'
MUTATE_UNIT_arch-asan = $(call mutate_san_unit,arch-asan,asan,$(mutate_arch_srcs),$(ARCH_TEST_SRCS),$(ARCH_TEST_LDLIBS))
MUTATE_UNIT_ref       = --unit 'ref|$(B)/checked/obj|$(REF_CHECKED)|$(MUTATE_SOURCES)|$(call tk_objs,$(B),$(REF_TEST_SRCS))|$(REF_TEST_LDLIBS)'
MUTATE_UNIT_ref-asan  = $(call mutate_san_unit,ref-asan,asan,$(MUTATE_SOURCES),$(REF_TEST_SRCS),$(REF_TEST_LDLIBS))
MUTATE_UNIT_ref-tsan  = $(call mutate_san_unit,ref-tsan,tsan,$(MUTATE_SOURCES),$(REF_TEST_SRCS),$(REF_TEST_LDLIBS))
# MUTATE_UNIT_NAMES picks units (in this order) for a quicker exploratory run,
# e.g. MUTATE_UNIT_NAMES="arch ref"; scores are only comparable with the
# default set, which is what `make test` and reported figures use.
MUTATE_UNIT_NAMES    ?= arch arch-asan ref ref-asan ref-tsan
MUTATE_UNIT_ARGS = $(foreach u,$(MUTATE_UNIT_NAMES),$(MUTATE_UNIT_$(u)))
MUTATE_UNIT_DEPS = $(B)/bin/tk-ref-tests $(B)/bin/tk-arch-tests $(B)/asan/bin/tk-arch-tests \
                   $(B)/asan/bin/tk-ref-tests $(B)/tsan/bin/tk-ref-tests
# Trivial Compiler Equivalence also compiles each mutant with the arm64 cross
# compiler when there is one (make test's arm64 suites build the same sources).
MUTATE_TCE_ARGS = $(if $(shell command -v $(XCC) 2>/dev/null),--tce-cc $(XCC))
MUTATE_ARGS = $(MUTATE_TCE_ARGS) --sources '$(MUTATE_SOURCES)' --mutate '$(MUTATE_TARGETS)' --objdir $(B)/obj --cc '$(CC)' --cflags '$(CPPFLAGS) $(CFLAGS)' \
              --ldflags '$(LDFLAGS) $(REF_DRIVER_LDLIBS)' --conform $(B)/bin/tk-conform $(CONF_EXPECT_ARGS) \
              --seed '$(MUTATE_SEED)' --jobs $(MUTATE_JOBS) $(if $(filter 1,$(MUTATE_UNITS)),$(MUTATE_UNIT_ARGS))
.PHONY: mutate mutate-sample mutate-list
mutate: conform-tools $(if $(filter 1,$(MUTATE_UNITS)),$(MUTATE_UNIT_DEPS))
	@mkdir -p $(RESULTS)
	conformance/mutate/tk-mutate $(MUTATE_ARGS) --sample $(MUTATE_SAMPLE) $(foreach i,$(MUTATE_ONLY),--only $(i)) \
	  $(if $(MUTATE_ONLY),--min-score 0) --json $(MUTATE_JSON)
mutate-list:
	@conformance/mutate/tk-mutate $(MUTATE_ARGS) --sample $(MUTATE_SAMPLE) --list
mutate-sample: conform-tools $(if $(filter 1,$(MUTATE_UNITS)),$(MUTATE_UNIT_DEPS))
	@mkdir -p $(RESULTS)
	ci/run-suite mutate-sample tally -- conformance/mutate/tk-mutate $(MUTATE_ARGS) --sample $(MUTATE_TEST_SAMPLE) \
	  --min-score $(MUTATE_TEST_MIN) --json $(RESULTS)/mutate-sample.json
TEST_TARGETS += mutate-sample

# tk-mutate's own tests (a timed-out or interrupted mutant run leaves no
# process behind; unit specs are validated).
.PHONY: test-mutate-tool
test-mutate-tool: $(B)/bin/tk-conform $(B)/lib/conformance/libtk_hang.so
	TK_CONFORM=$(B)/bin/tk-conform TK_HANG_DRIVER=$(B)/lib/conformance/libtk_hang.so \
	  ci/run-suite mutate-tool pytest -- $(PY) -m pytest -q conformance/mutate/tests
TEST_TARGETS += test-mutate-tool
