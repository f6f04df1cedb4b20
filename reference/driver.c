/* reference/driver.c — the driver ABI (conformance/tk_driver.h) over
 * libtierkit.  libtk_ref_driver.so exports only tk_driver_v1; the design
 * is chosen per runtime by the Strategy config key.  Configuration:
 * defaults, then TK_<Key> environment variables, then the config array
 * (explicit keys win). */
#include "rt_internal.h"

#include <string.h>

#ifndef TK_GIT_REV
#define TK_GIT_REV "unknown"
#endif

static tk_drv_runtime *drv_create(const char *const *config, char *err, size_t errlen)
{
    tk_config cfg;
    tk_config_defaults(&cfg);
    if (tk_config_from_env(&cfg, err, errlen)) return NULL;
    /* Two passes: the keys that govern how others are read
     * (CallCountThresholdClamp) first, whatever their place in the array. */
    for (int pass = 0; pass < 2; pass++)
        for (const char *const *kvp = config; kvp && *kvp; kvp++) {
            const char *kv = *kvp, *eq = strchr(kv, '=');
            char key[128];
            if (!eq || (size_t)(eq - kv) >= sizeof key) {
                if (err && errlen) snprintf(err, errlen, "config: malformed entry '%s' (expected Key=Value)", kv);
                return NULL;
            }
            memcpy(key, kv, (size_t)(eq - kv));
            key[eq - kv] = 0;
            if (tkr_config_key_first(key) == !pass && tk_config_set(&cfg, key, eq + 1, err, errlen)) return NULL;
        }
    return tk_runtime_create(&cfg, err, errlen);
}

static size_t drv_describe(tk_drv_runtime *rt, char *buf, size_t len) { return tk_config_describe(&rt->cfg, buf, len); }
static uint32_t drv_vtable_size(tk_drv_type *t) { return tk_type_vtable_size(t); }
static const char *drv_method_name(tk_drv_method *m) { return tk_method_name(m); }
static tk_drv_method *drv_virtual_method(tk_drv_type *t, uint32_t s) { return tk_type_virtual_method(t, s); }
static tk_drv_method *drv_nonvirtual_method(tk_drv_type *t, uint32_t i) { return tk_type_nonvirtual_method(t, i); }

/* The optional keys of SPEC.md "Optional configuration keys" this runtime
 * implements (reference/config.c, CoreCLR's EEConfig::sync semantics). */
static const char *const g_config_keys[] = {
    "CallCountThresholdClamp", "DelaySingleProcMultiplier", "PROCESSOR_COUNT", "AggressiveTiering", NULL
};

static const tk_driver g_driver = {
    .abi_version = TK_DRIVER_ABI_VERSION,
    .size = sizeof(tk_driver),
    .name = "tierkit-reference",
    .version = "1.0 (" TK_GIT_REV ")",
    .caps = TK_CAP_DETERMINISTIC | TK_CAP_THREADED | TK_CAP_INTERFACES | TK_CAP_TYPE_UNLOAD |
            TK_CAP_VERSIONING | TK_CAP_STUB_DELETION | TK_CAP_CLASSIFY | TK_CAP_EVENTS |
            TK_CAP_COUNTERS | TK_CAP_PGO | TK_CAP_TRACE_FILE,
    .strategies = tk_strategy_names,
    .create = drv_create,
    .destroy = tk_runtime_destroy,
    .describe_config = drv_describe,
    .type_define = tk_type_define,
    .type_load = tk_type_load,
    .type_unload = tk_type_unload,
    .vtable_size = drv_vtable_size,
    .virtual_method = drv_virtual_method,
    .nonvirtual_method = drv_nonvirtual_method,
    .object_new = tk_object_new,
    .object_free = tk_object_free,
    .vtable_slot = tk_vtable_slot,
    .interface_slot = tk_interface_slot,
    .method_slot = tk_method_slot,
    .thread_attach = tk_thread_register,
    .thread_detach = tk_thread_unregister,
    .safepoint = tk_safepoint,
    .thread_offline = tk_thread_offline,
    .thread_online = tk_thread_online,
    .clock_advance = tk_clock_advance,
    .drain = tk_drain,
    .version_request = tk_version_request,
    .version_revert = tk_version_revert,
    .method_state = tk_method_get_state,
    .method_name = drv_method_name,
    .classify = tk_classify_address,
    .counters = tk_counters,
    .set_event_sink = tk_set_event_sink,
    /* Entries pass xmm0-7 / v0-v7 through untouched: the trampolines save
     * and restore them (arch/, `stub.scratch-registers-only`). */
    .fp_arg_regs = 8,
    .config_keys = g_config_keys,
};

__attribute__((visibility("default"))) const tk_driver *tk_driver_v1(void) { return &g_driver; }
