/* conformance/tests/test_backpatch.c — backpatch passes (event order and
 * locking), lazy final-only backpatching, type unload. */
#include "fixture.h"

static const tk_method_def bp_v[] = { TKT_M("BP.V", 51) };

/* Many recorded slots for one method: Base + 4 derived types, each slot
 * discovered by a call; then tier transitions backpatch them. */
static void many_slots_scenario(tk_drv_runtime *rt, tk_drv_method **mout)
{
    tk_drv_type *b = fx_class(rt, "BP", NULL, 1, bp_v, 0, NULL);
    static const char *const dn[] = { "BP1", "BP2", "BP3", "BP4" };
    tk_drv_type *d[4];
    tk_drv_object *od[4], *ob = fx_obj(rt, b);
    for (int i = 0; i < 4; i++) { d[i] = fx_class(rt, dn[i], b, 0, NULL, 0, NULL); od[i] = fx_obj(rt, d[i]); }
    *mout = fx_vm(b, 0);
    for (int round = 0; round < 8; round++) {
        tkt_call_slot(fx_vslot(b, 0), ob, 51, round);
        for (int i = 0; i < 4; i++) tkt_call_slot(fx_vslot(d[i], 0), od[i], 51, round);
        tkt_call_slot(D->method_slot(*mout), ob, 51, round);
        tkt_tick(rt, round == 0 ? FX_DELAY : 0);
    }
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, *mout)), "setup: BP.V not at its final tier (%s)",
                  tkt_tier_name(fx_tier(rt, *mout)));
}

/* inv.backpatch.owning-slot-last + inv.backpatch.record-under-lock, from
 * the event stream. */
TK_TEST(backpatch_order_and_lock, "inv.backpatch.owning-slot-last", "inv.backpatch.record-under-lock")
{
    tkt_require_caps(TK_CAP_EVENTS);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    tkt_require_tiering(rt);
    tkt_events_start(rt);
    tk_drv_method *m;
    many_slots_scenario(rt, &m);
    size_t records = 0, passes = 0, writes_in_pass = 0;
    int in_pass = 0;
    void **own = D->method_slot(m);
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == TK_EV_SLOT_RECORD) records++;
        if (e.kind == TK_EV_BACKPATCH_BEGIN && e.method == m) { passes++; in_pass = 1; }
        if (e.kind == TK_EV_BACKPATCH_END && e.method == m) in_pass = 0;
        if (in_pass && e.kind == TK_EV_SLOT_WRITE && e.method == m && e.slot != own) writes_in_pass++;
    }
    tkt_note("Strategy=%s: %zu slot records, %zu backpatch passes, %zu recorded-slot writes inside passes",
             tkt_strategy(rt), records, passes, writes_in_pass);
    if (!strcmp(tkt_strategy(rt), "forwarder") || !strcmp(tkt_strategy(rt), "precode-reuse"))
        ck_assert_msg(records > 0 && passes > 0,
                      "Strategy=%s records slots and backpatches eagerly, but the scenario produced %zu records and "
                      "%zu passes", tkt_strategy(rt), records, passes);
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
    tkt_destroy(rt);
}

/* inv.backpatch.lazy-final-only (SHOULD, lazy): no backpatching during
 * non-final tiers. */
TK_TEST(backpatch_lazy_final_only, "inv.backpatch.lazy-final-only")
{
    tkt_require_caps(TK_CAP_EVENTS);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    if (strcmp(tkt_strategy(rt), "lazy")) tkt_unsupported("applies to Strategy=lazy only (runtime runs %s)", tkt_strategy(rt));
    tkt_events_start(rt);
    tk_drv_method *m;
    many_slots_scenario(rt, &m);
    size_t nonfinal_writes = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == TK_EV_SLOT_WRITE && e.reason && strcmp(e.reason, "init") &&
            e.new_info.cls == TK_AC_NATIVE_CODE && !TK_TIER_IS_FINAL(e.new_info.tier))
            nonfinal_writes++;
    }
    ck_assert_msg(nonfinal_writes == 0, "%zu slot writes stored non-final code", nonfinal_writes);
    tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
    tkt_destroy(rt);
}

/* inv.types.unload-removes-slots: after unloading a type whose slot was
 * recorded, no backpatch writes into its slots. */
static const tk_method_def ul_v[] = { TKT_M("UL.V", 52) };

TK_TEST(types_unload_removes_slots, "inv.types.unload-removes-slots")
{
    tkt_require_caps(TK_CAP_TYPE_UNLOAD | TK_CAP_EVENTS);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    tkt_events_start(rt);
    tk_drv_type *b = fx_class(rt, "UL", NULL, 1, ul_v, 0, NULL);
    tk_drv_object *ob = fx_obj(rt, b);
    void **sb = fx_vslot(b, 0);
    tk_drv_method *m = fx_vm(b, 0);
    void **gone[3];
    static const char *const names[] = { "ULc0", "ULc1", "ULc2" };
    for (int k = 0; k < 3; k++) {
        tk_drv_type *d = fx_class(rt, names[k], b, 0, NULL, 0, NULL);
        tk_drv_object *od = fx_obj(rt, d);
        gone[k] = fx_vslot(d, 0);
        for (int i = 0; i < 3; i++) tkt_call_slot(gone[k], od, 52, i);    /* discovered */
        if (k == 0) tkt_tick(rt, FX_DELAY);
        D->object_free(rt, od);
        ck_assert_msg(D->type_unload(rt, d) == 0, "type_unload(%s) failed", names[k]);
    }
    size_t mark = tkt_events_count();
    for (int i = 0; i < 6; i++) tkt_call_slot(sb, ob, 52, i);
    tkt_tick(rt, FX_DELAY);
    for (int i = 0; i < 6; i++) tkt_call_slot(sb, ob, 52, i);
    D->drain(rt);
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, m)), "setup: UL.V not promoted (%s)", tkt_tier_name(fx_tier(rt, m)));
    for (size_t i = mark; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind != TK_EV_SLOT_WRITE && e.kind != TK_EV_SLOT_RECORD) continue;
        for (int k = 0; k < 3; k++)
            ck_assert_msg(e.slot != gone[k], "event seq %llu (%s) writes slot %p of unloaded type %s",
                          (unsigned long long)e.seq, e.reason ? e.reason : "-", (void *)e.slot, names[k]);
    }
    tkt_call c = tkt_call_logged(sb, ob, 52, 9);
    ck_assert_msg(TK_TIER_IS_FINAL(c.tier), "surviving slot ran %s", tkt_tier_name(c.tier));
    tkt_destroy(rt);
}
