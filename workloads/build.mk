# workloads/build.mk — workload files (.wl) parser and generator (libtkwl),
# the benchmark driver tk-bench, the fake driver fixture and the workload
# tests.  Reference: SPEC.md "Workloads", README.md "Reproducing the published figures".
WL_CORE_SRCS := workloads/wl_parse.c workloads/wl_gen.c

$(eval $(call tk_lib,tkwl,$(WL_CORE_SRCS),,))
# --emit-csharp: the generator and the C# sources it embeds (.incbin, which
# the assembler's dependency output does not list)
WL_CSHARP_SRCS := workloads/wl_csharp.c workloads/wl_csharp_src.S
$(B)/obj/workloads/wl_csharp_src.o $(B64)/obj/workloads/wl_csharp_src.o: workloads/csharp/Runner.cs workloads/csharp/Probe.cs
$(eval $(call tk_prog,tk-bench,workloads/tk_bench.c workloads/wl_run.c workloads/wl_calls.c workloads/wl_universe.c workloads/wl_measure.c workloads/wl_converge.c workloads/wl_phases.c $(WL_CSHARP_SRCS),tkwl tkcli,$(DL_LIBS)))
$(eval $(call tk_so,libtk_fake_driver,workloads/tests/fake_driver.c,tkarch,))
# The fixture driver with a NULL entry in its table (safepoint), for
# tk-bench's "NULL function pointer" error (cli/tests/cli-tests.sh).
$(B)/lib/tests/libtk_fake_null_fn.so: workloads/tests/fake_driver.c $(B)/lib/libtkarch.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DTK_FAKE_NULL_SAFEPOINT -shared -o $@ $< $(B)/lib/libtkarch.a
$(eval $(call tk_prog,tk-workload-tests,workloads/tests/wl_tests.c,tkwl,$(CHECK_LIBS)))

.PHONY: test-workloads test-workloads-arm64 test-workloads-arm64-smoke
test-workloads: $(B)/bin/tk-workload-tests
	ci/run-suite workloads check -- $(B)/bin/tk-workload-tests
test-workloads-arm64: $(B64)/bin/tk-workload-tests
	CK_FORK=no $(QEMU_ENV) ci/run-suite workloads-arm64 check -- $(QEMU) build/arm64/bin/tk-workload-tests
# threaded tk-bench runs on arm64 under qemu (< 60 s): seed-vtable-test,
# orchard-like and megamorphic with rotation and type churn
test-workloads-arm64-smoke: $(B64)/bin/tk-bench $(B64)/lib/libtk_ref_driver.so
	$(QEMU_ENV) ci/run-suite workloads-arm64-smoke tally -- workloads/tests/arm64-smoke.sh $(QEMU) $(B64)/bin/tk-bench
TEST_TARGETS += test-workloads test-workloads-arm64 test-workloads-arm64-smoke
