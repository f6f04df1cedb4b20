/* fuzz/fuzz_expect.c — libFuzzer target: tk-conform's expectations parser
 * (conformance/expectations.c) and matching a test against what it parsed.
 * Seeds: conformance/expectations/.  The runner's driver and configuration
 * are absent here: matching sees no driver and no --config. */
#include "conformance/runner.h"

#include <stdint.h>
#include <string.h>

const tk_driver *D;
const char *tkt_base_config(const char *key) { (void)key; return NULL; }

static const tkt_test probe = { "counting_threshold_exact", "fuzz", { "inv.counting.threshold-exact", NULL }, NULL, 0 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tkc_expectations x = { 0 };
    char err[600] = "";
    if (tkc_expect_parse(&x, "fuzz.txt", (const char *)data, size, err, sizeof err) == 0) {
        const tkc_expectation *e = tkc_expect_find(&x, &probe);
        if (e && (e->status < 0 || e->status >= TKT_ST_COUNT)) __builtin_trap();
        tkc_result r = { .t = &probe, .raw = TKT_ST_PASS, .exp = e };
        tkc_apply_expectation(&r);
    } else if (!err[0]) {
        __builtin_trap();   /* a rejection always says why */
    }
    tkc_expect_free(&x);
    return 0;
}
