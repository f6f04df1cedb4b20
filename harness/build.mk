# harness/build.mk — `make reproduce` (the README's main command) and the
# harness's pytest suite.  The harness is Python 3 stdlib only, run with $(PY);
# it only runs binaries (tk-bench, valgrind) and reads their JSON/output.
#   make reproduce                     full run, < 3 minutes on 2 cores
#   make reproduce REPRODUCE_QUICK=1   quick run, < 60 s
# Results: results/reproduce.json (harness/schema/reproduce.schema.json) and
# results/reproduce.md.  See docs/readme/50-reproduce.md.
.PHONY: reproduce test-harness

reproduce: deps
	@$(MAKE) --no-print-directory native
	REPRODUCE_QUICK=$(REPRODUCE_QUICK) $(PY) harness/reproduce.py

test-harness: $(B)/bin/tk-bench $(B)/lib/libtk_fake_driver.so
	ci/run-suite harness pytest -- $(PY) -m pytest -q harness/tests
TEST_TARGETS += test-harness
