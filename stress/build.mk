# stress/build.mk — the reference under concurrency, churn and repetition
# (README.md "Reliability"):
#   make test-threaded-traces  every strategy threaded with tracing on, every trace
#                              verified by tk-verify (part of make test)
#   make test-churn-soak       bounded churn soak: memory must plateau (part of make test)
#   make soak                  opt-in: 5-minute churn soak, RSS over time in results/soak.json
#   make stress                opt-in: 200 stressed runs (orchard-like, megamorphic; 8/16
#                              threads, deletion on, small threshold and delay), every
#                              trace verified (results/stress.log)
$(eval $(call tk_prog_native,tk-churn-soak,stress/churn_soak.c,tkcli,$(DL_LIBS)))
SOAK_SECONDS ?= 300
STRESS_RUNS  ?= 200

.PHONY: test-threaded-traces test-churn-soak soak stress
test-threaded-traces: $(B)/bin/tk-bench $(B)/bin/tk-verify $(B)/lib/libtk_ref_driver.so
	ci/run-suite threaded-traces tally -- stress/threaded-traces.sh $(B)
test-churn-soak: $(B)/bin/tk-churn-soak $(B)/lib/libtk_ref_driver.so
	ci/run-suite churn-soak tally -- stress/churn-soak.sh $(B)
soak: $(B)/bin/tk-churn-soak $(B)/lib/libtk_ref_driver.so
	@mkdir -p $(RESULTS)
	$(B)/bin/tk-churn-soak --seconds $(SOAK_SECONDS) --sample 5000 --json $(RESULTS)/soak.json
stress: $(B)/bin/tk-bench $(B)/bin/tk-verify $(B)/lib/libtk_ref_driver.so
	@mkdir -p $(RESULTS)
	stress/stress.sh $(B) $(STRESS_RUNS) 2>&1 | tee $(RESULTS)/stress.log
TEST_TARGETS += test-threaded-traces test-churn-soak
TEST_BUILD += $(B)/bin/tk-churn-soak
