# bench/build.mk — stub-layer microbenchmarks (native only; included by
# arch/build.mk).
#   make bench        Google Benchmark: ns per call for each dispatch path
#   make bench-instr  instructions per call under valgrind (cachegrind),
#                     table on stdout + results/bench-instr.json
#   make bench-tierup runtime instructions per tiered method, per strategy,
#                     at TIERUP_SIZES methods (cachegrind; results/bench-tierup.json)
BENCH_ARGS  ?= --benchmark_min_time=0.2
INSTR_CALLS ?= 1000000
TIERUP_SIZES ?= 1000,10000,100000,300000
TIERUP_STRATEGIES ?= notier,forwarder,precode-reuse,lazy,entry-cell

$(eval $(call tk_prog_native,tk-bench-stubs,bench/dispatch_bench.cc bench/dispatch_paths.c,tkarch,-lbenchmark -lpthread))
$(eval $(call tk_prog_native,tk-instr-paths,bench/instr_paths.c bench/dispatch_paths.c,tkarch,))
$(eval $(call tk_prog_native,tk-tierup,bench/tierup.c,,$(DL_LIBS)))

.PHONY: bench bench-instr test-bench-instr bench-tierup
bench: $(B)/bin/tk-bench-stubs
	$< $(BENCH_ARGS)
bench-instr: $(B)/bin/tk-instr-paths
	@mkdir -p $(RESULTS)
	$(PY) bench/instr_report.py $< $(INSTR_CALLS) $(RESULTS)/bench-instr.json

# The same measurement as a test: every stub adds exactly the instructions
# its documented template executes (deterministic under valgrind).
test-bench-instr: $(B)/bin/tk-instr-paths
	@mkdir -p $(RESULTS)
	ci/run-suite bench-instr tally -- $(PY) bench/instr_report.py $< 100000 $(RESULTS)/bench-instr.json --check
TEST_TARGETS += test-bench-instr

# Runtime instructions per tiered method (bench/tierup_report.py): the
# runtime's own work from first call to final tier, per strategy and size.
bench-tierup: $(B)/bin/tk-tierup $(B)/lib/libtk_ref_driver.so
	@mkdir -p $(RESULTS)
	$(PY) bench/tierup_report.py $< $(B)/lib/libtk_ref_driver.so $(RESULTS)/bench-tierup.json \
	  --sizes $(TIERUP_SIZES) --strategies $(TIERUP_STRATEGIES) $(TIERUP_ARGS)
