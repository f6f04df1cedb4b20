/* reference/tests/test_units.c — unit tests per component (deterministic mode). */
#include "reftest.h"
#include "arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const tk_code_ctx *g_last;
static int64_t body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    g_last = ctx;
    return (intptr_t)ctx->user * 1000 + a0;
}

static void fx_init(fx *f, const char *strategy, const char *const *extra)
{
    fx_init_with(f, strategy, extra, body);
}

static tk_type *derive(fx *f, const char *name, int override_v0)
{
    char err[256];
    tk_override_def ov[1] = { { 0, { "Derived.V0", body, (void *)7, 0 } } };
    tk_type_def d = { name, f->base, 0, 0, NULL, override_v0 ? 1u : 0u, ov, 0, NULL, 0, NULL };
    tk_type *t = tk_type_define(f->rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(f->rt, t), 0);
    return t;
}

/* Calls the slot n times, draining with a long clock step every 10 calls. */
static void hammer(fx *f, void **slot, void *self, int n, int64_t want_tag)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(call_slot(slot, self, i), want_tag * 1000 + i);
        if (i % 10 == 9) advance_and_drain(f->rt, 200);
    }
    advance_and_drain(f->rt, 200);
}

static tk_addr_class cls_of(tk_runtime *rt, const void *a, tk_addr_info *ai)
{
    tk_classify_address(rt, a, ai);
    return ai->cls;
}

START_TEST(config_defaults_and_reject)
{
    tk_config c;
    char err[256];
    tk_config_defaults(&c);
    ck_assert_uint_eq(c.call_count_threshold, 30);
    ck_assert_uint_eq(c.call_counting_delay_ms, 100);
    ck_assert(c.tiered_pgo && c.tiered_compilation);
    ck_assert_uint_eq(c.delete_stubs_after, 0);
    ck_assert_int_eq(c.strategy, TK_STRATEGY_LAZY);
    ck_assert_int_eq(c.mode, TK_MODE_THREADED);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "0", err, sizeof err), -1);
    ck_assert(strstr(err, "CallCountThreshold") && strstr(err, "'0'") && strstr(err, "1..65535"));
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "65536", err, sizeof err), -1);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "12x", err, sizeof err), -1);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "65535", err, sizeof err), 0);
    ck_assert_int_eq(tk_config_set(&c, "Strategy", "eager", err, sizeof err), -1);
    ck_assert(strstr(err, "Strategy") && strstr(err, "eager") && strstr(err, "entry-cell"));
    ck_assert_int_eq(tk_config_set(&c, "TieredPGO", "2", err, sizeof err), -1);
    ck_assert_int_eq(tk_config_set(&c, "Mode", "fast", err, sizeof err), -1);
    ck_assert_int_eq(tk_config_set(&c, "NoSuchKey", "1", err, sizeof err), -1);
    ck_assert(strstr(err, "NoSuchKey"));
    setenv("TK_CallCountThreshold", "7", 1);
    setenv("TK_Strategy", "forwarder", 1);
    ck_assert_int_eq(tk_config_from_env(&c, err, sizeof err), 0);
    ck_assert_uint_eq(c.call_count_threshold, 7);
    ck_assert_int_eq(c.strategy, TK_STRATEGY_FORWARDER);
    setenv("TK_CallCountingDelayMs", "-1", 1);
    ck_assert_int_eq(tk_config_from_env(&c, err, sizeof err), -1);
    ck_assert(strstr(err, "CallCountingDelayMs"));
    unsetenv("TK_CallCountThreshold"); unsetenv("TK_Strategy"); unsetenv("TK_CallCountingDelayMs");
    /* The driver rejects bad config with a message too. */
    const tk_driver *d = tk_driver_v1();
    const char *bad[] = { "Mode=deterministic", "Strategy=nope", NULL };
    ck_assert_ptr_null(d->create(bad, err, sizeof err));
    ck_assert(strstr(err, "Strategy"));
}
END_TEST

/* Every design of the registry (reference/strategies/registry.c) is a
 * Strategy value, names itself in the trace header's strategy and is listed
 * in the rejection message; an index past the table is refused by
 * tk_runtime_create, not dereferenced. */
START_TEST(strategy_registry)
{
    char err[512];
    size_t n = tk_strategy_count();
    ck_assert_uint_ge(n, TK_STRATEGY_COUNT);
    ck_assert_ptr_null(tk_strategy_names[n]);
    tk_config c;
    tk_config_defaults(&c);
    ck_assert_int_eq(tk_config_set(&c, "Strategy", "nope", err, sizeof err), -1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(strstr(err, tk_strategy_names[i]), "%s not in '%s'", tk_strategy_names[i], err);
        ck_assert_int_eq(tk_config_set(&c, "Strategy", tk_strategy_names[i], err, sizeof err), 0);
        ck_assert_uint_eq((size_t)c.strategy, i);
        ck_assert_str_eq(tk_strategy_name(c.strategy), tk_strategy_names[i]);
        tk_runtime *rt = tk_runtime_create(&c, err, sizeof err);
        ck_assert_msg(rt != NULL, "%s: %s", tk_strategy_names[i], err);
        tk_runtime_destroy(rt);
    }
    c.strategy = (tk_strategy)n;
    ck_assert_ptr_null(tk_runtime_create(&c, err, sizeof err));
    ck_assert(strstr(err, "Strategy"));
    ck_assert_str_eq(tk_strategy_name((tk_strategy)n), "?");
}
END_TEST

START_TEST(first_call_publishes_tier0)
{
    for (int s = 0; s < TK_STRATEGY_COUNT; s++) {
        fx f;
        fx_init(&f, tk_strategy_names[s], NULL);
        tk_method *m = tk_type_virtual_method(f.base, 0);
        tk_method_state st;
        tk_addr_info ai;
        tk_method_get_state(f.rt, m, &st);
        ck_assert_int_eq(st.published, 0);
        ck_assert_int_eq(st.tier, TK_TIER_UNKNOWN);
        void **slot = tk_vtable_slot(f.base, 0);
        ck_assert_int_eq(cls_of(f.rt, *slot, &ai), TK_AC_PRECODE);
        ck_assert_ptr_eq(ai.method, m);
        ck_assert_int_eq(call_slot(slot, f.obj, 5), 1005);
        ck_assert_int_eq(g_last->tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_0);
        tk_method_get_state(f.rt, m, &st);
        ck_assert_int_eq(st.published, 1);
        ck_assert_int_eq(st.tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_0);
        ck_assert_uint_eq(st.compiles, 1);
        tk_addr_class c = cls_of(f.rt, *slot, &ai);
        if (s == TK_STRATEGY_LAZY || s == TK_STRATEGY_ENTRY_CELL) {
            ck_assert_int_eq(c, TK_AC_PRECODE);
            ck_assert_int_eq(cls_of(f.rt, tk_stub_target(*slot), &ai), TK_AC_NATIVE_CODE);
        } else {
            ck_assert_int_eq(c, TK_AC_NATIVE_CODE);
        }
        fx_done(&f);
    }
}
END_TEST

START_TEST(tier_up_nonvirtual_and_virtual)
{
    for (int s = 0; s < TK_STRATEGY_COUNT; s++) {
        fx f;
        fx_init(&f, tk_strategy_names[s], NULL);
        hammer(&f, tk_vtable_slot(f.base, 1), f.obj, 120, 2);
        hammer(&f, tk_method_slot(tk_type_nonvirtual_method(f.base, 0)), NULL, 120, 3);
        tk_method_state st;
        tk_method_get_state(f.rt, tk_type_virtual_method(f.base, 1), &st);
        ck_assert_int_eq(st.tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1);
        tk_method_get_state(f.rt, tk_type_nonvirtual_method(f.base, 0), &st);
        ck_assert_int_eq(st.tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1);
        ck_assert_int_eq(st.counting, 0);
        ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 1), f.obj, 1), 2001);
        ck_assert_int_eq(g_last->tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1);
        fx_done(&f);
    }
}
END_TEST

START_TEST(inherit_temporary_entry_point)
{
    fx f;
    fx_init(&f, "forwarder", NULL);
    void **bs = tk_vtable_slot(f.base, 0);
    call_slot(bs, f.obj, 1);
    tk_addr_info ai;
    ck_assert_int_eq(cls_of(f.rt, *bs, &ai), TK_AC_NATIVE_CODE);   /* owning slot patched */
    tk_type *d = derive(&f, "Derived", 0);
    void **ds = tk_vtable_slot(d, 0);
    ck_assert_int_eq(cls_of(f.rt, *ds, &ai), TK_AC_PRECODE);       /* not the parent's value */
    ck_assert_ptr_eq(ai.method, tk_type_virtual_method(f.base, 0));
    tk_object *o = tk_object_new(f.rt, d);
    ck_assert_int_eq(call_slot(ds, o, 4), 1004);
    ck_assert_ptr_eq(*ds, *bs);                                      /* discovered + patched */
    ck_assert_int_eq(counter_phase(f.rt, "slot_discoveries", 0), 1);
    tk_object_free(f.rt, o);
    fx_done(&f);
}
END_TEST

START_TEST(late_slots_discovered_at_final_tier)
{
    for (int s = 0; s < TK_STRATEGY_COUNT; s++) {
        fx f;
        fx_init(&f, tk_strategy_names[s], NULL);
        hammer(&f, tk_vtable_slot(f.base, 0), f.obj, 120, 1);
        tk_type *d = derive(&f, "Late", 0);
        tk_object *o = tk_object_new(f.rt, d);
        void **ds = tk_vtable_slot(d, 0);
        ck_assert_int_eq(call_slot(ds, o, 3), 1003);
        int32_t want = s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1;
        ck_assert_int_eq(g_last->tier, want);
        tk_addr_info ai;
        if (s == TK_STRATEGY_ENTRY_CELL) {
            ck_assert_int_eq(cls_of(f.rt, *ds, &ai), TK_AC_PRECODE);
            cls_of(f.rt, tk_stub_target(*ds), &ai);
        } else {
            cls_of(f.rt, *ds, &ai);
        }
        ck_assert_int_eq(ai.cls, TK_AC_NATIVE_CODE);
        ck_assert_int_eq(ai.tier, want);
        tk_object_free(f.rt, o);
        fx_done(&f);
    }
}
END_TEST

START_TEST(interface_dispatch)
{
    fx f;
    char err[256];
    fx_init(&f, "lazy", NULL);
    tk_method_def im[1] = { { "IFoo.Foo", NULL, NULL, 0 } };
    tk_type_def idef = { "IFoo", NULL, TK_TYPE_INTERFACE, 1, im, 0, NULL, 0, NULL, 0, NULL };
    tk_type *ifc = tk_type_define(f.rt, &idef, err, sizeof err);
    ck_assert_ptr_nonnull(ifc);
    ck_assert_int_eq(tk_type_load(f.rt, ifc), 0);
    tk_iface_impl_def impl = { ifc, 0, 1 };
    tk_type_def d = { "Impl", f.base, 0, 0, NULL, 0, NULL, 0, NULL, 1, &impl };
    tk_type *t = tk_type_define(f.rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(f.rt, t), 0);
    tk_object *o = tk_object_new(f.rt, t);
    void **is = tk_interface_slot(t, ifc, 0);
    ck_assert_ptr_eq(is, tk_vtable_slot(t, 1));
    hammer(&f, is, o, 100, 2);
    ck_assert_ptr_null(tk_interface_slot(f.base, ifc, 0));
    tk_iface_impl_def badimpl = { f.base, 0, 0 };
    tk_type_def bd = { "Bad", f.base, 0, 0, NULL, 0, NULL, 0, NULL, 1, &badimpl };
    ck_assert_ptr_null(tk_type_define(f.rt, &bd, err, sizeof err));
    tk_object_free(f.rt, o);
    fx_done(&f);
}
END_TEST

START_TEST(classification)
{
    const char *ex[] = { "CallCountingDelayMs", "0", NULL };
    fx f;
    fx_init(&f, "forwarder", ex);
    tk_addr_info ai;
    ck_assert_int_eq(cls_of(f.rt, tk_prestub_entry(), &ai), TK_AC_PRESTUB);
    ck_assert_int_eq(cls_of(f.rt, NULL, &ai), TK_AC_UNKNOWN);
    ck_assert_int_eq(cls_of(f.rt, &ai, &ai), TK_AC_UNKNOWN);
    void **slot = tk_vtable_slot(f.base, 0);
    void *tep = *slot;
    ck_assert_int_eq(cls_of(f.rt, tk_stub_target(tep), &ai), TK_AC_PRESTUB);  /* precode aimed at prestub */
    call_slot(slot, f.obj, 1);          /* delay 0: counting starts right away */
    ck_assert_int_eq(cls_of(f.rt, *slot, &ai), TK_AC_FORWARDER);
    ck_assert_ptr_eq(ai.method, tk_type_virtual_method(f.base, 0));
    /* CoreCLR 10's forwarder is the method's precode type, a FixupPrecode
     * of its own (callcounting.cpp SetCodeEntryPoint before PR #124664):
     * not a StubPrecode and not the temporary entry point, and accounted
     * as the one forwarder */
    ck_assert_int_eq(tk_classify(*slot), TK_ADDR_FIXUP);
    ck_assert_ptr_ne(*slot, tep);
    ck_assert_int_eq(counter_phase(f.rt, "stubs_allocated_forwarder", 1), 1);
    ck_assert_int_eq(cls_of(f.rt, tk_stub_target(*slot), &ai), TK_AC_CALLCOUNT_STUB);
    ck_assert_int_eq(ai.tier, TK_TIER_0);
    ck_assert_uint_eq(ai.il_version, 0);
    ck_assert_int_eq(cls_of(f.rt, tep, &ai), TK_AC_PRECODE);
    fx_done(&f);
}
END_TEST

START_TEST(first_call_not_counted)
{
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "2", NULL };
    fx f;
    fx_init(&f, "lazy", ex);
    void **slot = tk_vtable_slot(f.base, 0);
    call_slot(slot, f.obj, 0);
    tk_method_state st;
    tk_method_get_state(f.rt, tk_type_virtual_method(f.base, 0), &st);
    ck_assert_int_eq(st.counting, 1);
    call_slot(slot, f.obj, 0);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 0);
    call_slot(slot, f.obj, 0);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    fx_done(&f);
}
END_TEST


START_TEST(prestub_call_counted_forwarder)
{
    /* Under `forwarder` a slot that is not recorded yet (a type loaded while
     * the method counts) holds the TEP, whose target is the prestub.  The
     * call that lands there is counted in the prestub (CoreCLR's
     * wasMethodCalled) on the same cell as the stub: it used to run Tier0
     * uncounted. */
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "3", NULL };
    fx f;
    fx_init(&f, "forwarder", ex);
    tk_method *m = tk_type_virtual_method(f.base, 0);
    void **bs = tk_vtable_slot(f.base, 0);
    ck_assert_int_eq(call_slot(bs, f.obj, 0), 1000);          /* publishes: not counted */
    tk_method_state st;
    tk_method_get_state(f.rt, m, &st);
    ck_assert_int_eq(st.counting, 1);
    tk_type *d = derive(&f, "D1", 0);
    tk_object *o = tk_object_new(f.rt, d);
    void **ds = tk_vtable_slot(d, 0);
    tk_addr_info ai;
    ck_assert_int_eq(cls_of(f.rt, *ds, &ai), TK_AC_PRECODE);
    ck_assert_int_eq(call_slot(ds, o, 1), 1001);               /* prestub: counted (3 -> 2) */
    ck_assert_int_eq(g_last->tier, TK_TIER_0);
    ck_assert_int_eq(cls_of(f.rt, *ds, &ai), TK_AC_FORWARDER); /* recorded: now via F -> S */
    ck_assert_int_eq(call_slot(bs, f.obj, 2), 1002);           /* stub: 2 -> 1 */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 0);
    ck_assert_int_eq(call_slot(ds, o, 3), 1003);               /* stub: 1 -> 0, threshold */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    tk_drain(f.rt);
    ck_assert_int_eq(counter_phase(f.rt, "calls_counted", 0), 3);
    tk_method_get_state(f.rt, m, &st);
    ck_assert_int_eq(st.tier, TK_TIER_0_INSTRUMENTED);
    tk_object_free(f.rt, o);
    fx_done(&f);
}
END_TEST

/* The state of m: whether it counts, its active tier. */
static uint32_t counting_of(tk_runtime *rt, tk_method *m)
{
    tk_method_state st;
    tk_method_get_state(rt, m, &st);
    return st.counting;
}

static int32_t tier_of(tk_runtime *rt, tk_method *m)
{
    tk_method_state st;
    tk_method_get_state(rt, m, &st);
    return st.tier;
}

/* `forwarder`, no delay, threshold 2: Base.V0 published and counting. */
static tk_method *forwarder_counting(fx *f)
{
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "2", NULL };
    fx_init(f, "forwarder", ex);
    call_slot(tk_vtable_slot(f->base, 0), f->obj, 0);          /* publishes: not counted */
    tk_method *m = tk_type_virtual_method(f->base, 0);
    ck_assert_int_eq(counting_of(f->rt, m), 1);
    return m;
}

START_TEST(prestub_call_reaches_threshold)
{
    /* inv.counting.prestub-call: the prestub's decrement can be the one
     * that reaches zero.  Counting then completes synchronously, in the
     * call, as CoreCLR's SetCodeEntryPoint(wasMethodCalled) does: one
     * threshold, the promotion queued at once, Tier0 code published (the
     * stub leaves the call path before any background work).  A further
     * prestub call is not counted (the cell does not wrap). */
    fx f;
    tk_method *m = forwarder_counting(&f);
    void **bs = tk_vtable_slot(f.base, 0);
    call_slot(bs, f.obj, 0);                                    /* stub: 2 -> 1 */
    tk_type *d1 = derive(&f, "D1", 0), *d2 = derive(&f, "D2", 0);
    tk_object *o1 = tk_object_new(f.rt, d1), *o2 = tk_object_new(f.rt, d2);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 0);
    ck_assert_int_eq(call_slot(tk_vtable_slot(d1, 0), o1, 5), 1005);   /* prestub: 1 -> 0 */
    ck_assert_int_eq(g_last->tier, TK_TIER_0);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    ck_assert_int_eq(counting_of(f.rt, m), 0);                                  /* completed, no drain */
    ck_assert_int_eq(tk_counter_total(f.rt, "promotions_tier0_to_tier0instr"), 1);
    ck_assert_int_eq(counter_phase(f.rt, "calls_counted", 0), 2);
    tk_addr_info ai;
    ck_assert_int_eq(cls_of(f.rt, *bs, &ai), TK_AC_NATIVE_CODE);       /* the stub left the slots */
    ck_assert_int_eq(call_slot(tk_vtable_slot(d2, 0), o2, 6), 1006);   /* prestub: not counted */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    tk_drain(f.rt);
    ck_assert_int_eq(tk_counter_total(f.rt, "promotions_tier0_to_tier0instr"), 1);
    ck_assert_int_eq(counter_phase(f.rt, "calls_counted", 0), 2);
    ck_assert_int_eq(tier_of(f.rt, m), TK_TIER_0_INSTRUMENTED);
    ck_assert_int_eq(call_slot(tk_vtable_slot(d2, 0), o2, 7), 1007);
    tk_object_free(f.rt, o1);
    tk_object_free(f.rt, o2);
    fx_done(&f);
}
END_TEST

START_TEST(prestub_call_after_stub_threshold)
{
    /* inv.counting.prestub-call: the stub reached the threshold and its
     * completion is pending; a call that then reaches the prestub is not
     * counted, the code is published at once (the stub leaves the call
     * path), and the pending completion still promotes once. */
    fx f;
    tk_method *m = forwarder_counting(&f);
    void **bs = tk_vtable_slot(f.base, 0);
    call_slot(bs, f.obj, 0);                                    /* stub: 2 -> 1 */
    call_slot(bs, f.obj, 0);                                    /* stub: 1 -> 0, pending */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    ck_assert_int_eq(counting_of(f.rt, m), 1);
    tk_type *d1 = derive(&f, "D1", 0);
    tk_object *o1 = tk_object_new(f.rt, d1);
    ck_assert_int_eq(call_slot(tk_vtable_slot(d1, 0), o1, 5), 1005);   /* prestub */
    ck_assert_int_eq(counting_of(f.rt, m), 0);
    tk_addr_info ai;
    ck_assert_int_eq(cls_of(f.rt, *bs, &ai), TK_AC_NATIVE_CODE);
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    tk_drain(f.rt);
    ck_assert_int_eq(counter_phase(f.rt, "calls_counted", 0), 2);      /* the prestub call: not counted */
    ck_assert_int_eq(tk_counter_total(f.rt, "promotions_tier0_to_tier0instr"), 1);
    ck_assert_int_eq(tier_of(f.rt, m), TK_TIER_0_INSTRUMENTED);
    tk_object_free(f.rt, o1);
    fx_done(&f);
}
END_TEST

START_TEST(prestub_call_during_delay_pauses_counting)
{
    /* inv.counting.prestub-call: during an active tiering delay a call that
     * reaches the prestub while the method counts is not counted; counting
     * stops (the code is published, the stub leaves the call path) and the
     * method is recorded for the delay, whose expiry installs counting again
     * with the remaining count (CoreCLR SetCodeEntryPoint(wasMethodCalled)
     * with TrySetCodeEntryPointAndRecordMethodForCallCounting). */
    const char *ex[] = { "CallCountingDelayMs", "100", "CallCountThreshold", "4", NULL };
    fx f;
    fx_init(&f, "forwarder", ex);
    tk_method *m = tk_type_virtual_method(f.base, 0);
    void **bs = tk_vtable_slot(f.base, 0), **ns = tk_vtable_slot(f.base, 1);
    call_slot(bs, f.obj, 0);                                    /* publishes, opens a delay */
    advance_and_drain(f.rt, 101);                               /* M counts */
    ck_assert_int_eq(counting_of(f.rt, m), 1);
    call_slot(bs, f.obj, 0);                                    /* stub: 4 -> 3 */
    call_slot(ns, f.obj, 0);                                    /* N's first call: a new delay */
    tk_type *d1 = derive(&f, "D1", 0);
    tk_object *o1 = tk_object_new(f.rt, d1);
    ck_assert_int_eq(call_slot(tk_vtable_slot(d1, 0), o1, 5), 1005);   /* prestub, in the delay */
    ck_assert_int_eq(g_last->tier, TK_TIER_0);
    ck_assert_int_eq(counting_of(f.rt, m), 0);                                  /* counting paused */
    tk_addr_info ai;
    ck_assert_int_eq(cls_of(f.rt, *bs, &ai), TK_AC_NATIVE_CODE);
    for (int i = 0; i < 5; i++) call_slot(bs, f.obj, i);               /* Tier0, not counted */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 0);
    advance_and_drain(f.rt, 101);                                      /* the delay ends */
    ck_assert_int_eq(counting_of(f.rt, m), 1);                                  /* resumed */
    call_slot(bs, f.obj, 0);                                           /* 3 -> 2 */
    call_slot(tk_vtable_slot(d1, 0), o1, 0);                           /* 2 -> 1 (recorded slot: stub) */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 0);
    call_slot(bs, f.obj, 0);                                           /* 1 -> 0 */
    ck_assert_int_eq(counter_phase(f.rt, "threshold_hits", 0), 1);
    tk_drain(f.rt);
    ck_assert_int_eq(counter_phase(f.rt, "calls_counted", 0), 4);
    ck_assert_int_eq(tier_of(f.rt, m), TK_TIER_0_INSTRUMENTED);
    tk_object_free(f.rt, o1);
    fx_done(&f);
}
END_TEST

START_TEST(delay_restarts_window)
{
    fx f;
    fx_init(&f, "lazy", NULL);
    tk_method *m0 = tk_type_virtual_method(f.base, 0);
    tk_method_state st;
    call_slot(tk_vtable_slot(f.base, 0), f.obj, 0);          /* t=0: delay until 100 */
    advance_and_drain(f.rt, 60);
    call_slot(tk_vtable_slot(f.base, 1), f.obj, 0);          /* t=60: new method -> until 160 */
    advance_and_drain(f.rt, 60);                              /* t=120 */
    tk_method_get_state(f.rt, m0, &st);
    ck_assert_int_eq(st.counting, 0);
    call_slot(tk_vtable_slot(f.base, 0), f.obj, 0);          /* not a first call: no restart */
    advance_and_drain(f.rt, 50);                              /* t=170 */
    tk_method_get_state(f.rt, m0, &st);
    ck_assert_int_eq(st.counting, 1);
    fx_done(&f);
}
END_TEST

START_TEST(type_unload_drops_slots)
{
    fx f;
    fx_init(&f, "forwarder", NULL);
    tk_type *d = derive(&f, "Doomed", 0);
    tk_type *d2 = derive(&f, "Survivor", 0);
    tk_object *o = tk_object_new(f.rt, d), *o2 = tk_object_new(f.rt, d2);
    call_slot(tk_vtable_slot(f.base, 0), f.obj, 0);
    call_slot(tk_vtable_slot(d, 0), o, 0);                   /* recorded */
    call_slot(tk_vtable_slot(d2, 0), o2, 0);                 /* recorded */
    ck_assert_int_eq(tk_type_unload(f.rt, f.base), -1);       /* children still loaded */
    ck_assert_int_eq(tk_type_unload(f.rt, d), 0);
    ck_assert_ptr_null(tk_vtable_slot(d, 0));
    hammer(&f, tk_vtable_slot(d2, 0), o2, 120, 1);           /* backpatches must skip d */
    tk_method_state st;
    tk_method_get_state(f.rt, tk_type_virtual_method(f.base, 0), &st);
    ck_assert_int_eq(st.tier, TK_TIER_1);
    ck_assert_int_eq(tk_type_unload(f.rt, d), -1);
    tk_object_free(f.rt, o);
    tk_object_free(f.rt, o2);
    fx_done(&f);
}
END_TEST

START_TEST(version_request_revert)
{
    for (int s = 0; s < TK_STRATEGY_COUNT; s++) {
        fx f;
        fx_init(&f, tk_strategy_names[s], NULL);
        tk_method *m = tk_type_virtual_method(f.base, 0);
        void **slot = tk_vtable_slot(f.base, 0);
        int32_t fin = s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1;
        hammer(&f, slot, f.obj, 120, 1);
        ck_assert_int_eq(g_last->tier, fin);
        ck_assert_int_eq(tk_version_request(f.rt, m), 1);
        tk_method_state st;
        tk_method_get_state(f.rt, m, &st);
        ck_assert_uint_eq(st.il_version, 1);
        ck_assert_int_eq(st.published, 0);
        ck_assert_int_eq(call_slot(slot, f.obj, 9), 1009);
        ck_assert_uint_eq(g_last->il_version, 1);
        ck_assert_int_eq(g_last->tier, s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_0);
        hammer(&f, slot, f.obj, 120, 1);
        ck_assert_uint_eq(g_last->il_version, 1);
        ck_assert_int_eq(g_last->tier, fin);
        ck_assert_int_eq(tk_version_revert(f.rt, m), 0);
        ck_assert_int_eq(call_slot(slot, f.obj, 2), 1002);
        ck_assert_uint_eq(g_last->il_version, 0);
        ck_assert_int_eq(g_last->tier, fin);                  /* IL 0 already had final code */
        call_slot(slot, f.obj, 2);
        ck_assert_uint_eq(g_last->il_version, 0);
        fx_done(&f);
    }
}
END_TEST

START_TEST(tiering_off_and_not_tiered)
{
    const char *ex[] = { "TieredCompilation", "0", NULL };
    fx f;
    fx_init(&f, "lazy", ex);
    call_slot(tk_vtable_slot(f.base, 0), f.obj, 0);
    ck_assert_int_eq(g_last->tier, TK_TIER_OPTIMIZED);
    fx_done(&f);
    char err[256];
    tk_runtime *rt = rt_new("precode-reuse", NULL);
    tk_method_def n[1] = { { "Static.Hot", body, (void *)4, TK_METHOD_NOT_TIERED } };
    tk_type_def d = { "Static", NULL, 0, 0, NULL, 0, NULL, 1, n, 0, NULL };
    tk_type *t = tk_type_define(rt, &d, err, sizeof err);
    ck_assert_int_eq(tk_type_load(rt, t), 0);
    call_slot(tk_method_slot(tk_type_nonvirtual_method(t, 0)), NULL, 1);
    ck_assert_int_eq(g_last->tier, TK_TIER_OPTIMIZED);
    tk_runtime_destroy(rt);
}
END_TEST

START_TEST(stub_deletion_deterministic)
{
    for (int s = 0; s < TK_STRATEGY_NOTIER; s++) {
        const char *ex[] = { "DeleteCallCountingStubsAfter", "1", NULL };
        fx f;
        fx_init(&f, tk_strategy_names[s], ex);
        tk_type *d = derive(&f, "D", 1);
        tk_object *o = tk_object_new(f.rt, d);
        for (int i = 0; i < 150; i++) {
            ck_assert_int_eq(call_slot(tk_vtable_slot(f.base, 0), f.obj, i), 1000 + i);
            ck_assert_int_eq(call_slot(tk_vtable_slot(d, 0), o, i), 7000 + i);
            ck_assert_int_eq(call_slot(tk_vtable_slot(d, 1), o, i), 2000 + i);
            if (i % 7 == 0) advance_and_drain(f.rt, 150);
        }
        ck_assert_int_gt(counter_phase(f.rt, "stubs_freed_callcount", 1), 0);
        ck_assert_int_gt(counter_phase(f.rt, "stub_deletion_passes", 1), 0);
        tk_object_free(f.rt, o);
        fx_done(&f);
    }
}
END_TEST

static int g_bad_slot_writes;
static void no_stub_sink(void *user, const tk_event *ev)
{
    (void)user;
    if (ev->kind == TK_EV_SLOT_WRITE && ev->new_info.cls == TK_AC_CALLCOUNT_STUB) g_bad_slot_writes++;
}

START_TEST(trace_file)
{
    char path[] = "/tmp/tk-ref-trace-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    const char *ex[] = { "Trace", path, NULL };
    fx f;
    fx_init(&f, "lazy", ex);
    g_bad_slot_writes = 0;
    tk_set_event_sink(f.rt, no_stub_sink, NULL);
    hammer(&f, tk_vtable_slot(f.base, 0), f.obj, 100, 1);
    tk_type *d = derive(&f, "D", 0);
    tk_object *o = tk_object_new(f.rt, d);
    call_slot(tk_vtable_slot(d, 0), o, 0);
    tk_object_free(f.rt, o);
    fx_done(&f);
    ck_assert_int_eq(g_bad_slot_writes, 0);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    char line[4096];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert(strstr(line, "\"type\":\"header\"") && strstr(line, "\"trace_schema_version\":1") &&
              strstr(line, "\"strategy\":\"lazy\"") && strstr(line, "\"CallCountThreshold\":\"30\""));
    unsigned long long last = 0, seq;
    int n = 0, publish = 0, record = 0, retarget = 0;
    while (fgets(line, sizeof line, fp)) {
        ck_assert_msg(sscanf(line, "{\"type\":\"event\",\"seq\":%llu,", &seq) == 1, "bad line %s", line);
        ck_assert_uint_eq(seq, last + 1);
        last = seq;
        n++;
        if (strstr(line, "\"ev\":\"publish\"")) { publish++; ck_assert(strstr(line, "\"cls\":\"native\"")); }
        if (strstr(line, "\"ev\":\"slot_record\"")) record++;
        if (strstr(line, "\"ev\":\"precode_retarget\"")) retarget++;
        ck_assert(!strstr(line, "\"cls\":\"unknown\"") || strstr(line, "\"ev\":\"slot_write\""));
    }
    fclose(fp);
    unlink(path);
    ck_assert_int_gt(n, 10);
    ck_assert_int_eq(publish, 3);    /* tier0, tier0-instrumented, tier1 */
    ck_assert_int_eq(record, 1);     /* D's slot, discovered at the final tier */
    ck_assert_int_gt(retarget, 3);
}
END_TEST

TCase *tcase_units(void)
{
    TCase *tc = tcase_create("units");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, config_defaults_and_reject);
    tcase_add_test(tc, strategy_registry);
    tcase_add_test(tc, first_call_publishes_tier0);
    tcase_add_test(tc, tier_up_nonvirtual_and_virtual);
    tcase_add_test(tc, inherit_temporary_entry_point);
    tcase_add_test(tc, late_slots_discovered_at_final_tier);
    tcase_add_test(tc, interface_dispatch);
    tcase_add_test(tc, classification);
    tcase_add_test(tc, first_call_not_counted);
    tcase_add_test(tc, prestub_call_counted_forwarder);
    tcase_add_test(tc, prestub_call_reaches_threshold);
    tcase_add_test(tc, prestub_call_after_stub_threshold);
    tcase_add_test(tc, prestub_call_during_delay_pauses_counting);
    tcase_add_test(tc, delay_restarts_window);
    tcase_add_test(tc, type_unload_drops_slots);
    tcase_add_test(tc, version_request_revert);
    tcase_add_test(tc, tiering_off_and_not_tiered);
    tcase_add_test(tc, stub_deletion_deterministic);
    tcase_add_test(tc, trace_file);
    return tc;
}
