# bench/build.mk — stub-layer microbenchmarks (native only; included by
# arch/build.mk).
#   make bench        Google Benchmark: ns per call for each dispatch path
#   make bench-instr  instructions per call under valgrind (cachegrind),
#                     table on stdout + results/bench-instr.json
BENCH_ARGS  ?= --benchmark_min_time=0.2
INSTR_CALLS ?= 1000000

$(eval $(call tk_prog_native,tk-bench-stubs,bench/dispatch_bench.cc bench/dispatch_paths.c,tkarch,-lbenchmark -lpthread))
$(eval $(call tk_prog_native,tk-instr-paths,bench/instr_paths.c bench/dispatch_paths.c,tkarch,))

.PHONY: bench bench-instr
bench: $(B)/bin/tk-bench-stubs
	$< $(BENCH_ARGS)
bench-instr: $(B)/bin/tk-instr-paths
	@mkdir -p $(RESULTS)
	$(PY) bench/instr_report.py $< $(INSTR_CALLS) $(RESULTS)/bench-instr.json
