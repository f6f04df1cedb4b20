/* conformance/tests/test_counter_events.c — counters and events tell the
 * same story (`inv.counters.match-events`), each event carries exactly the
 * fields of its kind and the slot writes are the slots' whole history
 * (`inv.observability.event-fields`): over a whole scenario every
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

/* ---- inv.observability.event-fields ---------------------------------------- */

static int ce_tier_valid(int32_t t)
{
    return t == TK_TIER_0 || t == TK_TIER_1 || t == TK_TIER_OPTIMIZED || t == TK_TIER_0_INSTRUMENTED;
}

#define CE_FIELD(cond, ...)                                                                         \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            char m_[256];                                                                           \
            snprintf(m_, sizeof m_, __VA_ARGS__);                                                   \
            tkt_fail("inv.observability.event-fields: event %llu (kind %d): %s", (unsigned long long)e.seq, \
                     (int)e.kind, m_);                                                              \
        }                                                                                           \
    } while (0)

/* Every recorded event against its row of SPEC.md "Event trace": what the
 * row lists is there and consistent, what it does not list is empty. */
static void ce_check_fields(void)
{
    uint64_t prev_seq = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        CE_FIELD(e.seq > prev_seq, "seq %llu after %llu (must strictly increase)", (unsigned long long)e.seq,
                 (unsigned long long)prev_seq);
        prev_seq = e.seq;
        CE_FIELD(e.kind >= TK_EV_SLOT_WRITE && e.kind < TK_EV_KIND_COUNT, "unknown kind");
        int slot_ev = e.kind == TK_EV_SLOT_WRITE || e.kind == TK_EV_SLOT_RECORD;
        int stub_ev = e.kind == TK_EV_STUB_ALLOC || e.kind == TK_EV_STUB_FREE || e.kind == TK_EV_PRECODE_RETARGET;
        int type_ev = e.kind == TK_EV_TYPE_LOAD || e.kind == TK_EV_TYPE_UNLOAD;
        int no_method = e.kind == TK_EV_LOCK_ACQUIRE || e.kind == TK_EV_LOCK_RELEASE || e.kind == TK_EV_DELAY_BEGIN ||
                        e.kind == TK_EV_DELAY_END || e.kind == TK_EV_SAFEPOINT_SYNC || type_ev;
        int has_il = e.kind == TK_EV_STUB_ALLOC || e.kind == TK_EV_STUB_FREE || e.kind == TK_EV_VERSION_PUBLISH ||
                     e.kind == TK_EV_VERSION_ACTIVATE || e.kind == TK_EV_COUNTING_BEGIN ||
                     e.kind == TK_EV_COUNTING_COMPLETE || e.kind == TK_EV_THRESHOLD || e.kind == TK_EV_PROMOTE;
        CE_FIELD(slot_ev == (e.slot != NULL), "slot %p (slot events, and only they, name a slot)", (void *)e.slot);
        CE_FIELD(stub_ev == (e.stub != NULL), "stub %p (stub events, and only they, name a stub)", e.stub);
        CE_FIELD(type_ev ? e.type != NULL : (slot_ev || e.type == NULL),
                 "type %p (type events name their type, slot events may name the slot's, no other does)",
                 (void *)e.type);
        CE_FIELD(no_method ? e.method == NULL : (e.kind == TK_EV_DELAY_EXTEND || e.method != NULL),
                 "method %p (the row %s a method)", (void *)e.method, no_method ? "has no" : "names");
        CE_FIELD(has_il || e.il_version == 0, "il_version %u on a kind without one", e.il_version);
        CE_FIELD(e.kind == TK_EV_PROMOTE || e.aux == 0, "aux %lld on a kind other than promote", (long long)e.aux);
        switch (e.kind) {
        case TK_EV_SLOT_WRITE:
        case TK_EV_SLOT_RECORD:
            CE_FIELD(e.new_value != NULL, "a slot event without its new value");
            CE_FIELD(e.slot_kind <= TK_SLOT_NONVIRTUAL, "slot_kind %d", (int)e.slot_kind);
            break;
        case TK_EV_STUB_ALLOC:
        case TK_EV_STUB_FREE:
            CE_FIELD(ce_kind_index(e.stub_kind) >= 0, "stub_kind %s", tkt_cls_name((int)e.stub_kind));
            if (e.stub_kind == TK_AC_CALLCOUNT_STUB)
                CE_FIELD(ce_tier_valid(e.tier) && !TK_TIER_IS_FINAL(e.tier), "a counting stub of tier %d", e.tier);
            break;
        case TK_EV_PRECODE_RETARGET:
            CE_FIELD(e.stub_kind == TK_AC_PRECODE || e.stub_kind == TK_AC_FORWARDER, "retarget of a %s",
                     tkt_cls_name((int)e.stub_kind));
            CE_FIELD(e.new_value != NULL, "a retarget without its new target");
            break;
        case TK_EV_VERSION_PUBLISH:
            CE_FIELD(ce_tier_valid(e.tier), "publish of tier %d", e.tier);
            CE_FIELD(e.new_value && e.new_info.cls == TK_AC_NATIVE_CODE && e.new_info.method == e.method &&
                         e.new_info.tier == e.tier && e.new_info.il_version == e.il_version,
                     "publish of %s@%d/il%u names new = %s of %p @%d/il%u", D->method_name(e.method), e.tier,
                     e.il_version, tkt_cls_name(e.new_info.cls), (void *)e.new_info.method, e.new_info.tier,
                     e.new_info.il_version);
            break;
        case TK_EV_THRESHOLD:
        case TK_EV_COUNTING_BEGIN:
        case TK_EV_COUNTING_COMPLETE:
            CE_FIELD(ce_tier_valid(e.tier) && !TK_TIER_IS_FINAL(e.tier), "counting of tier %d", e.tier);
            break;
        case TK_EV_PROMOTE:
            CE_FIELD((e.aux == TK_TIER_0 && (e.tier == TK_TIER_1 || e.tier == TK_TIER_0_INSTRUMENTED)) ||
                         (e.aux == TK_TIER_0_INSTRUMENTED && e.tier == TK_TIER_1),
                     "promote from tier %lld to tier %d", (long long)e.aux, e.tier);
            break;
        case TK_EV_BACKPATCH_BEGIN:
            CE_FIELD(e.new_value != NULL, "a backpatch pass without the entry point it installs");
            break;
        default: break;
        }
    }
}

/* Events that come in pairs: a stub is freed once, after its allocation,
 * as the kind and for the method it was allocated as; a method's
 * counting_complete closes the counting_begin of the same tier and IL
 * version, and a method counts one version at a time. */
#define CE_MAXP 512
static void ce_check_pairs(void)
{
    struct { void *stub; tk_drv_method *m; uint32_t kind; } live[CE_MAXP];
    struct { tk_drv_method *m; int32_t tier; uint32_t il; } open[CE_MAXP];
    size_t nl = 0, no = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == TK_EV_STUB_ALLOC) {
            for (size_t k = 0; k < nl; k++) CE_FIELD(live[k].stub != e.stub, "stub_alloc of the live stub %p", e.stub);
            if (nl < CE_MAXP) { live[nl].stub = e.stub; live[nl].m = e.method; live[nl].kind = e.stub_kind; nl++; }
        } else if (e.kind == TK_EV_STUB_FREE) {
            size_t k = 0;
            while (k < nl && live[k].stub != e.stub) k++;
            if (k == nl && nl == CE_MAXP) continue;          /* beyond what this check tracks */
            CE_FIELD(k < nl, "stub_free of %p, which no stub_alloc made live", e.stub);
            CE_FIELD(live[k].kind == e.stub_kind && live[k].m == e.method,
                     "stub_free of %p as %s of %p; it was allocated as %s of %p", e.stub,
                     tkt_cls_name((int)e.stub_kind), (void *)e.method, tkt_cls_name((int)live[k].kind),
                     (void *)live[k].m);
            live[k] = live[--nl];
        } else if (e.kind == TK_EV_COUNTING_BEGIN || e.kind == TK_EV_COUNTING_COMPLETE) {
            size_t k = 0;
            while (k < no && open[k].m != e.method) k++;
            if (e.kind == TK_EV_COUNTING_BEGIN) {
                CE_FIELD(k == no, "counting_begin of %s while its counting of tier %d / il %u is open",
                         D->method_name(e.method), k < no ? open[k].tier : 0, k < no ? open[k].il : 0);
                if (no < CE_MAXP) { open[no].m = e.method; open[no].tier = e.tier; open[no].il = e.il_version; no++; }
            } else {
                if (k == no && no == CE_MAXP) continue;
                CE_FIELD(k < no, "counting_complete of %s without a counting_begin", D->method_name(e.method));
                CE_FIELD(open[k].tier == e.tier && open[k].il == e.il_version,
                         "counting_complete of %s at tier %d / il %u closes a counting_begin at tier %d / il %u",
                         D->method_name(e.method), e.tier, e.il_version, open[k].tier, open[k].il);
                open[k] = open[--no];
            }
        }
    }
}

/* The slot writes are each slot's history: a write's old value is the
 * previous write's new one, and the last write's new value is what the
 * slot holds now (no store goes unreported).  `slots`: the slots the
 * client reaches, with 1 for non-virtual methods' own slots. */
static void ce_check_history(tk_drv_runtime *rt, void **const *slots, const int *nonvirtual, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        void *last = NULL;
        size_t writes = 0;
        for (size_t i = 0; i < tkt_events_count(); i++) {
            tk_event e = tkt_event_at(i);
            if (e.kind != TK_EV_SLOT_WRITE || e.slot != slots[k]) continue;
            CE_FIELD(!writes || e.old_value == last,
                     "slot %p written from %p, but its previous write left %p (a store went unreported)",
                     (void *)slots[k], e.old_value, last);
            CE_FIELD((e.slot_kind == TK_SLOT_NONVIRTUAL) == nonvirtual[k],
                     "slot %p is %sa non-virtual method's own slot, slot_kind %d", (void *)slots[k],
                     nonvirtual[k] ? "" : "not ", (int)e.slot_kind);
            last = e.new_value;
            writes++;
        }
        void *now = tkt_load(slots[k]);
        char buf[200];
        ck_assert_msg(writes > 0 && last == now,
                      "inv.observability.event-fields: slot %p holds %s, but %s (every store into a slot, the "
                      "type load's included, is a slot_write event)",
                      (void *)slots[k], tkt_describe(rt, now, buf, sizeof buf),
                      writes ? "its last slot_write wrote another value" : "no slot_write event names it");
    }
}

/* Whether an event of `kind` names method m (NULL m: type t); the last
 * such event in *out. */
static int ce_last_event(tk_event_kind kind, tk_drv_method *m, tk_drv_type *t, tk_event *out)
{
    int found = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == kind && (m ? e.method == m : e.type == t)) { *out = e; found = 1; }
    }
    return found;
}

/* A published method's last publish event names its current code. */
static void ce_check_published(tk_drv_runtime *rt, tk_drv_method *m)
{
    tk_method_state st = tkt_state(rt, m);
    if (!st.published || st.tier == TK_TIER_UNKNOWN) return;
    tk_event e;
    memset(&e, 0, sizeof e);
    CE_FIELD(ce_last_event(TK_EV_VERSION_PUBLISH, m, NULL, &e) && e.tier == st.tier && e.il_version == st.il_version,
             "%s runs tier %d / il %u, but its last publish event names tier %d / il %u", D->method_name(m), st.tier,
             st.il_version, e.kind ? e.tier : -9, e.kind ? e.il_version : 0);
}

/* Every slot of the scenario's world the client can reach, every loaded
 * type's type_load, every published method's publish. */
static void ce_world_history(ce_world *w)
{
    tk_drv_type *types[2] = { w->p, w->q };
    for (int k = 0; k < 2 && types[k]; k++) {
        size_t loads = 0;
        for (size_t i = 0; i < tkt_events_count(); i++) {
            tk_event e = tkt_event_at(i);
            loads += e.kind == TK_EV_TYPE_LOAD && e.type == types[k];
        }
        ck_assert_msg(loads == 1, "inv.observability.event-fields: %zu type_load events name a type loaded once", loads);
    }
    for (uint32_t s = 0; s < 4; s++) ce_check_published(w->rt, D->virtual_method(w->p, s));
    for (uint32_t k = 0; k < 3; k++) ce_check_published(w->rt, D->nonvirtual_method(w->p, k));
    if (w->q) {
        ce_check_published(w->rt, D->virtual_method(w->q, 2));
        for (uint32_t k = 0; k < 2; k++) ce_check_published(w->rt, D->nonvirtual_method(w->q, k));
    }
    void **slots[32];
    int nv[32];
    size_t n = 0;
    for (uint32_t s = 0; s < 4; s++) { slots[n] = D->vtable_slot(w->p, s); nv[n++] = 0; }
    for (uint32_t k = 0; k < 3; k++) { slots[n] = D->method_slot(D->nonvirtual_method(w->p, k)); nv[n++] = 1; }
    if (w->q) {
        for (uint32_t s = 0; s < 4; s++) { slots[n] = D->vtable_slot(w->q, s); nv[n++] = 0; }
        for (uint32_t k = 0; k < 2; k++) { slots[n] = D->method_slot(D->nonvirtual_method(w->q, k)); nv[n++] = 1; }
    }
    for (size_t k = 0; k < n; k++) ck_assert_msg(slots[k] != NULL, "a slot of the scenario's types is NULL");
    ce_check_history(w->rt, slots, nv, n);
}

static void ce_scenario(int pgo, int del, int fields)
{
    char thr[40];
    snprintf(thr, sizeof thr, "DeleteCallCountingStubsAfter=%d", del);
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", pgo ? "TieredPGO=1" : "TieredPGO=0",
                                    "CallCountingDelayMs=100", "CallCountThreshold=3", thr);
    ce_world w = { rt, NULL, NULL, NULL, NULL, NULL };
    D->thread_attach(rt);
    tkt_events_start(rt);
    ce_snap before;
    if (!fields) before = ce_read(rt);

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
        int64_t v = D->version_request(rt, m);
        ck_assert_msg(v > 0, "version_request(CE.P.v3) failed");
        tk_event e;
        memset(&e, 0, sizeof e);
        if (fields)
            CE_FIELD(ce_last_event(TK_EV_VERSION_ACTIVATE, m, NULL, &e) && e.il_version == (uint32_t)v,
                     "version_request made il %lld active; the last activate event names il %u", (long long)v,
                     e.kind ? e.il_version : 0);
        for (int round = 0; round < 3; round++) {
            ce_calls(&w, 4);
            D->safepoint(rt);
            tkt_tick(rt, FX_DELAY);
        }
        ck_assert_msg(D->version_revert(rt, m) == 0, "version_revert(CE.P.v3) failed");
        memset(&e, 0, sizeof e);
        if (fields)
            CE_FIELD(ce_last_event(TK_EV_VERSION_ACTIVATE, m, NULL, &e) && e.il_version == 0,
                     "version_revert made il 0 active; the last activate event names il %u",
                     e.kind ? e.il_version : 99);
        ce_calls(&w, 2);
    }
    if (fields) ce_world_history(&w);        /* before unload: no slot address reused */
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
    tkt_events_stop(rt);
    if (fields) {
        ce_check_fields();
        ce_check_pairs();
        D->object_free(rt, w.op);
        D->thread_detach(rt);
        tkt_destroy(rt);
        return;
    }
    ce_snap after = ce_read(rt);

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
        for (int del = 0; del <= del_max; del++) ce_scenario(pgo, del, 0);
}

TK_TEST(observability_event_fields, "inv.observability.event-fields")
{
    tkt_require_caps(TK_CAP_EVENTS | TK_CAP_DETERMINISTIC);
    int pgo_max = (D->caps & TK_CAP_PGO) ? 1 : 0, del_max = (D->caps & TK_CAP_STUB_DELETION) ? 1 : 0;
    for (int pgo = 0; pgo <= pgo_max; pgo++)
        for (int del = 0; del <= del_max; del++) ce_scenario(pgo, del, 1);
}
