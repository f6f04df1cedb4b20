# reference/build.mk — libtierkit (the reference runtime), its driver .so,
# tests, the seed-counters example, sanitizer runs and per-mutant drivers.
REF_SRCS := reference/config.c reference/runtime.c reference/type.c reference/precode.c \
            reference/codeversion.c reference/backpatch.c reference/prestub.c \
            reference/callcount.c reference/tiering.c reference/counters.c \
            reference/trace.c reference/driver.c reference/lifetime.c \
            reference/strategies/registry.c reference/strategies/tep.c \
            reference/strategies/forwarder.c reference/strategies/precode_reuse.c \
            reference/strategies/lazy.c reference/strategies/entry_cell.c \
            reference/strategies/notier.c reference/strategies/eager_final.c
REF_TEST_SRCS := reference/tests/test_main.c reference/tests/test_units.c \
                 reference/tests/test_seed.c reference/tests/test_threaded.c \
                 reference/tests/test_impl.c reference/tests/test_config_env.c \
                 reference/tests/test_lifetime.c reference/tests/test_coreclr_config.c \
                 reference/tests/test_faults.c reference/tests/test_observe.c reference/tests/test_rejects.c \
                 reference/tests/test_counters.c reference/tests/test_bookkeeping.c \
                 reference/tests/test_callcount.c reference/tests/test_tiering.c \
                 arch/tests/fault_seam.c
# Every link of tk-ref-tests (native, arm64, sanitizer units, tk-mutate's ref
# unit) uses these flags: the arch tests' test-only link seam
# (arch/tests/fault_seam.h: injected mmap/allocation/thread-creation
# failures, allocation tracking, mutex checks) and the libraries.
REF_TEST_LDLIBS = $(ARCH_TEST_WRAP) $(CHECK_LIBS) $(URCU_LIBS)
REF_DRIVER_LDLIBS := $(URCU_LIBS) -Wl,--version-script=reference/driver.map

# libtierkit.a, which the reference tests and examples link, is built with
# the lock-rank checker (TK_LOCK_RANK_CHECK, `impl.lock-order`), from its
# own objects; the driver library (benchmarks, conformance, mutants) is
# built without it, so its hot paths take a mutex and nothing else.
REF_CHECKED := -DTK_LOCK_RANK_CHECK
$(B)/checked/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REF_CHECKED) $(CFLAGS) -MMD -MP -c $< -o $@
$(B64)/checked/obj/%.o: %.c
	@mkdir -p $(@D)
	$(XCC) $(CPPFLAGS) $(REF_CHECKED) $(CFLAGS) -MMD -MP -c $< -o $@
$(B)/lib/libtierkit.a: $(call tk_objs,$(B)/checked,$(REF_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(B64)/lib/libtierkit.a: $(call tk_objs,$(B64)/checked,$(REF_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && $(CROSS)ar rcs $@ $^
ALL_NATIVE += $(B)/lib/libtierkit.a
ALL_ARM64  += $(B64)/lib/libtierkit.a
$(B)/obj/reference/tests/%.o $(B64)/obj/reference/tests/%.o $(B)/obj/reference/examples/%.o \
  $(B64)/obj/reference/examples/%.o: CPPFLAGS += $(REF_CHECKED)
$(eval $(call tk_so,libtk_ref_driver,$(REF_SRCS),tkarch,$(REF_DRIVER_LDLIBS)))
$(eval $(call tk_prog,tk-ref-tests,$(REF_TEST_SRCS),tierkit tkarch,$(REF_TEST_LDLIBS)))
$(eval $(call tk_prog,tk-seed-counters,reference/examples/seed_counters.c,tierkit tkarch tkcli,$(URCU_LIBS)))

.PHONY: test-ref test-ref-arm64 test-asan test-tsan ref-mutants
test-ref: $(B)/bin/tk-ref-tests
	ci/run-suite ref check -- $<
test-ref-arm64: $(B64)/bin/tk-ref-tests
	CK_FORK=no $(QEMU_ENV) ci/run-suite ref-arm64 check -- $(QEMU) $<
TEST_TARGETS += test-ref test-ref-arm64

# ---- sanitizer builds (native): everything, arch included, instrumented --------
# One set of flags per sanitizer, shared by these builds and by tk-mutate's
# sanitizer units (conformance/build.mk), which recompile a mutated source
# with exactly these flags and link it with these objects.
#   asan: AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer; any
#         UB report is fatal (-fno-sanitize-recover), so it fails the test.
#   tsan: ThreadSanitizer.
REF_SAN_asan := -fsanitize=address,undefined -fno-sanitize-recover=undefined
REF_SAN_tsan := -fsanitize=thread
REF_SAN_CFLAGS = $(REF_CHECKED) -O1 $(REF_SAN_$(1)) -fno-omit-frame-pointer
REF_SAN_SRCS = $(REF_SRCS) $(REF_TEST_SRCS) $(ARCH_PORTABLE) $(ARCH_X86_64)
# How each sanitizer build runs (make test and tk-mutate's units alike).
REF_SAN_ENV_asan := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
REF_SAN_ENV_tsan := CK_FORK=no TSAN_OPTIONS="suppressions=$(CURDIR)/reference/tests/tsan.supp halt_on_error=1"
REF_SAN_PREFIX_tsan := setarch -R
# $$(CPPFLAGS): expanded per target, so pattern-specific additions (the arch
# tests' TK_SOURCE_DIR) apply to the sanitizer objects too.
define tk_ref_san
$(B)/$(1)/obj/%.o: %.c
	@mkdir -p $$(@D)
	$(CC) $$(CPPFLAGS) $(CFLAGS) $$(call REF_SAN_CFLAGS,$(1)) -MMD -MP -c $$< -o $$@
$(B)/$(1)/obj/%.o: %.S
	@mkdir -p $$(@D)
	$(CC) $$(CPPFLAGS) $(ASFLAGS) -MMD -MP -c $$< -o $$@
$(B)/$(1)/bin/tk-ref-tests: $$(call tk_objs,$(B)/$(1),$$(REF_SAN_SRCS))
	@mkdir -p $$(@D)
	$(CC) $(LDFLAGS) $$(REF_SAN_$(1)) -o $$@ $$^ $(REF_TEST_LDLIBS)
endef
$(eval $(call tk_ref_san,asan))
$(eval $(call tk_ref_san,tsan))

test-asan: $(B)/asan/bin/tk-ref-tests
	$(REF_SAN_ENV_asan) ci/run-suite ref-asan check -- $<
test-tsan: $(B)/tsan/bin/tk-ref-tests
	$(REF_SAN_ENV_tsan) $(REF_SAN_PREFIX_tsan) ci/run-suite ref-tsan check -- $<
TEST_TARGETS += test-asan test-tsan
TEST_BUILD += $(B)/asan/bin/tk-ref-tests $(B)/tsan/bin/tk-ref-tests

# ---- mutants: one driver .so per hand-written defect (native only) -----------
#   $(eval $(call tk_ref_mutant,SLOT_HOLDS_STUB))
#     -> build/lib/mutants/libtk_mut_slot_holds_stub.so, built by
#        conformance/mutants/build-mutant.sh from a copy of reference/ and
#        arch/ with conformance/mutants/patches/slot_holds_stub.patch applied
#        (the sources carry no mutant hooks; a stale patch fails the build).
# Instantiating the same mutant twice is harmless.
tk_ref_lc = $(call tk_lc,$(1))
TK_MUT_ENV = CC='$(CC)' CFLAGS='$(filter-out -DTK_GIT_REV=%,$(CPPFLAGS)) $(CFLAGS)' \
             LDLIBS='$(LDFLAGS) $(REF_DRIVER_LDLIBS)' REF_SRCS='$(REF_SRCS)' \
             ARCH_SRCS='$(ARCH_PORTABLE) $(ARCH_X86_64)' ARCH_LIB=$(B)/lib/libtkarch.a WORK=$(B)/mut-src
define tk_ref_mutant
ifeq ($$(TK_REF_MUT_DONE_$(1)),)
TK_REF_MUT_DONE_$(1) := 1
$(B)/lib/mutants/libtk_mut_$(call tk_ref_lc,$(1)).so: conformance/mutants/patches/$(call tk_ref_lc,$(1)).patch \
    conformance/mutants/build-mutant.sh $(REF_SRCS) $(wildcard reference/*.h reference/*/*.h) $(B)/lib/libtkarch.a reference/driver.map
	$(TK_MUT_ENV) conformance/mutants/build-mutant.sh $(1) $$@
REF_MUTANT_LIBS += $(B)/lib/mutants/libtk_mut_$(call tk_ref_lc,$(1)).so
endif
endef
REF_MUTANTS := SLOT_HOLDS_STUB NO_SAFEPOINT_WAIT TORN_TARGET INHERIT_COPIES_PARENT \
  OWNING_SLOT_FIRST RECORD_OUTSIDE_LOCK COUNT_FINAL_TIER DELAY_NOT_RESTARTED \
  FIRST_CALL_COUNTED PROMOTION_SKIPPED NEW_SLOT_BYPASS STALE_PRECODE \
  OWNING_SLOT_BYPASS FREE_BEFORE_UNPUBLISH
$(foreach m,$(REF_MUTANTS),$(eval $(call tk_ref_mutant,$(m))))
ref-mutants: $(REF_MUTANT_LIBS)

# ---- golden behaviour: every strategy's deterministic counters, traces,
# conformance statuses and instructions per call, compared exactly with the
# files recorded in reference/tests/golden/ (its README says when and how to
# re-record them: `make golden-update`, with the reason in the commit).
$(eval $(call tk_prog_native,tk-golden-scenarios,reference/tests/golden_scenarios.c,tierkit tkarch,$(URCU_LIBS)))
GOLDEN_DEPS := $(B)/bin/tk-golden-scenarios $(B)/bin/tk-bench $(B)/bin/tk-conform $(B)/lib/libtk_ref_driver.so \
               $(B)/bin/tk-instr-paths
.PHONY: test-golden golden-update
test-golden: $(GOLDEN_DEPS)
	ci/run-suite golden tally -- $(PY) reference/tests/golden.py --build $(B)
golden-update: $(GOLDEN_DEPS)
	$(PY) reference/tests/golden.py --build $(B) --update
TEST_TARGETS += test-golden
