/* conformance/driver_load.c — loads the driver library under test and
 * checks its table before any test runs (a wrong ABI or a NULL mandatory
 * function is a usage error, exit 2, never a crash inside a test). */
#include "runner.h"

#include <dlfcn.h>
#include <stdio.h>

int tkc_load_driver(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "tk-conform: cannot load --impl '%s': %s\n", path, dlerror());
        return -1;
    }
    dlerror();
    tk_driver_entry_fn entry = (tk_driver_entry_fn)dlsym(h, TK_DRIVER_ENTRY_SYMBOL);
    const char *e = dlerror();
    if (e || !entry) {
        fprintf(stderr, "tk-conform: '%s' does not export %s (not a tierkit driver?)%s%s\n", path,
                TK_DRIVER_ENTRY_SYMBOL, e ? ": " : "", e ? e : "");
        return -1;
    }
    const tk_driver *d = entry();
    if (!d) {
        fprintf(stderr, "tk-conform: %s() in '%s' returned NULL\n", TK_DRIVER_ENTRY_SYMBOL, path);
        return -1;
    }
    if (d->abi_version != TK_DRIVER_ABI_VERSION) {
        fprintf(stderr, "tk-conform: '%s' implements driver ABI version %u; this tk-conform speaks version %u\n",
                path, d->abi_version, TK_DRIVER_ABI_VERSION);
        return -1;
    }
    /* The first table of ABI v1 ends at fp_arg_regs; later additions are
     * optional (TK_DRIVER_HAS). */
    if (d->size < offsetof(tk_driver, fp_arg_regs)) {
        fprintf(stderr, "tk-conform: '%s' driver table is %u bytes; ABI v%u needs at least %zu\n", path, d->size,
                TK_DRIVER_ABI_VERSION, offsetof(tk_driver, fp_arg_regs));
        return -1;
    }
#define TKC_NEED(fn) { #fn, d->fn == NULL }
    const struct { const char *name; int missing; } need[] = {
        TKC_NEED(create), TKC_NEED(destroy), TKC_NEED(type_define), TKC_NEED(type_load),
        TKC_NEED(vtable_slot), TKC_NEED(method_slot), TKC_NEED(method_state),
    };
#undef TKC_NEED
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i].missing) {
            fprintf(stderr, "tk-conform: '%s' driver table lacks the mandatory function '%s' (NULL)\n", path,
                    need[i].name);
            return -1;
        }
    /* functions a capability promises: a test that relies on the capability
     * would otherwise crash on the NULL entry instead of naming it */
#define TKC_CAPFN(cap, fn) { cap, #cap, #fn, d->fn == NULL }
    const struct { uint64_t cap; const char *cap_name, *fn; int missing; } capfn[] = {
        TKC_CAPFN(TK_CAP_DETERMINISTIC, clock_advance), TKC_CAPFN(TK_CAP_DETERMINISTIC, drain),
        TKC_CAPFN(TK_CAP_DETERMINISTIC, safepoint),
        TKC_CAPFN(TK_CAP_THREADED, thread_attach), TKC_CAPFN(TK_CAP_THREADED, thread_detach),
        TKC_CAPFN(TK_CAP_THREADED, safepoint), TKC_CAPFN(TK_CAP_THREADED, thread_offline),
        TKC_CAPFN(TK_CAP_THREADED, thread_online), TKC_CAPFN(TK_CAP_THREADED, drain),
        TKC_CAPFN(TK_CAP_INTERFACES, interface_slot), TKC_CAPFN(TK_CAP_TYPE_UNLOAD, type_unload),
        TKC_CAPFN(TK_CAP_VERSIONING, version_request), TKC_CAPFN(TK_CAP_VERSIONING, version_revert),
        TKC_CAPFN(TK_CAP_CLASSIFY, classify), TKC_CAPFN(TK_CAP_EVENTS, set_event_sink),
        TKC_CAPFN(TK_CAP_COUNTERS, counters),
    };
#undef TKC_CAPFN
    for (size_t i = 0; i < sizeof capfn / sizeof capfn[0]; i++)
        if ((d->caps & capfn[i].cap) && capfn[i].missing) {
            fprintf(stderr, "tk-conform: '%s' advertises %s but its driver table's '%s' is NULL\n", path,
                    capfn[i].cap_name, capfn[i].fn);
            return -1;
        }
    D = d;
    return 0;
}
