/* fuzz/fuzz_workload.c — libFuzzer target: the workload file parser
 * (workloads/wl_parse.c) and, for files it accepts, the universe generator
 * (workloads/wl_gen.c).  Seeds: workloads/defs/ and workloads/tests/bad/.
 * Sizes are capped before generation so one input stays fast; the
 * generator's own checks (and ASan/UBSan/LeakSanitizer) decide the rest. */
#include "workloads/wl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int too_big(const tk_wl_spec *s)
{
    return s->classes > 2000 || s->burst_classes > 200 || s->interfaces > 200 || s->sites > 2000 ||
           s->handlers > 200 || s->burst_handlers > 50 || s->fanout_interfaces > 20 ||
           s->interface_methods > 16 || s->root_virtuals > 16 || s->derived_virtuals > 16 ||
           s->nonvirtuals_per_type > 16 || s->handler_sites > 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16 || memchr(data, 0, size)) return 0;   /* the file loader rejects NUL bytes */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    static tk_wl_spec spec;
    char err[1024];
    if (tk_wl_parse_text_ex("fuzz.wl", text, NULL, &spec, err, sizeof err) == 0 && !too_big(&spec)) {
        static tk_wl_universe u;
        if (tk_wl_generate(&spec, &u, err, sizeof err) == 0) {
            char fp[17];
            tk_wl_fingerprint_hex(&u, fp);
            tk_wl_universe_free(&u);
        }
    }
    free(text);
    return 0;
}
