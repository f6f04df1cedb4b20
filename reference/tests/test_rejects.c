/* reference/tests/test_rejects.c — what the public API refuses, exactly at
 * its boundaries, with the documented result (SPEC `impl.fault-results`;
 * tierkit.h): each refused definition gets NULL and the message "type
 * NAME: REASON" and leaves nothing allocated or locked; the last accepted
 * value next to each refused one works; state checks of load, unload and
 * object creation; accessors out of range; the names of tiers, address
 * classes, events and strategies, unknown values included. */
#include "reftest.h"
#include "../rt_internal.h"
#include "../../arch/tests/fault_seam.h"

#include <stdio.h>
#include <string.h>

static int64_t rbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

static void refused(tk_runtime *rt, const tk_type_def *d, const char *expect)
{
    char err[256] = "";
    tkf_track_begin();
    tk_type *t = tk_type_define(rt, d, err, sizeof err);
    size_t live = tkf_track_live();
    tkf_track_end();
    ck_assert_msg(t == NULL, "accepted: %s", expect);
    ck_assert_str_eq(err, expect);
    ck_assert_msg(live == 0, "refusing '%s' left %zu block(s) allocated", expect, live);
    ck_assert_int_eq(tkf_locks_held(), 0);
    ck_assert_uint_eq(tkr_locks_held(), 0);
}

static tk_type *accepted(tk_runtime *rt, const tk_type_def *d)
{
    char err[256] = "";
    tk_type *t = tk_type_define(rt, d, err, sizeof err);
    ck_assert_msg(t != NULL, "%s: %s", d->name, err);
    return t;
}

START_TEST(define_refusals_at_their_boundaries)
{
    tk_runtime *rt = rt_new(NULL, NULL);
    tk_method_def pv[2] = { { "P.V0", rbody, (void *)1, 0 }, { "P.V1", rbody, (void *)2, 0 } };
    tk_type_def pd = { "P", NULL, 0, 2, pv, 0, NULL, 0, NULL, 0, NULL };
    tk_type *p = accepted(rt, &pd);
    ck_assert_int_eq(tk_type_load(rt, p), 0);
    tk_method_def im[2] = { { "I.M0", NULL, NULL, 0 }, { "I.M1", NULL, NULL, 0 } };
    tk_type_def idf = { "I", NULL, TK_TYPE_INTERFACE, 2, im, 0, NULL, 0, NULL, 0, NULL };
    tk_type *iface = accepted(rt, &idf);
    ck_assert_int_eq(tk_type_load(rt, iface), 0);
    ck_assert_ptr_null(tk_object_new(rt, iface));

    char err[256] = "";
    ck_assert_ptr_null(tk_type_define(rt, NULL, err, sizeof err));
    ck_assert_str_eq(err, "type ?: NULL definition");

    tk_type_def d = { "X", iface, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
    refused(rt, &d, "type X: parent is an interface");

    /* an interface declares only virtuals: no parent, override, method, impl */
    tk_method_def nv[1] = { { "X.N", rbody, (void *)3, 0 } };
    tk_override_def ov0[1] = { { 0, { "X.V0", rbody, (void *)4, 0 } } };
    tk_iface_impl_def impl_ok[1] = { { iface, 1, 1 } };
    tk_type_def bad_if[4] = {
        { "XI", p, TK_TYPE_INTERFACE, 0, NULL, 0, NULL, 0, NULL, 0, NULL },
        { "XI", NULL, TK_TYPE_INTERFACE, 0, NULL, 1, ov0, 0, NULL, 0, NULL },
        { "XI", NULL, TK_TYPE_INTERFACE, 0, NULL, 0, NULL, 1, nv, 0, NULL },
        { "XI", NULL, TK_TYPE_INTERFACE, 0, NULL, 0, NULL, 0, NULL, 1, impl_ok },
    };
    for (int i = 0; i < 4; i++) refused(rt, &bad_if[i], "type XI: an interface only declares virtuals");

    tk_type_def no_arr[4] = {
        { "XA", NULL, 0, 1, NULL, 0, NULL, 0, NULL, 0, NULL },
        { "XA", p, 0, 0, NULL, 1, NULL, 0, NULL, 0, NULL },
        { "XA", NULL, 0, 0, NULL, 0, NULL, 1, NULL, 0, NULL },
        { "XA", NULL, 0, 0, NULL, 0, NULL, 0, NULL, 1, NULL },
    };
    for (int i = 0; i < 4; i++) refused(rt, &no_arr[i], "type XA: count without array");

    /* overrides: slots 0..1 exist in P, 2 does not; a body is required */
    tk_override_def ov2[1] = { { 2, { "XO.V2", rbody, (void *)5, 0 } } };
    tk_type_def dov = { "XO", p, 0, 0, NULL, 1, ov2, 0, NULL, 0, NULL };
    refused(rt, &dov, "type XO: override of a slot the parent does not have");
    tk_override_def ovnb[1] = { { 1, { "XO.V1", NULL, (void *)5, 0 } } };
    tk_type_def dovnb = { "XO", p, 0, 0, NULL, 1, ovnb, 0, NULL, 0, NULL };
    refused(rt, &dovnb, "type XO: override without a body");
    tk_method_def nvnb[2] = { { "XN.N0", rbody, (void *)6, 0 }, { "XN.N1", NULL, (void *)7, 0 } };
    tk_type_def dnvnb = { "XN", NULL, 0, 0, NULL, 0, NULL, 2, nvnb, 0, NULL };
    refused(rt, &dnvnb, "type XN: non-virtual method without a body");

    /* interface map entries: the interface's slots 0..1, the type's vtable
     * slots 0..(parent's 2 + own 1 - 1) */
    tk_method_def cv[1] = { { "C.V2", rbody, (void *)8, 0 } };
    tk_iface_impl_def bad_impl[4] = { { NULL, 0, 0 }, { p, 0, 0 }, { iface, 2, 0 }, { iface, 0, 3 } };
    for (int i = 0; i < 4; i++) {
        tk_type_def dc = { "XM", p, 0, 1, cv, 0, NULL, 0, NULL, 1, &bad_impl[i] };
        refused(rt, &dc, "type XM: bad interface implementation entry");
    }

    /* the last accepted value of each: they work */
    tk_override_def ov1[1] = { { 1, { "C.V1", rbody, (void *)9, 0 } } };
    tk_iface_impl_def good[2] = { { iface, 1, 2 }, { iface, 0, 1 } };
    tk_type_def cd = { "C", p, 0, 1, cv, 1, ov1, 1, nv, 2, good };
    tk_type *c = accepted(rt, &cd);
    ck_assert_int_eq(tk_type_load(rt, c), 0);
    tk_object *o = tk_object_new(rt, c);
    ck_assert_uint_eq(tk_type_vtable_size(c), 3);
    ck_assert_int_eq(call_slot(tk_interface_slot(c, iface, 1), o, 5), 8005);   /* -> vtable 2: C.V2 */
    ck_assert_int_eq(call_slot(tk_interface_slot(c, iface, 0), o, 6), 9006);   /* -> vtable 1: C.V1 */
    ck_assert_ptr_null(tk_interface_slot(c, iface, 2));
    ck_assert_ptr_null(tk_interface_slot(p, iface, 0));
    ck_assert_int_eq(call_slot(tk_vtable_slot(c, 0), o, 7), 1007);
    ck_assert_ptr_null(tk_vtable_slot(c, 3));
    ck_assert_ptr_nonnull(tk_type_virtual_method(c, 2));
    ck_assert_ptr_null(tk_type_virtual_method(c, 3));
    ck_assert_ptr_nonnull(tk_type_nonvirtual_method(c, 0));
    ck_assert_ptr_null(tk_type_nonvirtual_method(c, 1));
    ck_assert_str_eq(tk_type_name(c), "C");
    ck_assert_str_eq(tk_method_name(tk_type_virtual_method(c, 1)), "C.V1");
    ck_assert_ptr_eq(tk_type_virtual_method(c, 0), tk_type_virtual_method(p, 0));   /* inherited */

    /* load, unload and object creation check the state */
    ck_assert_int_eq(tk_type_load(rt, NULL), -1);
    ck_assert_int_eq(tk_type_unload(rt, NULL), -1);
    ck_assert_int_eq(tk_type_load(rt, c), -1);                 /* loaded already */
    ck_assert_int_eq(tk_type_unload(rt, p), -1);               /* a loaded child */
    tk_type_def cd2 = { "C2", c, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
    tk_type *c2 = accepted(rt, &cd2);
    ck_assert_int_eq(tk_type_unload(rt, c2), -1);              /* not loaded */
    tk_object_free(rt, o);
    ck_assert_int_eq(tk_type_unload(rt, c), 0);
    ck_assert_int_eq(tk_type_unload(rt, c), -1);               /* twice */
    ck_assert_int_eq(tk_type_load(rt, c), -1);                 /* unloaded */
    ck_assert_int_eq(tk_type_load(rt, c2), -1);                /* parent unloaded */
    ck_assert_ptr_null(tk_object_new(rt, c));
    ck_assert_ptr_null(tk_object_new(rt, c2));
    tk_type_def cd3 = { "C3", c, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL };
    refused(rt, &cd3, "type C3: parent type is unloaded");
    tk_type_def ad = { "A", NULL, TK_TYPE_ABSTRACT, 1, pv, 0, NULL, 0, NULL, 0, NULL };
    tk_type *a = accepted(rt, &ad);
    ck_assert_int_eq(tk_type_load(rt, a), 0);
    ck_assert_ptr_null(tk_object_new(rt, a));
    /* an abstract slot: no entry, no version */
    ck_assert_ptr_null(*tk_vtable_slot(iface, 0));
    ck_assert_int_eq(tk_version_request(rt, tk_type_virtual_method(iface, 0)), -1);
    ck_assert_int_eq(tk_version_revert(rt, tk_type_virtual_method(iface, 0)), -1);
    ck_assert_int_eq(tk_version_request(rt, NULL), -1);
    ck_assert_int_eq(tk_version_revert(rt, NULL), -1);
    ck_assert_uint_eq(tkr_locks_held(), 0);
    tk_runtime_destroy(rt);
}
END_TEST

/* Reverting to the active version is a no-op: the method stays published
 * with its code; reverting from another version republishes. */
START_TEST(revert_to_the_active_version_changes_nothing)
{
    for (size_t s = 0; s < tk_strategy_count(); s++) {
        fx f;
        fx_init_with(&f, tk_strategy_names[s], (const char *const[]){ "CallCountThreshold", "2", NULL }, rbody);
        tk_method *m = tk_type_virtual_method(f.base, 0);
        void **slot = tk_vtable_slot(f.base, 0);
        for (int r = 0; r < 6; r++) {
            for (int k = 0; k < 4; k++) ck_assert_int_eq(call_slot(slot, f.obj, k), 1000 + k);
            advance_and_drain(f.rt, 200);
        }
        tk_method_state a, b;
        tk_method_get_state(f.rt, m, &a);
        ck_assert_msg(TK_TIER_IS_FINAL(a.tier) && a.published, "%s: not final", tk_strategy_names[s]);
        void *before = *slot;
        int64_t retargets = tk_counter_total(f.rt, "precode_retargets"), writes = tk_counter_total(f.rt, "slot_writes");
        ck_assert_int_eq(tk_version_revert(f.rt, m), 0);
        tk_method_get_state(f.rt, m, &b);
        ck_assert_int_eq(b.published, 1);
        ck_assert_int_eq(b.tier, a.tier);
        ck_assert_int_eq(b.il_version, 0);
        ck_assert_uint_eq(b.compiles, a.compiles);
        ck_assert_ptr_eq(*slot, before);
        ck_assert_int_eq(tk_counter_total(f.rt, "precode_retargets"), retargets);
        ck_assert_int_eq(tk_counter_total(f.rt, "slot_writes"), writes);
        ck_assert_int_eq(tk_version_request(f.rt, m), 1);
        tk_method_get_state(f.rt, m, &b);
        ck_assert_int_eq(b.published, 0);
        ck_assert_int_eq(b.il_version, 1);
        ck_assert_int_eq(call_slot(slot, f.obj, 3), 1003);
        ck_assert_int_eq(tk_version_revert(f.rt, m), 0);
        tk_method_get_state(f.rt, m, &b);
        ck_assert_int_eq(b.published, 0);
        ck_assert_int_eq(b.il_version, 0);
        ck_assert_int_eq(call_slot(slot, f.obj, 4), 1004);
        ck_assert_int_eq(tk_version_request(f.rt, m), 2);
        fx_done(&f);
    }
}
END_TEST

START_TEST(names_of_every_value)
{
    static const struct { int32_t t; const char *n; } tiers[] = {
        { TK_TIER_0, "tier0" }, { TK_TIER_0_INSTRUMENTED, "tier0-instrumented" }, { TK_TIER_1, "tier1" },
        { TK_TIER_OPTIMIZED, "optimized" }, { TK_TIER_UNKNOWN, "unknown" }, { 77, "unknown" } };
    for (size_t i = 0; i < sizeof tiers / sizeof *tiers; i++) ck_assert_str_eq(tk_tier_name(tiers[i].t), tiers[i].n);
    static const char *const cls[] = { "unknown", "prestub", "precode", "forwarder", "callcount", "native", "freed" };
    for (int c = 0; c <= TK_AC_FREED; c++) ck_assert_str_eq(tk_addr_class_name((tk_addr_class)c), cls[c]);
    ck_assert_str_eq(tk_addr_class_name((tk_addr_class)(TK_AC_FREED + 1)), "unknown");
    /* SPEC "Event trace": the `ev` names */
    static const struct { tk_event_kind k; const char *n; } ev[] = {
        { TK_EV_SLOT_WRITE, "slot_write" }, { TK_EV_SLOT_RECORD, "slot_record" },
        { TK_EV_PRECODE_RETARGET, "precode_retarget" }, { TK_EV_STUB_ALLOC, "stub_alloc" },
        { TK_EV_STUB_FREE, "stub_free" }, { TK_EV_VERSION_PUBLISH, "publish" }, { TK_EV_VERSION_ACTIVATE, "activate" },
        { TK_EV_LOCK_ACQUIRE, "lock_acquire" }, { TK_EV_LOCK_RELEASE, "lock_release" },
        { TK_EV_BACKPATCH_BEGIN, "backpatch_begin" }, { TK_EV_BACKPATCH_END, "backpatch_end" },
        { TK_EV_THRESHOLD, "threshold" }, { TK_EV_PROMOTE, "promote" }, { TK_EV_COUNTING_BEGIN, "counting_begin" },
        { TK_EV_COUNTING_COMPLETE, "counting_complete" }, { TK_EV_DELAY_BEGIN, "delay_begin" },
        { TK_EV_DELAY_EXTEND, "delay_extend" }, { TK_EV_DELAY_END, "delay_end" },
        { TK_EV_SAFEPOINT_SYNC, "safepoint_sync" }, { TK_EV_TYPE_LOAD, "type_load" },
        { TK_EV_TYPE_UNLOAD, "type_unload" } };
    ck_assert_uint_eq(sizeof ev / sizeof *ev, TK_EV_KIND_COUNT - 1);
    for (size_t i = 0; i < sizeof ev / sizeof *ev; i++) ck_assert_str_eq(tk_event_name(ev[i].k), ev[i].n);
    ck_assert_str_eq(tk_event_name((tk_event_kind)0), "unknown");
    ck_assert_str_eq(tk_event_name(TK_EV_KIND_COUNT), "unknown");
    size_t n = tk_strategy_count();
    ck_assert_uint_ge(n, TK_STRATEGY_COUNT);
    for (size_t s = 0; s < n; s++) ck_assert_str_eq(tk_strategy_name((tk_strategy)s), tk_strategy_names[s]);
    ck_assert_ptr_null(tk_strategy_names[n]);
    ck_assert_str_eq(tk_strategy_name((tk_strategy)n), "?");
    tk_runtime *rt = rt_new(NULL, NULL);
    ck_assert_int_eq(tk_counter_total(rt, "no_such_counter"), -1);
    ck_assert_int_eq(tk_counter_total(rt, "compiles"), 0);
    tk_runtime_destroy(rt);
}
END_TEST

/* A configuration naming no registered strategy: NULL and the message. */
START_TEST(create_refuses_unknown_strategy_index)
{
    tk_config cfg;
    tk_config_defaults(&cfg);
    cfg.mode = TK_MODE_DETERMINISTIC;
    cfg.strategy = (tk_strategy)tk_strategy_count();
    char err[256] = "", want[256];
    tkf_track_begin();
    ck_assert_ptr_null(tk_runtime_create(&cfg, err, sizeof err));
    size_t live = tkf_track_live();
    tkf_track_end();
    snprintf(want, sizeof want, "config: invalid value %zu for key Strategy (allowed: 0..%zu)", tk_strategy_count(),
             tk_strategy_count() - 1);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(live, 0);
    cfg.strategy = (tk_strategy)(tk_strategy_count() - 1);
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    ck_assert_int_eq(tk_runtime_config(rt)->strategy, (int)tk_strategy_count() - 1);
    tk_runtime_destroy(rt);
}
END_TEST

TCase *tcase_rejects(void)
{
    TCase *tc = tcase_create("rejects");
    tcase_add_test(tc, define_refusals_at_their_boundaries);
    tcase_add_test(tc, revert_to_the_active_version_changes_nothing);
    tcase_add_test(tc, names_of_every_value);
    tcase_add_test(tc, create_refuses_unknown_strategy_index);
    return tc;
}
