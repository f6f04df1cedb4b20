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

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    /* pass 0: warm-up (the stub layer's process-wide pools and registry) */
    for (int pass = 0; pass < 2; pass++)
    for (int s = 0; s < (int)tk_strategy_count(); s++) {
        const char *ex[] = { "CallCountThreshold", "1", "CallCountingDelayMs", "1", "TieredPGO", "1",
                             "DeleteCallCountingStubsAfter", "1", NULL };
        if (pass) tkf_track_begin();
        tk_runtime *rt = rt_new(tk_strategy_names[s], ex);
        size_t live[TKR_QUARANTINE_TYPES + 4];
        char err[256];
        for (int i = 0; i < (pass ? TKR_QUARANTINE_TYPES + 4 : 2); i++) {
            tk_method_def v[2] = { { "T.V0", bbody, (void *)1, 0 }, { "T.V1", bbody, (void *)2, 0 } };
            tk_method_def nv[1] = { { "T.N", bbody, (void *)3, 0 } };
            tk_type_def d = { "T", NULL, 0, 2, v, 0, NULL, 1, nv, 0, NULL };
            tk_type *t = tk_type_define(rt, &d, err, sizeof err);
            ck_assert_msg(t != NULL, "%s", err);
            ck_assert_int_eq(tk_type_load(rt, t), 0);
            tk_object *o = tk_object_new(rt, t);
            for (int r = 0; r < 8; r++) {
                ck_assert_int_eq(call_slot(tk_vtable_slot(t, 0), o, r), 1000 + r);
                ck_assert_int_eq(call_slot(tk_vtable_slot(t, 1), o, r), 2000 + r);
                ck_assert_int_eq(call_slot(tk_method_slot(tk_type_nonvirtual_method(t, 0)), o, r), 3000 + r);
                advance_and_drain(rt, 2);
            }
            tk_object_free(rt, o);
            ck_assert_int_eq(tk_type_unload(rt, t), 0);
            tk_drain(rt);
            live[i] = pass ? tkf_track_live() : 0;
            ck_assert_int_eq(tk_counter_total(rt, "live_stub_bytes"), 0);
            ck_assert_int_eq(tk_counter_total(rt, "counting_info_bytes"), 0);
        }
        if (!pass) { tk_runtime_destroy(rt); continue; }
        size_t per = live[1] - live[0];
        ck_assert_msg(per > 0 && live[1] > live[0], "%s: nothing kept per unloaded type", tk_strategy_names[s]);
        for (int i = 1; i < TKR_QUARANTINE_TYPES; i++)
            ck_assert_msg(live[i] - live[i - 1] == per, "%s: unload %d kept %zd blocks, the ones before %zu",
                          tk_strategy_names[s], i, (ssize_t)(live[i] - live[i - 1]), per);
        for (int i = TKR_QUARANTINE_TYPES; i < TKR_QUARANTINE_TYPES + 4; i++)
            ck_assert_msg(live[i] == live[TKR_QUARANTINE_TYPES - 1], "%s: unload %d with a full quarantine: %zu "
                          "blocks live, %zu before", tk_strategy_names[s], i, live[i], live[TKR_QUARANTINE_TYPES - 1]);
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

/* ---- the trace file, line by line ---------------------------------------- */

/* The expected trace, rendered by the test from the events its sink sees,
 * as SPEC.md "Event trace (JSON Lines)" defines each line. */
typedef struct expect_buf { char *s; size_t n, cap; unsigned kinds[TK_EV_KIND_COUNT]; } expect_buf;

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

static void expect_sink(void *user, const tk_event *ev)
{
    expect_buf *b = user;
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
    tk_set_event_sink(rt, expect_sink, &b);
    char err[256];
    tk_method_def v[2] = { { "Odd\"V0\\\x01", bbody, (void *)1, 0 }, { "Base.V1", bbody, (void *)2, 0 } };
    tk_method_def nv[1] = { { "Base.N\t", bbody, (void *)3, 0 } };
    tk_type_def bd = { "Ba\"se\\\x1f", NULL, 0, 2, v, 0, NULL, 1, nv, 0, NULL };
    tk_type *base = tk_type_define(rt, &bd, err, sizeof err);
    ck_assert_msg(base != NULL, "%s", err);
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
    return tc;
}
