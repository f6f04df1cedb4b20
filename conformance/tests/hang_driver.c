/* conformance/tests/hang_driver.c — a driver whose create() never returns
 * (it writes its process id to $TK_HANG_PIDFILE first), for tk-conform's
 * timeout and SIGINT/SIGTERM tests (cli/tests/cli-tests.sh): the test
 * child must be killed, never left running.  Every mandatory entry is
 * present so that tk-conform accepts the table. */
#include "tk_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static tk_drv_runtime *hang_create(const char *const *config, char *err, size_t errlen)
{
    const char *pf = getenv("TK_HANG_PIDFILE");
    if (pf) {
        FILE *f = fopen(pf, "a");
        if (f) { fprintf(f, "%ld\n", (long)getpid()); fclose(f); }
    }
    for (;;) pause();
    return NULL;
}
static void hang_destroy(tk_drv_runtime *rt) {}
static tk_drv_type *hang_type_define(tk_drv_runtime *rt, const tk_type_def *def, char *err, size_t errlen) { return NULL; }
static int hang_type_load(tk_drv_runtime *rt, tk_drv_type *t) { return -1; }
static void **hang_vtable_slot(tk_drv_type *t, uint32_t slot) { return NULL; }
static void **hang_method_slot(tk_drv_method *m) { return NULL; }
static void hang_method_state(tk_drv_runtime *rt, tk_drv_method *m, tk_method_state *out) {}
static void hang_rt(tk_drv_runtime *rt) {}
static void hang_clock(tk_drv_runtime *rt, uint64_t ms) {}

static const tk_driver hang = {
    .abi_version = TK_DRIVER_ABI_VERSION, .size = sizeof(tk_driver), .name = "hang", .version = "0",
    .caps = TK_CAP_DETERMINISTIC,
    .create = hang_create, .destroy = hang_destroy, .type_define = hang_type_define, .type_load = hang_type_load,
    .vtable_slot = hang_vtable_slot, .method_slot = hang_method_slot, .method_state = hang_method_state,
    .safepoint = hang_rt, .drain = hang_rt, .clock_advance = hang_clock,
};

__attribute__((visibility("default"))) const tk_driver *tk_driver_v1(void) { return &hang; }
