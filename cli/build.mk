# cli/build.mk — what every tierkit tool shares at its command line
# (libtkcli): the output discipline (cli/outfile.h) and strict numbers
# (cli/numarg.h).  README.md "Reliability".
$(eval $(call tk_lib,tkcli,cli/outfile.c cli/numarg.c,,))

# Every tool's command line against bad input and failing output.
CLI_TEST_DEPS = $(B)/bin/tk-bench $(B)/bin/tk-verify $(B)/bin/tk-conform $(B)/bin/tk-seed-counters \
                $(B)/lib/libtk_ref_driver.so $(B)/lib/libtk_fake_driver.so \
                $(B)/lib/tests/libtk_fake_null_fn.so $(B)/lib/conformance/libtk_hang.so
.PHONY: test-cli
test-cli: $(CLI_TEST_DEPS)
	ci/run-suite cli tally -- cli/tests/cli-tests.sh $(B)
TEST_TARGETS += test-cli
TEST_BUILD += $(CLI_TEST_DEPS)
