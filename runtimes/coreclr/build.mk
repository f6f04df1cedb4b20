# runtimes/coreclr/build.mk: observing .NET 10 (CoreCLR) with tierkit's own
# recogniser (SPEC.md "CoreCLR observation", README "Running a workload on
# .NET 10").  dotnet is optional: every target reports SKIP without it.
#   make reproduce-coreclr     side-by-side tables, results/coreclr.json
#   make conform-coreclr       invariants observable on .NET 10 (PASS/FAIL/UNSUPPORTED)
$(eval $(call tk_prog,tk-coreclr-classify,runtimes/coreclr/classify.c,tkarch,))

CORECLR_PY := runtimes/coreclr/dotnet_run.py runtimes/coreclr/observe.py
.PHONY: reproduce-coreclr conform-coreclr test-coreclr
reproduce-coreclr: deps
	@$(MAKE) --no-print-directory native $(REPRO_AS_MERGED)
	$(PY) runtimes/coreclr/reproduce_coreclr.py $(if $(REPRODUCE_QUICK),--quick,)

conform-coreclr: native
	$(PY) runtimes/coreclr/conform_coreclr.py --json $(RESULTS)/coreclr-conform.json

# The CoreCLR observation suite: recogniser and parsers on recorded bytes
# always; the .NET runs (one build per workload, reused) when dotnet is
# present, SKIP with the reason otherwise.
test-coreclr: $(B)/bin/tk-bench $(B)/bin/tk-coreclr-classify
	ci/run-suite coreclr pytest -- $(PY) -m pytest -q -rs runtimes/coreclr/tests
TEST_TARGETS += test-coreclr
