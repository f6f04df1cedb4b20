/* reference/tests/test_bookkeeping.c — the reference's documented values and
 * bookkeeping, checked exactly: every field of the default configuration
 * and its description (SPEC.md "Configuration keys"), the effective
 * configuration at the single-CPU multiplier's boundaries
 * (`inv.config.single-proc-delay`), the exact results of the public API on
 * bad input (`inv.abi.reject-cleanly`), and the memory type load/unload
 * cycles keep (`impl.no-leak`, `impl.type-metadata-lifetime`: it grows by
 * one quarantined type per unload, then stays flat).  Manual clock. */
#include "reftest.h"
#include "../rt_internal.h"
#include "../../arch/tests/fault_seam.h"

#include <stddef.h>

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t bbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

/* SPEC.md "Configuration keys", the default column, as tk_config_describe
 * writes it. */
static const char spec_defaults[] =
    "Strategy=lazy\nCallCountThreshold=30\nCallCountingDelayMs=100\nTieredPGO=1\nTieredCompilation=1\n"
    "DeleteCallCountingStubsAfter=0\nMode=threaded\nCompileCostUs=0\nTrace=\nBackgroundWorkerTimeoutMs=4000\n"
    "CallCountingStubDeletion=all\nCallCountThresholdClamp=0\nDelaySingleProcMultiplier=10\nAggressiveTiering=0\n"
    "PROCESSOR_COUNT=0\n";

/* Every field of tk_config_defaults, whatever the struct held before. */
START_TEST(config_defaults_every_field)
{
    for (int fill = 0; fill < 2; fill++) {
        tk_config c;
        memset(&c, fill ? 0xff : 0x5a, sizeof c);
        tk_config_defaults(&c);
        ck_assert_uint_eq(c.call_count_threshold, 30);
        ck_assert_uint_eq(c.call_counting_delay_ms, 100);
        ck_assert_int_eq(c.tiered_pgo, true);
        ck_assert_int_eq(c.tiered_compilation, true);
        ck_assert_uint_eq(c.delete_stubs_after, 0);
        ck_assert_int_eq(c.strategy, TK_STRATEGY_LAZY);
        ck_assert_int_eq(c.mode, TK_MODE_THREADED);
        ck_assert_uint_eq(c.compile_cost_us, 0);
        for (size_t i = 0; i < sizeof c.trace_path; i++) ck_assert_int_eq(c.trace_path[i], 0);
        ck_assert_uint_eq(c.worker_timeout_ms, 4000);
        ck_assert_int_eq(c.stub_deletion, TK_STUB_DELETION_ALL);
        ck_assert_int_eq(c.threshold_clamp, false);
        ck_assert_uint_eq(c.delay_single_proc_multiplier, 10);
        ck_assert_int_eq(c.aggressive_tiering, false);
        ck_assert_uint_eq(c.processor_count, 0);
        char buf[1024];
        size_t n = tk_config_describe(&c, buf, sizeof buf);
        ck_assert_str_eq(buf, spec_defaults);
        ck_assert_uint_eq(n, strlen(spec_defaults));
        /* a short buffer: cut and terminated, the length still the whole */
        memset(buf, 'x', sizeof buf);
        ck_assert_uint_eq(tk_config_describe(&c, buf, 10), strlen(spec_defaults));
        ck_assert_str_eq(buf, "Strategy=");
        ck_assert_int_eq(buf[10], 'x');
    }
}
END_TEST

/* A runtime made without a configuration runs the defaults, made
 * effective: threaded, the affinity mask's CPUs, the delay multiplied by
 * 10 only when that count is 1. */
START_TEST(runtime_without_config_runs_the_defaults)
{
    char err[256] = "";
    tk_runtime *rt = tk_runtime_create(NULL, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    tk_config want;
    tk_config_defaults(&want);
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    want.processor_count = (uint32_t)CPU_COUNT(&set);
    if (want.processor_count == 1) want.call_counting_delay_ms *= 10;
    const tk_config *got = tk_runtime_config(rt);
    char a[1024], b[1024];
    tk_config_describe(&want, a, sizeof a);
    tk_config_describe(got, b, sizeof b);
    ck_assert_str_eq(b, a);
    ck_assert_int_eq(memcmp(got->trace_path, want.trace_path, sizeof want.trace_path), 0);
    tk_runtime_destroy(rt);
}
END_TEST

/* `inv.config.single-proc-delay` at each boundary: the count (0, 1, 2),
 * the multiplier (0, 1, 2, 10, the largest), the 32-bit product (the
 * largest that fits, the smallest that overflows), a zero delay, and
 * AggressiveTiering after the multiplier; the threshold is never touched
 * by the multiplier; the description shows the effective values. */
START_TEST(single_proc_delay_boundaries)
{
    static const struct { const char *cpus, *mult, *delay; int aggr; uint32_t want_delay, want_thr; } cases[] = {
        { "0", "10", "100", 0, 100, 30 },             /* deterministic, count unknown */
        { "1", "10", "100", 0, 1000, 30 },
        { "2", "10", "100", 0, 100, 30 },
        { "65535", "10", "100", 0, 100, 30 },
        { "1", "0", "100", 0, 100, 30 },
        { "1", "1", "100", 0, 100, 30 },
        { "1", "2", "100", 0, 200, 30 },
        { "1", "2", "0", 0, 0, 30 },
        { "1", "3", "1", 0, 3, 30 },
        { "1", "1193", "3600000", 0, 4294800000u, 30 },
        { "1", "1194", "3600000", 0, 3600000, 30 },
        { "1", "4294967295", "1", 0, 4294967295u, 30 },
        { "1", "4294967295", "2", 0, 2, 30 },
        { "1", "2147483648", "2", 0, 2, 30 },         /* 2^32 wraps to 0 */
        { "1", "2147483647", "2", 0, 4294967294u, 30 },
        { "1", "10", "100", 1, 0, 1 },
        { "2", "10", "100", 1, 0, 1 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *ex[] = { "PROCESSOR_COUNT", cases[k].cpus, "DelaySingleProcMultiplier", cases[k].mult,
                             "CallCountingDelayMs", cases[k].delay, "AggressiveTiering", cases[k].aggr ? "1" : "0",
                             NULL };
        tk_runtime *rt = rt_new(NULL, ex);
        const tk_config *c = tk_runtime_config(rt);
        ck_assert_msg(c->call_counting_delay_ms == cases[k].want_delay,
                      "count %s x%s delay %s aggressive %d: effective delay %u, expected %u", cases[k].cpus,
                      cases[k].mult, cases[k].delay, cases[k].aggr, c->call_counting_delay_ms, cases[k].want_delay);
        ck_assert_uint_eq(c->call_count_threshold, cases[k].want_thr);
        ck_assert_uint_eq(c->processor_count, (uint32_t)strtoul(cases[k].cpus, NULL, 10));
        ck_assert_uint_eq(c->delay_single_proc_multiplier, (uint32_t)strtoul(cases[k].mult, NULL, 10));
        char d[1024], line[64];
        tk_config_describe(c, d, sizeof d);
        snprintf(line, sizeof line, "\nCallCountingDelayMs=%u\n", cases[k].want_delay);
        ck_assert_msg(strstr(d, line), "describe: '%s' lacks '%s'", d, line);
        tk_runtime_destroy(rt);
    }
}
END_TEST

/* `inv.abi.reject-cleanly`: each documented refusal of the public API is
 * exactly its documented value (-1 / NULL), and changes nothing: the type
 * still works afterwards. */
START_TEST(api_refusals_exact)
{
    fx f;
    fx_init_with(&f, "lazy", NULL, bbody);
    tk_runtime *rt = f.rt;
    char err[256];
    ck_assert_int_eq(tk_type_load(rt, NULL), -1);
    ck_assert_int_eq(tk_type_unload(rt, NULL), -1);
    ck_assert_int_eq(tk_type_load(rt, f.base), -1);                /* already loaded */
    tk_type_def cd = { "C", f.base, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
    tk_type *c = tk_type_define(rt, &cd, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(tk_vtable_slot(c, 0));                      /* not loaded: no vtable */
    ck_assert_ptr_null(tk_object_new(rt, c));
    ck_assert_int_eq(tk_type_unload(rt, c), -1);                   /* never loaded */
    ck_assert_int_eq(tk_type_load(rt, c), 0);
    ck_assert_int_eq(tk_type_unload(rt, f.base), -1);              /* a loaded child */
    ck_assert_ptr_nonnull(tk_vtable_slot(c, 1));
    ck_assert_ptr_null(tk_vtable_slot(c, 2));                      /* past the vtable */
    ck_assert_ptr_null(tk_type_virtual_method(c, 2));
    ck_assert_ptr_null(tk_type_nonvirtual_method(c, 0));
    ck_assert_ptr_eq(tk_type_virtual_method(c, 1), tk_type_virtual_method(f.base, 1));
    ck_assert_uint_eq(tk_type_vtable_size(c), 2);
    ck_assert_str_eq(tk_type_name(c), "C");
    tk_method *v1 = tk_type_virtual_method(f.base, 1);
    ck_assert_str_eq(tk_method_name(v1), "Base.V1");
    ck_assert_int_eq(call_slot(tk_vtable_slot(c, 1), f.obj, 5), 2005);
    ck_assert_int_eq(tk_type_unload(rt, c), 0);
    ck_assert_int_eq(tk_type_unload(rt, c), -1);                   /* twice */
    ck_assert_int_eq(tk_type_load(rt, c), -1);                     /* reload of an unloaded type */
    ck_assert_ptr_null(tk_vtable_slot(c, 0));
    ck_assert_ptr_null(tk_object_new(rt, c));
    /* base still works, and can now unload */
    ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, 1), 1001);
    tk_method *n = tk_type_nonvirtual_method(f.base, 0);
    void **ns = tk_method_slot(n);
    ck_assert_ptr_nonnull(ns);
    ck_assert_int_eq(call_slot(ns, f.obj, 2), 3002);
    tk_object_free(rt, f.obj);
    f.obj = NULL;
    ck_assert_int_eq(tk_type_unload(rt, f.base), 0);
    ck_assert_ptr_null(tk_method_slot(n));                          /* dead method: no slot */
    ck_assert_ptr_null(tk_method_slot(v1));
    ck_assert_ptr_null(tk_vtable_slot(f.base, 0));
    ck_assert_ptr_null(tk_type_define(rt, &cd, err, sizeof err));  /* parent unloaded */
    ck_assert_str_eq(err, "type C: parent type is unloaded");
    ck_assert_ptr_null(tk_type_define(rt, NULL, err, sizeof err));
    ck_assert_str_eq(err, "type ?: NULL definition");
    /* no names: "?" for the type and the method, ids still distinct */
    tk_method_def anon[2] = { { NULL, bbody, (void *)7, 0 }, { NULL, bbody, (void *)8, 0 } };
    tk_type_def nd = { NULL, NULL, 0, 2, anon, 0, NULL, 0, NULL, 0, NULL };
    tk_type *nt = tk_type_define(rt, &nd, err, sizeof err);
    ck_assert_ptr_nonnull(nt);
    ck_assert_str_eq(tk_type_name(nt), "?");
    ck_assert_str_eq(tk_method_name(tk_type_virtual_method(nt, 0)), "?");
    ck_assert_uint_ne(tk_method_id(tk_type_virtual_method(nt, 0)), tk_method_id(tk_type_virtual_method(nt, 1)));
    ck_assert_uint_ne(tk_method_id(tk_type_virtual_method(nt, 0)), tk_method_id(v1));
    fx_done(&f);
}
END_TEST

/* `impl.no-leak` / `impl.type-metadata-lifetime`: a type's load, calls up
 * to its final tier and unload leave exactly its quarantined structs
 * behind: the blocks still allocated grow by the same number per unloaded
 * type until the quarantine is full, then stay flat; destroying the
 * runtime frees the rest. */
START_TEST(type_cycles_keep_only_the_quarantine)
{
    /* Each cycle: a parent P and a child C (overrides V0, adds V2), both
     * loaded, every method called to its final tier, C unloaded, then P.
     * Two quarantined types per cycle: full after Q/2 cycles; from then on
     * each cycle evicts the oldest C and P, and P's struct goes once no
     * child struct names it (children first). */
    enum { Q = TKR_QUARANTINE_TYPES, CYCLES = TKR_QUARANTINE_TYPES / 2 + 4 };
    /* pass 0: warm-up (the stub layer's process-wide pools and registry) */
    for (int pass = 0; pass < 2; pass++)
    for (int s = 0; s < (int)tk_strategy_count(); s++) {
        const char *ex[] = { "CallCountThreshold", "1", "CallCountingDelayMs", "1", "TieredPGO", "1",
                             "DeleteCallCountingStubsAfter", "1", NULL };
        if (pass) tkf_track_begin();
        tk_runtime *rt = rt_new(tk_strategy_names[s], ex);
        size_t live[CYCLES];
        char err[256];
        for (int i = 0; i < (pass ? CYCLES : 2); i++) {
            tk_method_def v[2] = { { "P.V0", bbody, (void *)1, 0 }, { "P.V1", bbody, (void *)2, 0 } };
            tk_method_def nv[1] = { { "P.N", bbody, (void *)3, 0 } };
            tk_type_def d = { "P", NULL, 0, 2, v, 0, NULL, 1, nv, 0, NULL };
            tk_type *p = tk_type_define(rt, &d, err, sizeof err);
            ck_assert_msg(p != NULL, "%s", err);
            ck_assert_int_eq(tk_type_load(rt, p), 0);
            tk_override_def ov[1] = { { 0, { "C.V0", bbody, (void *)4, 0 } } };
            tk_method_def cv[1] = { { "C.V2", bbody, (void *)5, 0 } };
            tk_type_def cd = { "C", p, 0, 1, cv, 1, ov, 0, NULL, 0, NULL };
            tk_type *c = tk_type_define(rt, &cd, err, sizeof err);
            ck_assert_msg(c != NULL, "%s", err);
            ck_assert_int_eq(tk_type_load(rt, c), 0);
            tk_object *o = tk_object_new(rt, p), *oc = tk_object_new(rt, c);
            for (int r = 0; r < 8; r++) {
                ck_assert_int_eq(call_slot(tk_vtable_slot(p, 0), o, r), 1000 + r);
                ck_assert_int_eq(call_slot(tk_vtable_slot(p, 1), o, r), 2000 + r);
                ck_assert_int_eq(call_slot(tk_method_slot(tk_type_nonvirtual_method(p, 0)), o, r), 3000 + r);
                ck_assert_int_eq(call_slot(tk_vtable_slot(c, 0), oc, r), 4000 + r);
                ck_assert_int_eq(call_slot(tk_vtable_slot(c, 1), oc, r), 2000 + r);
                ck_assert_int_eq(call_slot(tk_vtable_slot(c, 2), oc, r), 5000 + r);
                advance_and_drain(rt, 2);
            }
            tk_object_free(rt, o);
            tk_object_free(rt, oc);
            ck_assert_int_eq(tk_type_unload(rt, c), 0);
            ck_assert_int_eq(tk_type_unload(rt, p), 0);
            tk_drain(rt);
            live[i] = pass ? tkf_track_live() : 0;
            ck_assert_int_eq(tk_counter_total(rt, "live_stub_bytes"), 0);
            ck_assert_int_eq(tk_counter_total(rt, "counting_info_bytes"), 0);
        }
        if (!pass) { tk_runtime_destroy(rt); continue; }
        size_t per = live[1] - live[0];
        ck_assert_msg(live[1] > live[0], "%s: nothing kept per unloaded pair", tk_strategy_names[s]);
        for (int i = 1; i < Q / 2; i++)
            ck_assert_msg(live[i] - live[i - 1] == per, "%s: cycle %d kept %zd blocks, the ones before %zu",
                          tk_strategy_names[s], i, (ssize_t)(live[i] - live[i - 1]), per);
        for (int i = Q / 2; i < CYCLES; i++)
            ck_assert_msg(live[i] == live[Q / 2 - 1], "%s: cycle %d with a full quarantine: %zu blocks live, %zu "
                          "before", tk_strategy_names[s], i, live[i], live[Q / 2 - 1]);
        tk_runtime_destroy(rt);
        size_t left = tkf_track_live();
        size_t sz = 0;
        void *first = tkf_track_first(&sz);
        tkf_track_end();
        ck_assert_msg(left == 0, "%s: %zu blocks left after destroy (first %p, %zu bytes)", tk_strategy_names[s], left,
                      first, sz);
    }
}
END_TEST

/* ---- every key at its bounds (SPEC "Configuration keys", `cfg.reject`) ---- */

static void expect_reject(tk_config *c, const char *key, const char *value, const char *allowed)
{
    tk_config before = *c;
    char err[512], want[512];
    memset(err, 0, sizeof err);
    ck_assert_msg(tk_config_set(c, key, value, err, sizeof err) == -1, "%s=%s accepted", key, value ? value : "NULL");
    if (allowed) {
        snprintf(want, sizeof want, "config: invalid value '%s' for key %s (allowed: %s)", value ? value : "(null)",
                 key, allowed);
        ck_assert_str_eq(err, want);
    }
    ck_assert_msg(!memcmp(&before, c, sizeof before), "%s=%s: rejected, yet the configuration changed", key,
                  value ? value : "NULL");
    /* no buffer, or an empty one: still refused, nothing written */
    ck_assert_int_eq(tk_config_set(c, key, value, NULL, 0), -1);
    char one[4] = "abc";
    ck_assert_int_eq(tk_config_set(c, key, value, one, 0), -1);
    ck_assert_str_eq(one, "abc");
    ck_assert_int_eq(tk_config_set(c, key, value, one, 1), -1);
    ck_assert_str_eq(one, "");
}

START_TEST(every_key_at_its_bounds)
{
    static const struct { const char *key, *lo, *hi, *below, *above, *allowed; size_t off; } num[] = {
        { "CallCountThreshold", "1", "65535", "0", "65536", "1..65535; CallCountThresholdClamp=1 clamps as CoreCLR does",
          offsetof(tk_config, call_count_threshold) },
        { "CallCountingDelayMs", "0", "3600000", NULL, "3600001", "0..3600000", offsetof(tk_config, call_counting_delay_ms) },
        { "DeleteCallCountingStubsAfter", "0", "1000000000", NULL, "1000000001", "0..1000000000 (0 = never)",
          offsetof(tk_config, delete_stubs_after) },
        { "CompileCostUs", "0", "10000000", NULL, "10000001", "0..10000000", offsetof(tk_config, compile_cost_us) },
        { "BackgroundWorkerTimeoutMs", "1", "3600000", "0", "3600001", "1..3600000", offsetof(tk_config, worker_timeout_ms) },
        { "DelaySingleProcMultiplier", "0", "4294967295", NULL, "4294967296", "0..4294967295 (0 and 1: no multiplier)",
          offsetof(tk_config, delay_single_proc_multiplier) },
        { "PROCESSOR_COUNT", "0", "65535", NULL, "65536", "0..65535 (0: the affinity mask's CPUs)",
          offsetof(tk_config, processor_count) },
    };
    for (size_t k = 0; k < sizeof num / sizeof *num; k++) {
        tk_config c;
        tk_config_defaults(&c);
        uint32_t *field = (uint32_t *)((char *)&c + num[k].off);
        char err[256];
        ck_assert_int_eq(tk_config_set(&c, num[k].key, num[k].lo, err, sizeof err), 0);
        ck_assert_uint_eq(*field, strtoul(num[k].lo, NULL, 10));
        ck_assert_int_eq(tk_config_set(&c, num[k].key, num[k].hi, err, sizeof err), 0);
        ck_assert_uint_eq(*field, strtoul(num[k].hi, NULL, 10));
        ck_assert_int_eq(tk_config_set(&c, num[k].key, "0007", err, sizeof err), 0);
        ck_assert_uint_eq(*field, 7);
        if (num[k].below) expect_reject(&c, num[k].key, num[k].below, num[k].allowed);
        expect_reject(&c, num[k].key, num[k].above, num[k].allowed);
        static const char *const junk[] = { "", "+1", "-1", " 1", "1 ", "1x", "0x10", "99999999999999999999",
                                            "18446744073709551615", NULL };
        for (int j = 0; junk[j]; j++) expect_reject(&c, num[k].key, junk[j], num[k].allowed);
        expect_reject(&c, num[k].key, NULL, num[k].allowed);
        ck_assert_uint_eq(*field, 7);
    }
    /* the threshold with the clamp: anything 0..2^32-1, clamped to 1..65535 */
    static const struct { const char *v; uint32_t want; } cl[] = {
        { "0", 1 }, { "1", 1 }, { "2", 2 }, { "65534", 65534 }, { "65535", 65535 }, { "65536", 65535 },
        { "4294967295", 65535 } };
    tk_config c;
    tk_config_defaults(&c);
    char err[256];
    ck_assert_int_eq(tk_config_set(&c, "CallCountThresholdClamp", "1", err, sizeof err), 0);
    ck_assert_int_eq(c.threshold_clamp, true);
    for (size_t k = 0; k < sizeof cl / sizeof *cl; k++) {
        ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", cl[k].v, err, sizeof err), 0);
        ck_assert_uint_eq(c.call_count_threshold, cl[k].want);
    }
    expect_reject(&c, "CallCountThreshold", "4294967296", "0..4294967295, clamped to 1..65535 (CallCountThresholdClamp=1)");
    /* the booleans */
    static const struct { const char *key; size_t off; } bools[] = {
        { "TieredPGO", offsetof(tk_config, tiered_pgo) }, { "TieredCompilation", offsetof(tk_config, tiered_compilation) },
        { "CallCountThresholdClamp", offsetof(tk_config, threshold_clamp) },
        { "AggressiveTiering", offsetof(tk_config, aggressive_tiering) } };
    static const struct { const char *v; bool b; } bv[] = {
        { "1", true }, { "0", false }, { "true", true }, { "false", false }, { "TRUE", true }, { "FaLsE", false } };
    for (size_t k = 0; k < sizeof bools / sizeof *bools; k++) {
        tk_config_defaults(&c);
        bool *field = (bool *)((char *)&c + bools[k].off);
        for (size_t j = 0; j < sizeof bv / sizeof *bv; j++) {
            ck_assert_int_eq(tk_config_set(&c, bools[k].key, bv[j].v, err, sizeof err), 0);
            ck_assert_int_eq(*field, bv[j].b);
        }
        static const char *const no[] = { "2", "yes", "", "10", "truex", "01", NULL };
        for (int j = 0; no[j]; j++) expect_reject(&c, bools[k].key, no[j], "0|1|true|false");
        expect_reject(&c, bools[k].key, NULL, "0|1|true|false");
    }
    /* the names */
    tk_config_defaults(&c);
    ck_assert_int_eq(tk_config_set(&c, "CallCountingStubDeletion", "inactive", err, sizeof err), 0);
    ck_assert_int_eq(c.stub_deletion, TK_STUB_DELETION_INACTIVE);
    ck_assert_int_eq(tk_config_set(&c, "CallCountingStubDeletion", "all", err, sizeof err), 0);
    ck_assert_int_eq(c.stub_deletion, TK_STUB_DELETION_ALL);
    expect_reject(&c, "CallCountingStubDeletion", "All", "all|inactive");
    expect_reject(&c, "CallCountingStubDeletion", NULL, "all|inactive");
    ck_assert_int_eq(tk_config_set(&c, "Mode", "deterministic", err, sizeof err), 0);
    ck_assert_int_eq(c.mode, TK_MODE_DETERMINISTIC);
    ck_assert_int_eq(tk_config_set(&c, "Mode", "threaded", err, sizeof err), 0);
    ck_assert_int_eq(c.mode, TK_MODE_THREADED);
    expect_reject(&c, "Mode", "Threaded", "deterministic|threaded");
    expect_reject(&c, "Mode", NULL, "deterministic|threaded");
    expect_reject(&c, "Strategy", NULL, NULL);
    /* Trace: a path of 511 bytes is kept whole, 512 is refused */
    char path[513];
    memset(path, 'p', 511);
    path[511] = 0;
    ck_assert_int_eq(tk_config_set(&c, "Trace", path, err, sizeof err), 0);
    ck_assert_str_eq(c.trace_path, path);
    path[511] = 'p';
    path[512] = 0;
    expect_reject(&c, "Trace", path, "a path shorter than 512 bytes");
    expect_reject(&c, "Trace", NULL, "a path shorter than 512 bytes");
    ck_assert_int_eq(tk_config_set(&c, "Trace", "", err, sizeof err), 0);
    ck_assert_str_eq(c.trace_path, "");
    /* unknown and NULL keys */
    ck_assert_int_eq(tk_config_set(&c, "Nope", "1", err, sizeof err), -1);
    ck_assert_str_eq(err, "config: unknown key Nope (value '1')");
    ck_assert_int_eq(tk_config_set(&c, "Nope", NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "config: unknown key Nope (value '(null)')");
    ck_assert_int_eq(tk_config_set(&c, NULL, "1", err, sizeof err), -1);
    ck_assert_str_eq(err, "config: invalid value '1' for key (null) (allowed: a known key)");
    ck_assert_int_eq(tk_config_set(&c, "Nope", "1", NULL, 0), -1);
}
END_TEST

/* tk_config_from_env names the variable ahead of tk_config_set's message,
 * in the caller's buffer, cut (and terminated) where the buffer ends; a
 * value applied cleanly leaves no message; nothing is applied after a
 * refused variable. */
START_TEST(env_message_prefix)
{
    static const char full[] = "environment variable TK_CallCountingDelayMs: config: invalid value '-1' for key "
                               "CallCountingDelayMs (allowed: 0..3600000)";
    setenv("TK_CallCountingDelayMs", "-1", 1);
    size_t lens[] = { sizeof full + 10, sizeof full, sizeof full - 1, 46, 45, 44, 20, 2, 1 };
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        char err[256];
        memset(err, 'x', sizeof err);
        tk_config c;
        tk_config_defaults(&c);
        ck_assert_int_eq(tk_config_from_env(&c, err, lens[k]), -1);
        ck_assert_msg(strlen(err) == (lens[k] > sizeof full ? sizeof full : lens[k]) - 1 &&
                      !strncmp(err, full, strlen(err)), "errlen %zu: '%s'", lens[k], err);
        ck_assert_int_eq(err[lens[k] > sizeof full ? sizeof full : lens[k]], 'x');
        ck_assert_uint_eq(c.call_counting_delay_ms, 100);
    }
    tk_config c;
    tk_config_defaults(&c);
    ck_assert_int_eq(tk_config_from_env(&c, NULL, 0), -1);
    /* a buffer of length 0: not one byte written, there or after it */
    char untouched[256];
    memset(untouched, 'x', sizeof untouched);
    ck_assert_int_eq(tk_config_from_env(&c, untouched, 0), -1);
    for (size_t i = 0; i < sizeof untouched; i++) ck_assert_int_eq(untouched[i], 'x');
    /* CompileCostUs comes after CallCountingDelayMs in the keys' order: a
     * refusal stops before it */
    setenv("TK_CompileCostUs", "5", 1);
    ck_assert_int_eq(tk_config_from_env(&c, NULL, 0), -1);
    ck_assert_uint_eq(c.compile_cost_us, 0);
    unsetenv("TK_CallCountingDelayMs");
    char err[64] = "junk";
    ck_assert_int_eq(tk_config_from_env(&c, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_uint_eq(c.compile_cost_us, 5);
    unsetenv("TK_CompileCostUs");
}
END_TEST

/* Runs fn(path, arg) in a forked child whose stderr goes to the file
 * `path`; the child must return 0.  Its stderr, up to cap - 1 bytes, is
 * left in out (NUL-terminated) and the file removed.  Used for what is
 * printed once per process (a copy of this one gets its own once-flags). */
static void stderr_of_child(const char *tag, int (*fn)(const char *path, void *arg), void *arg, char *out,
                            size_t cap)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/tk-refrt-%s-%d.txt", tag, (int)getpid());
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(path, "w", stderr)) _exit(2);
        int rc = fn(path, arg);
        fflush(stderr);
        _exit(rc);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s child: status %d", tag, st);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
    unlink(path);
}

static int env_warning_child(const char *path, void *arg)
{
    (void)arg;
    static const char *const tools[] = { "TK_WORKLOADS_DIR", "TK_CONFORM_KEEP_TRACE", "TK_RANDOM_PROGRAMS",
                                         "TK_RANDOM_SEEDS", "TK_RANDOM_DUMP", "TK_HANG_PIDFILE", NULL };
    tk_config c;
    char err[512] = "";
    for (int i = 0; tools[i]; i++) {
        setenv(tools[i], "x", 1);
        tk_config_defaults(&c);
        if (tk_config_from_env(&c, err, sizeof err)) return 10 + i;
        fflush(stderr);
        struct stat st;
        if (stat(path, &st) || st.st_size) return 20 + i;   /* silent */
    }
    setenv("TK_ZZZZZZZZZZZZ", "1", 1);
    if (tk_config_from_env(&c, err, sizeof err)) return 3;
    setenv("TK_QQQQQQQQQQQQ", "1", 1);
    if (tk_config_from_env(&c, err, sizeof err)) return 4;
    if (tk_config_from_env(&c, err, sizeof err)) return 5;
    fflush(stderr);
    return 0;
}

/* SPEC "Configuration keys": the tools' own TK_ variables are known (no
 * error, no warning); any other unknown TK_ name that does not look like a
 * key gets one warning on stderr per process, and is ignored.  In a child
 * process (the warning's once-flag is per process), stderr in a file. */
START_TEST(env_tool_variables_and_one_warning)
{
    char got[512];
    stderr_of_child("envwarn", env_warning_child, NULL, got, sizeof got);
    /* Without Check's fork mode (CK_FORK=no: qemu, TSan) an earlier test of
     * this process may have had the process's one warning already: then
     * the child (a copy) prints none, and nothing else. */
    const char *fork_mode = getenv("CK_FORK");
    if (!got[0] && fork_mode && !strcmp(fork_mode, "no")) return;
    ck_assert_str_eq(got, "tierkit: warning: environment variable TK_ZZZZZZZZZZZZ is not a tierkit configuration key "
                          "or tool variable; ignored\n");
}
END_TEST

/* SPEC "Configuration keys": the closest key is offered when at most
 * max(2, length/4) edits away, the length being the name's after TK_: a
 * 12-character name 3 edits from CompileCostUs gets the hint (an error),
 * though it has no lower-case letter. */
START_TEST(env_hint_at_a_quarter_of_the_length)
{
    tk_config c;
    tk_config_defaults(&c);
    char err[1024];
    setenv("TK_COMPXLECOSXU", "1", 1);
    int rc = tk_config_from_env(&c, err, sizeof err);
    unsetenv("TK_COMPXLECOSXU");
    ck_assert_int_eq(rc, -1);
    static const char want[] = "environment variable TK_COMPXLECOSXU: not a tierkit configuration key; did you mean "
                               "TK_CompileCostUs? (keys: ";
    ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
}
END_TEST

/* The clock (SPEC "Configuration keys", Mode): deterministic, a manual
 * clock from 0 that moves only by tk_clock_advance, by exactly the amount;
 * threaded, CLOCK_MONOTONIC in ms, which tk_clock_advance does not move. */
START_TEST(clock_of_each_mode)
{
    tk_runtime *rt = rt_new(NULL, NULL);
    ck_assert_uint_eq(tk_clock_now_ms(rt), 0);
    tk_clock_advance(rt, 0);
    ck_assert_uint_eq(tk_clock_now_ms(rt), 0);
    tk_clock_advance(rt, 7);
    tk_clock_advance(rt, 1ull << 40);
    ck_assert_uint_eq(tk_clock_now_ms(rt), 7 + (1ull << 40));
    tk_runtime_destroy(rt);
    rt = rt_new_mode("threaded", NULL, NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t now = tk_clock_now_ms(rt);
    tk_clock_advance(rt, 1000000000);
    uint64_t later = tk_clock_now_ms(rt);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t lo = (uint64_t)a.tv_sec * 1000 + (uint64_t)a.tv_nsec / 1000000;
    uint64_t hi = (uint64_t)b.tv_sec * 1000 + (uint64_t)b.tv_nsec / 1000000;
    ck_assert_msg(now >= lo && now <= later && later <= hi, "threaded clock %llu, %llu not within [%llu, %llu]",
                  (unsigned long long)now, (unsigned long long)later, (unsigned long long)lo, (unsigned long long)hi);
    tk_runtime_destroy(rt);
}
END_TEST

/* ---- the driver table (conformance/tk_driver.h) --------------------------- */

/* The reference's tk_driver: its identity, capabilities, strategies and
 * optional keys, each entry the public function it wraps, and create():
 * defaults, then TK_<Key> variables, then the array (explicit keys win;
 * the clamp first wherever it stands); a malformed entry or a bad value:
 * NULL and the message (`inv.abi.reject-cleanly`). */
START_TEST(driver_table_exact)
{
    const tk_driver *d = tk_driver_v1();
    ck_assert_uint_eq(d->abi_version, TK_DRIVER_ABI_VERSION);
    ck_assert_uint_eq(d->size, sizeof(tk_driver));
    ck_assert_str_eq(d->name, "tierkit-reference");
    ck_assert_int_eq(strncmp(d->version, "1.0 (", 5), 0);
    ck_assert_int_eq(d->version[strlen(d->version) - 1], ')');
    ck_assert_uint_eq(d->caps, TK_CAP_DETERMINISTIC | TK_CAP_THREADED | TK_CAP_INTERFACES | TK_CAP_TYPE_UNLOAD |
                               TK_CAP_VERSIONING | TK_CAP_STUB_DELETION | TK_CAP_CLASSIFY | TK_CAP_EVENTS |
                               TK_CAP_COUNTERS | TK_CAP_PGO | TK_CAP_TRACE_FILE);
    ck_assert_ptr_eq(d->strategies, tk_strategy_names);
    static const char *const keys[] = { "CallCountThresholdClamp", "DelaySingleProcMultiplier", "PROCESSOR_COUNT",
                                        "AggressiveTiering", NULL };
    for (int i = 0; keys[i]; i++) ck_assert_str_eq(d->config_keys[i], keys[i]);
    ck_assert_ptr_null(d->config_keys[4]);
    ck_assert_uint_eq(d->fp_arg_regs, 8);
    ck_assert_ptr_eq(d->destroy, tk_runtime_destroy);
    ck_assert_ptr_eq(d->type_define, tk_type_define);
    ck_assert_ptr_eq(d->type_load, tk_type_load);
    ck_assert_ptr_eq(d->type_unload, tk_type_unload);
    ck_assert_ptr_eq(d->object_new, tk_object_new);
    ck_assert_ptr_eq(d->object_free, tk_object_free);
    ck_assert_ptr_eq(d->vtable_slot, tk_vtable_slot);
    ck_assert_ptr_eq(d->interface_slot, tk_interface_slot);
    ck_assert_ptr_eq(d->method_slot, tk_method_slot);
    ck_assert_ptr_eq(d->thread_attach, tk_thread_register);
    ck_assert_ptr_eq(d->thread_detach, tk_thread_unregister);
    ck_assert_ptr_eq(d->safepoint, tk_safepoint);
    ck_assert_ptr_eq(d->thread_offline, tk_thread_offline);
    ck_assert_ptr_eq(d->thread_online, tk_thread_online);
    ck_assert_ptr_eq(d->clock_advance, tk_clock_advance);
    ck_assert_ptr_eq(d->drain, tk_drain);
    ck_assert_ptr_eq(d->version_request, tk_version_request);
    ck_assert_ptr_eq(d->version_revert, tk_version_revert);
    ck_assert_ptr_eq(d->method_state, tk_method_get_state);
    ck_assert_ptr_eq(d->classify, tk_classify_address);
    ck_assert_ptr_eq(d->counters, tk_counters);
    ck_assert_ptr_eq(d->set_event_sink, tk_set_event_sink);
    char err[512];
    /* the clamp applies before the threshold, wherever it stands */
    const char *clamp_last[] = { "Mode=deterministic", "CallCountThreshold=0", "Strategy=forwarder",
                                 "CallCountThresholdClamp=1", NULL };
    tk_runtime *rt = d->create(clamp_last, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    ck_assert_uint_eq(tk_runtime_config(rt)->call_count_threshold, 1);
    ck_assert_int_eq(tk_runtime_config(rt)->strategy, TK_STRATEGY_FORWARDER);
    char a[1024], b[1024];
    ck_assert_uint_eq(d->describe_config(rt, a, sizeof a), tk_config_describe(tk_runtime_config(rt), b, sizeof b));
    ck_assert_str_eq(a, b);
    tk_method_def v[2] = { { "D.V0", bbody, (void *)1, 0 }, { "D.V1", bbody, (void *)2, 0 } };
    tk_method_def nv[1] = { { "D.N", bbody, (void *)3, 0 } };
    tk_type_def td = { "D", NULL, 0, 2, v, 0, NULL, 1, nv, 0, NULL };
    tk_type *t = d->type_define(rt, &td, err, sizeof err);
    ck_assert_uint_eq(d->vtable_size(t), 2);
    ck_assert_ptr_eq(d->virtual_method(t, 1), tk_type_virtual_method(t, 1));
    ck_assert_ptr_null(d->virtual_method(t, 2));
    ck_assert_ptr_eq(d->nonvirtual_method(t, 0), tk_type_nonvirtual_method(t, 0));
    ck_assert_ptr_null(d->nonvirtual_method(t, 1));
    ck_assert_str_eq(d->method_name(d->virtual_method(t, 1)), "D.V1");
    ck_assert_str_eq(d->method_name(d->nonvirtual_method(t, 0)), "D.N");
    d->destroy(rt);
    /* the environment, then the array */
    setenv("TK_CallCountThreshold", "5", 1);
    setenv("TK_CompileCostUs", "9", 1);
    const char *thr7[] = { "Mode=deterministic", "CallCountThreshold=7", NULL };
    rt = d->create(thr7, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    ck_assert_uint_eq(tk_runtime_config(rt)->call_count_threshold, 7);
    ck_assert_uint_eq(tk_runtime_config(rt)->compile_cost_us, 9);
    d->destroy(rt);
    unsetenv("TK_CallCountThreshold");
    unsetenv("TK_CompileCostUs");
    /* refusals: exactly NULL and the message */
    const char *noeq[] = { "Mode=deterministic", "NoEquals", NULL };
    ck_assert_ptr_null(d->create(noeq, err, sizeof err));
    ck_assert_str_eq(err, "config: malformed entry 'NoEquals' (expected Key=Value)");
    char longkey[200];
    memset(longkey, 'K', 127);
    strcpy(longkey + 127, "=1");
    const char *k127[] = { longkey, NULL };
    ck_assert_ptr_null(d->create(k127, err, sizeof err));
    ck_assert_int_eq(strncmp(err, "config: unknown key KKK", 23), 0);
    memset(longkey, 'K', 128);
    strcpy(longkey + 128, "=1");
    ck_assert_ptr_null(d->create(k127, err, sizeof err));
    ck_assert_int_eq(strncmp(err, "config: malformed entry 'KKK", 28), 0);
    const char *badv[] = { "Mode=deterministic", "CallCountingDelayMs=-1", NULL };
    ck_assert_ptr_null(d->create(badv, err, sizeof err));
    ck_assert_str_eq(err, "config: invalid value '-1' for key CallCountingDelayMs (allowed: 0..3600000)");
    ck_assert_ptr_null(d->create(noeq, NULL, 0));
    /* no array at all: the defaults (threaded) */
    rt = d->create(NULL, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    ck_assert_int_eq(tk_runtime_config(rt)->mode, TK_MODE_THREADED);
    ck_assert_uint_eq(tk_runtime_config(rt)->call_count_threshold, 30);
    d->destroy(rt);
}
END_TEST

/* ---- mutator threads -------------------------------------------------------- */

/* tk_thread_register nests (a thread registered twice stays registered
 * until its second unregister; an extra unregister changes nothing), and
 * offline/online switch a registered thread's quiescent state only: an
 * offline thread is not put offline again by a runtime-internal wait and
 * is online again after unregister + register. */
static void *registration_thread(void *a)
{
    tk_runtime *rt = a;
    int *r = calloc(16, sizeof *r);
    int k = 0;
    r[k++] = tkr_thread_registered();            /* 0 */
    tk_thread_register(rt);
    tk_thread_register(rt);
    r[k++] = tkr_thread_registered();            /* 1 */
    tk_thread_unregister(rt);
    r[k++] = tkr_thread_registered();            /* 1 */
    tk_thread_offline(rt);
    bool was = tkr_begin_offline();
    r[k++] = was;                                /* 0: already offline */
    tkr_end_offline(was);
    tk_safepoint(rt);
    tk_thread_online(rt);
    was = tkr_begin_offline();
    r[k++] = was;                                /* 1: online */
    tkr_end_offline(was);
    tk_thread_offline(rt);
    tk_thread_unregister(rt);
    r[k++] = tkr_thread_registered();            /* 0 */
    tk_thread_unregister(rt);                    /* one too many */
    r[k++] = tkr_thread_registered();            /* 0 */
    tk_thread_register(rt);
    r[k++] = tkr_thread_registered();            /* 1 */
    was = tkr_begin_offline();
    r[k++] = was;                                /* 1: a new registration is online */
    tkr_end_offline(was);
    tk_thread_offline(rt);
    tk_thread_offline(rt);
    tk_thread_online(rt);
    was = tkr_begin_offline();
    r[k++] = was;                                /* 1 */
    tkr_end_offline(was);
    tk_safepoint(rt);
    tk_thread_unregister(rt);
    r[k++] = tkr_thread_registered();            /* 0 */
    tk_thread_offline(rt);                       /* not registered: nothing to do */
    tk_thread_online(rt);
    tk_safepoint(rt);
    was = tkr_begin_offline();
    r[k++] = was;                                /* 0 */
    tkr_end_offline(was);
    r[k++] = (int)tkr_thread_id();
    r[k++] = (int)tkr_thread_id();
    return r;
}

START_TEST(thread_registration_nests)
{
    tk_runtime *rt = rt_new(NULL, NULL);
    pthread_t t1, t2;
    int *r1, *r2;
    ck_assert_int_eq(pthread_create(&t1, NULL, registration_thread, rt), 0);
    pthread_join(t1, (void **)&r1);
    ck_assert_int_eq(pthread_create(&t2, NULL, registration_thread, rt), 0);
    pthread_join(t2, (void **)&r2);
    static const int want[] = { 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0 };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        ck_assert_msg(r1[i] == want[i], "step %zu: %d, expected %d", i, r1[i], want[i]);
        ck_assert_int_eq(r2[i], want[i]);
    }
    /* small thread ids: stable per thread, distinct between threads */
    ck_assert_int_ne(r1[12], 0);
    ck_assert_int_eq(r1[12], r1[13]);
    ck_assert_int_ne(r1[12], r2[12]);
    ck_assert_int_ne(r1[12], (int)tkr_thread_id());
    free(r1);
    free(r2);
    tk_runtime_destroy(rt);
}
END_TEST

/* ---- the lock-rank checker's report (`impl.lock-order`) -------------------- */

/* In a child process with stderr in a file and the violation count at 0:
 * `first` makes the first violation, `second` another; returns what the
 * child wrote on stderr. */
static int violation_child(const char *path, void *arg)
{
    (void)path;
    int first = ((const int *)arg)[0], second = ((const int *)arg)[1];
    atomic_store(&tkr_lock_order_violations, 0);
    pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
    for (int k = 0; k < 2; k++) {
        switch (k ? second : first) {
        case 0:   /* release of a rank not held */
            pthread_mutex_lock(&a);
            tkr_unlock(&a, TKR_LK_TIER);
            break;
        case 1:   /* code-version lock under the tiering lock */
            tkr_lock(&a, TKR_LK_TIER);
            tkr_lock(&b, TKR_LK_CV);
            tkr_unlock(&b, TKR_LK_CV);
            tkr_unlock(&a, TKR_LK_TIER);
            break;
        default:  /* a lock held where none may be */
            tkr_lock(&a, TKR_LK_OBJ);
            tkr_check_no_locks("test wait");
            tkr_unlock(&a, TKR_LK_OBJ);
            break;
        }
    }
    return atomic_load(&tkr_lock_order_violations) == 2 ? 0 : 3;
}

static void violation_stderr(int first, int second, char *out, size_t cap)
{
    int which[2] = { first, second };
    stderr_of_child("lockmsg", violation_child, which, out, cap);
}

/* Every violation is counted; the first one of the process (and only it)
 * is reported on stderr, naming what happened: a rank taken while holding
 * a mask, a rank released while not held, a lock held across a wait. */
START_TEST(lock_violation_reported_once)
{
    char got[512], want[512];
    for (int first = 0; first < 3; first++) {
        violation_stderr(first, (first + 1) % 3, got, sizeof got);
        if (first == 0)
            snprintf(want, sizeof want, "tierkit: lock-order violation (impl.lock-order): releasing rank %d, not held "
                     "(mask 0x0)\n", TKR_LK_TIER);
        else if (first == 1)
            snprintf(want, sizeof want, "tierkit: lock-order violation (impl.lock-order): taking rank %d while holding "
                     "mask 0x%x\n", TKR_LK_CV, 1u << TKR_LK_TIER);
        else
            snprintf(want, sizeof want, "tierkit: lock-order violation (impl.lock-order): test wait while holding mask "
                     "0x%x\n", 1u << TKR_LK_OBJ);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

/* ---- the trace file, line by line ---------------------------------------- */

/* The expected trace, rendered by the test from the events its sink sees,
 * as SPEC.md "Event trace (JSON Lines)" defines each line. */
typedef struct expect_buf {
    char *s;
    size_t n, cap;
    unsigned kinds[TK_EV_KIND_COUNT];
    tk_runtime *rt;
    uint64_t seq, thread;
    tk_method *nonvirtual;   /* the one non-virtual method of the scenario */
    char bad[256];
} expect_buf;

static void put(expect_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)k + 1 > b->cap) {
        b->cap = (b->n + (size_t)k + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ck_assert_ptr_nonnull(b->s);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* A JSON string's characters: quote and backslash escaped, control
 * characters as \u00XX (`inv.observability.trace-strings`). */
static void put_chars(expect_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') put(b, "\\%c", c);
        else if (c < 0x20) put(b, "\\u%04x", c);
        else put(b, "%c", c);
    }
}

static void put_method(expect_buf *b, const char *key, tk_method *m)
{
    put(b, ",\"%s\":\"", key);
    put_chars(b, tk_method_name(m));
    put(b, "#%u\"", tk_method_id(m));
}

static const char *const cls_names[] = { "unknown", "prestub", "precode", "forwarder", "callcount", "native", "freed" };

static void put_addr(expect_buf *b, const char *key, const void *a, const tk_addr_info *ai)
{
    put(b, ",\"%s\":{\"addr\":\"0x%" PRIxPTR "\",\"cls\":\"%s\"", key, (uintptr_t)a, cls_names[ai->cls]);
    bool code = ai->cls == TK_AC_CALLCOUNT_STUB || ai->cls == TK_AC_NATIVE_CODE;
    if (ai->method && (code || ai->cls == TK_AC_PRECODE || ai->cls == TK_AC_FORWARDER))
        put_method(b, "method", ai->method);
    if (code) put(b, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ai->tier), ai->il_version);
    put(b, "}");
}

/* What the runtime put in an event besides what the line shows: seq
 * numbers from 1 with no gap, the one calling thread's nonzero id (a
 * deterministic runtime does its background work in the caller), each
 * old/new value classified as it is at that moment, and a retarget that
 * changes the target. */
static void check_event(expect_buf *b, const tk_event *ev)
{
    const char *why = NULL;
    if (ev->seq != b->seq + 1) why = "seq does not follow";
    else if (!ev->thread || (b->thread && ev->thread != b->thread)) why = "thread id is 0 or changed";
    for (int k = 0; k < 2 && !why; k++) {
        const void *v = k ? ev->new_value : ev->old_value;
        const tk_addr_info *got = k ? &ev->new_info : &ev->old_info;
        tk_addr_info now = { TK_AC_UNKNOWN, NULL, TK_TIER_UNKNOWN, 0 };
        if (v) tk_classify_address(b->rt, v, &now);
        else if (got->cls == TK_AC_UNKNOWN && !got->method && !got->il_version) now = *got;   /* not classified */
        if (got->cls != now.cls || got->method != now.method || got->tier != now.tier ||
            got->il_version != now.il_version)
            why = k ? "new value's class is not the address's" : "old value's class is not the address's";
    }
    if (!why && ev->kind == TK_EV_PRECODE_RETARGET && ev->old_value == ev->new_value) why = "retarget to the same target";
    /* a slot event's kind: the method's own slot is `owning` (a virtual's
     * slot in its declaring type) or `nonvirtual`; any other slot holding
     * it is `vtable` */
    if (!why && (ev->kind == TK_EV_SLOT_WRITE || ev->kind == TK_EV_SLOT_RECORD) && ev->method) {
        tk_slot_kind want = ev->slot != tk_method_slot(ev->method) ? TK_SLOT_VTABLE
                            : ev->method == b->nonvirtual ? TK_SLOT_NONVIRTUAL : TK_SLOT_OWNING;
        if (ev->slot_kind != want) why = "slot_kind is not the slot's";
    }
    b->seq = ev->seq;
    b->thread = ev->thread;
    if (why && !b->bad[0])
        snprintf(b->bad, sizeof b->bad, "event %s seq %" PRIu64 ": %s", tk_event_name(ev->kind), ev->seq, why);
}

static void expect_sink(void *user, const tk_event *ev)
{
    expect_buf *b = user;
    check_event(b, ev);
    static const char *const slot_kinds[] = { "vtable", "owning", "nonvirtual" };
    const char *phase = ev->phase == TK_PHASE_FINAL ? "final" : "nonfinal";
    const char *stub_kind = ev->stub_kind == TK_AC_FORWARDER ? "forwarder"
                            : ev->stub_kind == TK_AC_CALLCOUNT_STUB ? "callcount" : "precode";
    if (ev->kind > 0 && ev->kind < TK_EV_KIND_COUNT) b->kinds[ev->kind]++;
    put(b, "{\"type\":\"event\",\"seq\":%" PRIu64 ",\"ev\":\"%s\",\"thread\":%" PRIu64, ev->seq,
        tk_event_name(ev->kind), ev->thread);
    if (ev->method) put_method(b, "method", ev->method);
    switch (ev->kind) {
    case TK_EV_TYPE_LOAD: case TK_EV_TYPE_UNLOAD:
        put(b, ",\"type_name\":\"");
        put_chars(b, tk_type_name(ev->type));
        put(b, "\"");
        break;
    case TK_EV_SLOT_WRITE: case TK_EV_SLOT_RECORD:
        put(b, ",\"slot\":\"0x%" PRIxPTR "\",\"slot_kind\":\"%s\"", (uintptr_t)ev->slot, slot_kinds[ev->slot_kind]);
        if (ev->kind == TK_EV_SLOT_WRITE) put_addr(b, "old", ev->old_value, &ev->old_info);
        put_addr(b, "new", ev->new_value, &ev->new_info);
        if (ev->kind == TK_EV_SLOT_WRITE) put(b, ",\"phase\":\"%s\"", phase);
        break;
    case TK_EV_PRECODE_RETARGET:
        put(b, ",\"stub\":\"0x%" PRIxPTR "\",\"stub_kind\":\"%s\"", (uintptr_t)ev->stub, stub_kind);
        put_addr(b, "old", ev->old_value, &ev->old_info);
        put_addr(b, "new", ev->new_value, &ev->new_info);
        put(b, ",\"phase\":\"%s\"", phase);
        break;
    case TK_EV_STUB_ALLOC: case TK_EV_STUB_FREE:
        put(b, ",\"stub\":\"0x%" PRIxPTR "\",\"stub_kind\":\"%s\"", (uintptr_t)ev->stub, stub_kind);
        if (ev->tier != TK_TIER_UNKNOWN) put(b, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ev->tier), ev->il_version);
        break;
    case TK_EV_BACKPATCH_BEGIN: case TK_EV_BACKPATCH_END:
        put_addr(b, "new", ev->new_value, &ev->new_info);
        put(b, ",\"phase\":\"%s\"", phase);
        break;
    case TK_EV_VERSION_PUBLISH:
        put(b, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ev->tier), ev->il_version);
        put_addr(b, "new", ev->new_value, &ev->new_info);
        break;
    case TK_EV_VERSION_ACTIVATE:
        put(b, ",\"il_version\":%u", ev->il_version);
        break;
    case TK_EV_COUNTING_BEGIN: case TK_EV_COUNTING_COMPLETE: case TK_EV_THRESHOLD:
        put(b, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ev->tier), ev->il_version);
        break;
    case TK_EV_PROMOTE:
        put(b, ",\"from_tier\":\"%s\",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name((int32_t)ev->aux),
            tk_tier_name(ev->tier), ev->il_version);
        break;
    default:
        break;
    }
    if (ev->reason) {
        put(b, ",\"reason\":\"");
        put_chars(b, ev->reason);
        put(b, "\"");
    }
    put(b, "}\n");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    for (size_t k; (k = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) s = realloc(s, cap *= 2);
    }
    fclose(f);
    s[n] = 0;
    *len = n;
    return s;
}

/* `inv.observability.trace-wellformed`, `inv.observability.trace-strings`
 * and SPEC "Event trace": the file holds the header (the strategy and the
 * described configuration, key by key), then exactly one line per event
 * the sink saw, in seq order, each with the fields of its kind: addresses
 * with their class and, by class, method, tier and IL version; names with
 * quotes, backslashes and control characters escaped.  Every event kind
 * occurs.  Every strategy. */
START_TEST(trace_lines_are_the_events)
{
    const char *strat = tk_strategy_names[_i];
    char path[128];
    snprintf(path, sizeof path, "/tmp/tk-refrt-trace-%d-%d.jsonl", (int)getpid(), _i);
    const char *ex[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "10", "TieredPGO", "1",
                         "DeleteCallCountingStubsAfter", "1", "Trace", path, NULL };
    tk_runtime *rt = rt_new(strat, ex);
    expect_buf b = {0};
    b.rt = rt;
    tk_set_event_sink(rt, expect_sink, &b);
    char err[256];
    tk_method_def v[2] = { { "Odd\"V0\\\x01", bbody, (void *)1, 0 }, { "Base.V1", bbody, (void *)2, 0 } };
    tk_method_def nv[1] = { { "Base.N\t", bbody, (void *)3, 0 } };
    tk_type_def bd = { "Ba\"se\\\x1f", NULL, 0, 2, v, 0, NULL, 1, nv, 0, NULL };
    tk_type *base = tk_type_define(rt, &bd, err, sizeof err);
    ck_assert_msg(base != NULL, "%s", err);
    b.nonvirtual = tk_type_nonvirtual_method(base, 0);
    ck_assert_int_eq(tk_type_load(rt, base), 0);
    tk_override_def ov[1] = { { 0, { "Child.V0", bbody, (void *)4, 0 } } };
    tk_type_def cd = { "Child", base, 0, 0, NULL, 1, ov, 0, NULL, 0, NULL };
    tk_type *child = tk_type_define(rt, &cd, err, sizeof err);
    ck_assert_msg(child != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(rt, child), 0);
    tk_object *ob = tk_object_new(rt, base), *oc = tk_object_new(rt, child);
    void **bs0 = tk_vtable_slot(base, 0), **bs1 = tk_vtable_slot(base, 1), **cs0 = tk_vtable_slot(child, 0),
         **cs1 = tk_vtable_slot(child, 1), **ns = tk_method_slot(tk_type_nonvirtual_method(base, 0));
    for (int r = 0; r < 12; r++) {
        ck_assert_int_eq(call_slot(bs0, ob, r), 1000 + r);
        ck_assert_int_eq(call_slot(bs1, ob, r), 2000 + r);
        ck_assert_int_eq(call_slot(cs0, oc, r), 4000 + r);
        ck_assert_int_eq(call_slot(cs1, oc, r), 2000 + r);
        ck_assert_int_eq(call_slot(ns, ob, r), 3000 + r);
        advance_and_drain(rt, r < 2 ? 4 : 11);
    }
    tk_method *bv1 = tk_type_virtual_method(base, 1);
    ck_assert_int_eq(tk_version_request(rt, bv1), 1);
    ck_assert_int_eq(call_slot(cs1, oc, 1), 2001);
    ck_assert_int_eq(tk_version_revert(rt, bv1), 0);
    ck_assert_int_eq(call_slot(bs1, ob, 2), 2002);
    tk_object_free(rt, oc);
    tk_object_free(rt, ob);
    ck_assert_int_eq(tk_type_unload(rt, child), 0);
    ck_assert_int_eq(tk_type_unload(rt, base), 0);
    tk_drain(rt);
    char desc[2048];
    tk_config_describe(tk_runtime_config(rt), desc, sizeof desc);
    ck_assert_msg(!b.bad[0], "%s: %s", strat, b.bad);
    /* one lock_acquire and one lock_release per counted acquisition */
    ck_assert_int_eq(b.kinds[TK_EV_LOCK_ACQUIRE], tk_counter_total(rt, "backpatch_lock_acquisitions"));
    ck_assert_int_eq(b.kinds[TK_EV_LOCK_RELEASE], b.kinds[TK_EV_LOCK_ACQUIRE]);
    ck_assert_int_eq(b.kinds[TK_EV_PRECODE_RETARGET], tk_counter_total(rt, "precode_retargets"));
    ck_assert_int_eq(b.kinds[TK_EV_THRESHOLD] > 0, strcmp(strat, "notier") != 0);
    tk_runtime_destroy(rt);
    char missing[512] = "";
    for (int k = 1; k < TK_EV_KIND_COUNT; k++)
        if (!b.kinds[k]) snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                                  tk_event_name((tk_event_kind)k));
    /* entry-cell records and backpatches no slot; notier counts nothing,
     * has no delay and never retargets a precode */
    const char *none = !strcmp(strat, "entry-cell") ? " slot_record backpatch_begin backpatch_end"
                       : !strcmp(strat, "notier") ? " precode_retarget threshold promote counting_begin "
                                                    "counting_complete delay_begin delay_extend delay_end" : "";
    ck_assert_msg(!strcmp(missing, none), "%s: events missing:%s", strat, missing);
    /* the header: every described key, in order, as a JSON string */
    expect_buf h = {0};
    put(&h, "{\"type\":\"header\",\"schema\":\"tierkit-trace\",\"trace_schema_version\":1,"
            "\"implementation\":\"tierkit-reference\",\"strategy\":\"%s\",\"config\":{", strat);
    int first = 1;
    for (char *line = strtok(desc, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        ck_assert_ptr_nonnull(eq);
        *eq = 0;
        put(&h, "%s\"", first ? "" : ",");
        put_chars(&h, line);
        put(&h, "\":\"");
        put_chars(&h, eq + 1);
        put(&h, "\"");
        first = 0;
    }
    put(&h, "}}\n");
    put(&h, "%s", b.s);
    size_t len;
    char *got = slurp(path, &len);
    unlink(path);
    /* the first differing line, for the message */
    size_t at = 0, line = 1;
    while (at < len && at < h.n && got[at] == h.s[at]) { if (got[at] == '\n') line++; at++; }
    ck_assert_msg(len == h.n && at == len, "%s: trace line %zu differs: got '%.160s', expected '%.160s'", strat, line,
                  got + at - (at > 40 ? 40 : at), h.s + at - (at > 40 ? 40 : at));
    free(got);
    free(h.s);
    free(b.s);
}
END_TEST

TCase *tcase_bookkeeping(void)
{
    TCase *tc = tcase_create("bookkeeping");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, config_defaults_every_field);
    tcase_add_test(tc, runtime_without_config_runs_the_defaults);
    tcase_add_test(tc, single_proc_delay_boundaries);
    tcase_add_test(tc, api_refusals_exact);
    tcase_add_test(tc, type_cycles_keep_only_the_quarantine);
    tcase_add_loop_test(tc, trace_lines_are_the_events, 0, (int)tk_strategy_count());
    tcase_add_test(tc, every_key_at_its_bounds);
    tcase_add_test(tc, driver_table_exact);
    tcase_add_test(tc, thread_registration_nests);
    tcase_add_test(tc, lock_violation_reported_once);
    tcase_add_test(tc, env_message_prefix);
    tcase_add_test(tc, env_tool_variables_and_one_warning);
    tcase_add_test(tc, env_hint_at_a_quarter_of_the_length);
    tcase_add_test(tc, clock_of_each_mode);
    return tc;
}
