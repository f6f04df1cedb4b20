# arch/build.mk — libtkarch (stub layer), its tests and the stub benchmarks.
ARCH_PORTABLE := arch/stubheap.c arch/codeheap.c arch/classify.c arch/wx.c arch/trampoline.c
ARCH_X86_64   := arch/x86_64/templates.S arch/x86_64/trampolines.S arch/x86_64/arch_x86_64.c
ARCH_ARM64    := arch/arm64/templates.S arch/arm64/trampolines.S arch/arm64/arch_arm64.c

$(eval $(call tk_lib,tkarch,$(ARCH_PORTABLE),$(ARCH_X86_64),$(ARCH_ARM64)))

# ---- tests (Check) ------------------------------------------------------------
ARCH_TEST_SRCS := arch/tests/test_arch.c arch/tests/test_faults.c arch/tests/test_model.c arch/tests/test_contract.c \
                  arch/tests/fault_seam.c
# Test-only link seam (arch/tests/fault_seam.h): the arch tests' binary
# routes these symbols through wrappers that can fail the Nth call
# (`stub.map-failure`) and check every mutex unlock (`stub.heap-lock`).
# Production objects are unchanged; tk-mutate links its arch unit the same way,
# and tk-ref-tests links the same seam (reference/build.mk REF_TEST_LDLIBS).
ARCH_TEST_WRAP := -Wl,--wrap=mmap,--wrap=mprotect,--wrap=memfd_create,--wrap=ftruncate,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=pthread_mutex_lock,--wrap=pthread_mutex_trylock,--wrap=pthread_mutex_unlock,--wrap=pthread_mutex_init,--wrap=pthread_mutex_destroy,--wrap=pthread_create,--wrap=pthread_cond_timedwait,--wrap=free
ARCH_TEST_LDLIBS := $(ARCH_TEST_WRAP) $(CHECK_LIBS)
$(eval $(call tk_prog,tk-arch-tests,$(ARCH_TEST_SRCS),tkarch,$(ARCH_TEST_LDLIBS)))
$(B)/obj/arch/tests/%.o $(B64)/obj/arch/tests/%.o: CPPFLAGS += -DTK_SOURCE_DIR=\"$(CURDIR)\"


.PHONY: test-arch test-arch-arm64 test-arch-arm64-64k
test-arch: $(B)/bin/tk-arch-tests
	ci/run-suite arch-x86_64 check -- $<
test-arch-arm64: $(B64)/bin/tk-arch-tests
	CK_FORK=no $(QEMU_ENV) ci/run-suite arch-arm64 check -- $(QEMU) $<
# The same suite with a 64 KiB guest page (qemu -p): STUB_PAGE_SIZE = 64 KiB,
# exercising the 64 KiB template set (`stub.page-size`); the SPEC drift test
# covers the 16 KiB tables only and passes trivially here.
test-arch-arm64-64k: $(B64)/bin/tk-arch-tests
	CK_FORK=no $(QEMU_ENV) ci/run-suite arch-arm64-64k check -- $(QEMU) -p 65536 $<
TEST_TARGETS += test-arch test-arch-arm64 test-arch-arm64-64k

# ---- the arch tests under AddressSanitizer + LeakSanitizer + UBSan (native) ----
# Objects and flags from reference/build.mk's sanitizer block (the same
# objects as the ASan tk-ref-tests); linked with the same --wrap seam as
# tk-arch-tests.  Catches what the tests' own checks cannot see: a freed
# page-group record never freed (a leak), a memmove one element too far.
$(B)/asan/bin/tk-arch-tests: $(call tk_objs,$(B)/asan,$(ARCH_TEST_SRCS) $(ARCH_PORTABLE) $(ARCH_X86_64))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(REF_SAN_asan) -o $@ $^ $(ARCH_TEST_LDLIBS)
$(B)/asan/obj/arch/tests/%.o: CPPFLAGS += -DTK_SOURCE_DIR=\"$(CURDIR)\"
.PHONY: test-arch-asan
test-arch-asan: $(B)/asan/bin/tk-arch-tests
	$(REF_SAN_ENV_asan) ci/run-suite arch-asan check -- $<
TEST_TARGETS += test-arch-asan
TEST_BUILD += $(B)/asan/bin/tk-arch-tests

-include bench/build.mk
