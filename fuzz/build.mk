# fuzz/build.mk — libFuzzer targets (clang-14, libclang-rt-14-dev from
# ci/deps), built with AddressSanitizer (LeakSanitizer on), UBSan:
#   fuzz-workload  the .wl parser + universe generator   seeds: workloads/defs, workloads/tests/bad
#   fuzz-trace     tk-verify (JSON reader, checker)      seeds: conformance/tests/traces
#   fuzz-expect    tk-conform's expectations parser      seeds: conformance/expectations
# `make fuzz` runs each for FUZZ_SECONDS (default 600) on a corpus kept in
# results/fuzz/TARGET; `make test-fuzz` (in `make test`) is the 30-second
# smoke per target on a fresh copy of the seeds.  README.md "Reliability".
FUZZ_CC      ?= clang-14
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer -pthread $(FUZZ_SAN)
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_TARGETS := fuzz-workload fuzz-trace fuzz-expect

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

FUZZ_SRCS_fuzz-workload := fuzz/fuzz_workload.c workloads/wl_parse.c workloads/wl_gen.c
FUZZ_SRCS_fuzz-trace    := fuzz/fuzz_trace.c conformance/verify_cli.c conformance/tkv.c conformance/json.c cli/outfile.c
FUZZ_SRCS_fuzz-expect   := fuzz/fuzz_expect.c conformance/expectations.c

define tk_fuzz_target
$(B)/fuzz/bin/$(1): $(call tk_objs,$(B)/fuzz,$(FUZZ_SRCS_$(1)))
	@mkdir -p $$(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $$@ $$^ -lm
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call tk_fuzz_target,$(t))))
FUZZ_BINS := $(addprefix $(B)/fuzz/bin/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build test-fuzz
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	fuzz/run-fuzz.sh --keep $(B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
test-fuzz: $(FUZZ_BINS)
	ci/run-suite fuzz tally -- fuzz/run-fuzz.sh $(B) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)
TEST_TARGETS += test-fuzz
TEST_BUILD += $(FUZZ_BINS)
