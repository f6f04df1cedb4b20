/* conformance/tests/test_counter_events.c — counters and events tell the
 * same story (`inv.counters.match-events`): over a whole scenario every
 * counter that counts an event kind moved by exactly the number of those
 * events, phase by phase, and an unsplit counter reports nothing as
 * non-final.  The scenario goes through every path that allocates, frees,
 * retargets, reaches a threshold or promotes: first calls, the delay,
 * counting stubs, a deletion pass that sends counting methods back to the
 * prestub (which then counts), a derived type loaded while counting,
 * TieredPGO's middle tier, IL versions, unload. */
#include "fixture.h"

#define CE_MAXC 128

typedef struct {
    tk_counter c[CE_MAXC];
    size_t n;
} ce_snap;

static ce_snap ce_read(tk_drv_runtime *rt)
{
    ce_snap s;
    memset(&s, 0, sizeof s);
    s.n = D->counters(rt, s.c, CE_MAXC);
    if (s.n > CE_MAXC) s.n = CE_MAXC;
    return s;
}

static const tk_counter *ce_find(const ce_snap *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].name && !strcmp(s->c[i].name, name)) return &s->c[i];
    tkt_fail("the driver reports no counter '%s' (SPEC.md \"Counters\" defines it)", name);
}

/* Events of the recorder, tallied the way the counters count. */
typedef struct {
    uint64_t alloc[3], freed[3];       /* precode, forwarder, callcount */
    uint64_t threshold[2];             /* by phase of the counted tier */
    uint64_t retarget[2];              /* by the event's phase */
    uint64_t writes[2];                /* slot_write, not type-load init */
    uint64_t records[2];               /* slot_record */
    uint64_t promo_t0_t1, promo_t0_t0i, promo_t0i_t1, promo_other;
} ce_tally;

static int ce_kind_index(uint32_t k)
{
    return k == TK_AC_PRECODE ? 0 : k == TK_AC_FORWARDER ? 1 : k == TK_AC_CALLCOUNT_STUB ? 2 : -1;
}

static ce_tally ce_count_events(void)
{
    ce_tally t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        int ph = e.phase == TK_PHASE_FINAL;
        switch (e.kind) {
        case TK_EV_STUB_ALLOC:
        case TK_EV_STUB_FREE: {
            int k = ce_kind_index(e.stub_kind);
            if (k < 0) tkt_fail("inv.counters.match-events: event %llu (%s) names stub kind %s",
                                (unsigned long long)e.seq, e.kind == TK_EV_STUB_ALLOC ? "stub_alloc" : "stub_free",
                                tkt_cls_name((int)e.stub_kind));
            (e.kind == TK_EV_STUB_ALLOC ? t.alloc : t.freed)[k]++;
            break;
        }
        case TK_EV_THRESHOLD: t.threshold[TK_TIER_IS_FINAL(e.tier)]++; break;
        case TK_EV_PRECODE_RETARGET: t.retarget[ph]++; break;
        case TK_EV_SLOT_WRITE:
            if (!(e.reason && !strcmp(e.reason, "init"))) t.writes[ph]++;
            break;
        case TK_EV_SLOT_RECORD: t.records[ph]++; break;
        case TK_EV_PROMOTE:
            if (e.aux == TK_TIER_0 && e.tier == TK_TIER_1) t.promo_t0_t1++;
            else if (e.aux == TK_TIER_0 && e.tier == TK_TIER_0_INSTRUMENTED) t.promo_t0_t0i++;
            else if (e.aux == TK_TIER_0_INSTRUMENTED && e.tier == TK_TIER_1) t.promo_t0i_t1++;
            else t.promo_other++;
            break;
        default: break;
        }
    }
    return t;
}

/* counter(after) - counter(before) == events, for an unsplit counter. */
static void ce_eq(const ce_snap *b, const ce_snap *a, const char *name, uint64_t events, const char *what)
{
    const tk_counter *cb = ce_find(b, name), *ca = ce_find(a, name);
    uint64_t d = (ca->nonfinal + ca->final) - (cb->nonfinal + cb->final);
    ck_assert_msg(d == events,
                  "inv.counters.match-events: %s moved by %llu over the scenario, but %llu %s events were "
                  "reported",
                  name, (unsigned long long)d, (unsigned long long)events, what);
}

/* The same for a split counter, phase by phase. */
static void ce_eq_split(const ce_snap *b, const ce_snap *a, const char *name, const uint64_t ev[2], const char *what)
{
    const tk_counter *cb = ce_find(b, name), *ca = ce_find(a, name);
    ck_assert_msg(ca->split, "inv.counters.match-events: %s is not split (SPEC.md \"Counters\": split)", name);
    uint64_t dn = ca->nonfinal - cb->nonfinal, df = ca->final - cb->final;
    ck_assert_msg(dn == ev[0] && df == ev[1],
                  "inv.counters.match-events: %s moved by %llu non-final / %llu final over the scenario, but "
                  "%llu / %llu %s events were reported",
                  name, (unsigned long long)dn, (unsigned long long)df, (unsigned long long)ev[0],
                  (unsigned long long)ev[1], what);
}

static const tk_method_def ce_im[2] = { { "CE.I.m0", NULL, TKT_ID(700), 0 }, { "CE.I.m1", NULL, TKT_ID(701), 0 } };
static const tk_method_def ce_pv[4] = { TKT_M("CE.P.v0", 710), TKT_M("CE.P.v1", 711), TKT_M("CE.P.v2", 712),
                                        TKT_M("CE.P.v3", 713) };
static const tk_method_def ce_pn[3] = { TKT_M("CE.P.n0", 720), TKT_M("CE.P.n1", 721), TKT_M("CE.P.n2", 722) };
static const tk_override_def ce_qo[1] = { { 2, TKT_M("CE.Q.v2", 730) } };
static const tk_method_def ce_qn[2] = { TKT_M("CE.Q.n0", 731), TKT_M("CE.Q.n1", 732) };

typedef struct {
    tk_drv_runtime *rt;
    tk_drv_type *i, *p, *q;
    tk_drv_object *op, *oq;
} ce_world;

static int ce_q_id(uint32_t s) { return s == 2 ? 730 : 710 + (int)s; }

/* Calls: P's virtual slots, P's non-virtuals, the interface slots of P,
 * and (when loaded) Q's slots and non-virtuals; `n` rounds. */
static void ce_calls(ce_world *w, int n)
{
    for (int r = 0; r < n; r++) {
        for (uint32_t s = 0; s < 4; s++) tkt_call_slot(D->vtable_slot(w->p, s), w->op, 710 + (int)s, r);
        for (uint32_t k = 0; k < 3; k++)
            tkt_call_slot(D->method_slot(D->nonvirtual_method(w->p, k)), w->op, 720 + (int)k, r);
        if (w->i)
            for (uint32_t k = 0; k < 2; k++) tkt_call_slot(D->interface_slot(w->p, w->i, k), w->op, 710 + (int)k, r);
        if (w->q) {
            for (uint32_t s = 0; s < 4; s++) tkt_call_slot(D->vtable_slot(w->q, s), w->oq, ce_q_id(s), r);
            for (uint32_t k = 0; k < 2; k++)
                tkt_call_slot(D->method_slot(D->nonvirtual_method(w->q, k)), w->oq, 731 + (int)k, r);
        }
    }
}

static void ce_scenario(int pgo, int del)
{
    char thr[40];
    snprintf(thr, sizeof thr, "DeleteCallCountingStubsAfter=%d", del);
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", pgo ? "TieredPGO=1" : "TieredPGO=0",
                                    "CallCountingDelayMs=100", "CallCountThreshold=3", thr);
    ce_world w = { rt, NULL, NULL, NULL, NULL, NULL };
    D->thread_attach(rt);
    tkt_events_start(rt);
    ce_snap before = ce_read(rt);

    w.i = fx_iface_if_supported(rt, "CE.I", 2, ce_im);
    tk_iface_impl_def impl[2] = { { w.i, 0, 0 }, { w.i, 1, 1 } };
    tk_type_def pd = { "CE.P", NULL, 0, 4, ce_pv, 0, NULL, 3, ce_pn, w.i ? 2 : 0, impl };
    w.p = fx_define(rt, &pd, 1);
    w.op = fx_obj(rt, w.p);
    ce_calls(&w, 1);                          /* first calls: published, not counted */
    tkt_tick(rt, FX_DELAY);                   /* counting begins */
    /* v0 and the non-virtuals reach the threshold, the rest count part way. */
    for (int r = 0; r < 3; r++) {
        tkt_call_slot(D->vtable_slot(w.p, 0), w.op, 710, r);
        for (uint32_t k = 0; k < 3; k++) tkt_call_slot(D->method_slot(D->nonvirtual_method(w.p, k)), w.op, 720 + (int)k, r);
    }
    tkt_call_slot(D->vtable_slot(w.p, 1), w.op, 711, 0);
    D->safepoint(rt);
    tkt_tick(rt, 0);                          /* completion, promotion, compiles, maybe a deletion pass */
    D->safepoint(rt);
    tkt_tick(rt, 0);

    /* A derived type loaded while its parent's methods count. */
    tk_type_def qd = { "CE.Q", w.p, 0, 0, NULL, 1, ce_qo, 2, ce_qn, 0, NULL };
    w.q = fx_define(rt, &qd, 1);
    w.oq = fx_obj(rt, w.q);
    for (int round = 0; round < 4; round++) {
        ce_calls(&w, 4);
        D->safepoint(rt);
        tkt_tick(rt, FX_DELAY);
        D->safepoint(rt);
        tkt_tick(rt, 0);
    }
    if (D->caps & TK_CAP_VERSIONING) {
        tk_drv_method *m = D->virtual_method(w.p, 3);
        ck_assert_msg(D->version_request(rt, m) > 0, "version_request(CE.P.v3) failed");
        for (int round = 0; round < 3; round++) {
            ce_calls(&w, 4);
            D->safepoint(rt);
            tkt_tick(rt, FX_DELAY);
        }
        ck_assert_msg(D->version_revert(rt, m) == 0, "version_revert(CE.P.v3) failed");
        ce_calls(&w, 2);
    }
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        D->object_free(rt, w.oq);
        ck_assert_msg(D->type_unload(rt, w.q) == 0, "type_unload(CE.Q) failed");
        w.q = NULL;
        D->safepoint(rt);
        tkt_tick(rt, FX_DELAY);
        D->safepoint(rt);
        tkt_tick(rt, 0);
        ce_calls(&w, 2);
    }
    D->safepoint(rt);
    tkt_tick(rt, FX_DELAY);
    ce_snap after = ce_read(rt);
    tkt_events_stop(rt);

    /* An unsplit counter puts everything in `final`. */
    for (size_t i = 0; i < after.n; i++)
        ck_assert_msg(after.c[i].split || after.c[i].nonfinal == 0,
                      "inv.counters.match-events: unsplit counter %s reports %llu as non-final (SPEC.md "
                      "\"Counters\": counters with no phase report everything as final)",
                      after.c[i].name ? after.c[i].name : "?", (unsigned long long)after.c[i].nonfinal);

    ce_tally t = ce_count_events();
    ce_eq(&before, &after, "stubs_allocated_precode", t.alloc[0], "stub_alloc precode");
    ce_eq(&before, &after, "stubs_allocated_forwarder", t.alloc[1], "stub_alloc forwarder");
    ce_eq(&before, &after, "stubs_allocated_callcount", t.alloc[2], "stub_alloc callcount");
    ce_eq(&before, &after, "stubs_freed_precode", t.freed[0], "stub_free precode");
    ce_eq(&before, &after, "stubs_freed_forwarder", t.freed[1], "stub_free forwarder");
    ce_eq(&before, &after, "stubs_freed_callcount", t.freed[2], "stub_free callcount");
    ce_eq_split(&before, &after, "threshold_hits", t.threshold, "threshold (by the tier's phase)");
    ce_eq_split(&before, &after, "precode_retargets", t.retarget, "precode_retarget");
    ce_eq_split(&before, &after, "slot_writes", t.writes, "slot_write (not reason init)");
    ce_eq_split(&before, &after, "slot_discoveries", t.records, "slot_record");
    ce_eq(&before, &after, "promotions_tier0_to_tier1", t.promo_t0_t1, "promote tier0 -> tier1");
    ce_eq(&before, &after, "promotions_tier0_to_tier0instr", t.promo_t0_t0i, "promote tier0 -> tier0-instrumented");
    ce_eq(&before, &after, "promotions_tier0instr_to_tier1", t.promo_t0i_t1, "promote tier0-instrumented -> tier1");
    ck_assert_msg(t.promo_other == 0, "inv.counters.match-events: %llu promote events of another transition",
                  (unsigned long long)t.promo_other);
    if (tkt_tiers(rt))
        ck_assert_msg(t.threshold[0] > 0 && t.alloc[2] > 0,
                      "the scenario reached no threshold (%llu) or allocated no counting stub (%llu): it checks "
                      "nothing",
                      (unsigned long long)t.threshold[0], (unsigned long long)t.alloc[2]);
    D->object_free(rt, w.op);
    D->thread_detach(rt);
    tkt_destroy(rt);
}

TK_TEST(counters_match_events, "inv.counters.match-events", "inv.counters.threshold-hits",
        "inv.counters.promotions", "inv.counters.callcount-stubs")
{
    tkt_require_caps(TK_CAP_COUNTERS | TK_CAP_EVENTS | TK_CAP_DETERMINISTIC);
    int pgo_max = (D->caps & TK_CAP_PGO) ? 1 : 0, del_max = (D->caps & TK_CAP_STUB_DELETION) ? 1 : 0;
    for (int pgo = 0; pgo <= pgo_max; pgo++)
        for (int del = 0; del <= del_max; del++) ce_scenario(pgo, del);
}
