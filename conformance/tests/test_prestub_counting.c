/* conformance/tests/test_prestub_counting.c — calls that reach the prestub
 * while a method's active version counts (SPEC `inv.counting.prestub-call`,
 * CoreCLR CallCountingManager::SetCodeEntryPoint(..., wasMethodCalled)).
 *
 * Two ways to get such a call through the ABI:
 *   - a slot nobody recorded yet: a type loaded after counting began
 *     inherits the method's slot at its temporary entry point
 *     (`inv.slot.inherit-temporary-entry`).  Whether a call through it
 *     reaches the prestub is the design's choice; the tests see it in the
 *     events (the prestub records the slot, `slot_record`) or in the state
 *     (counting paused), and hold the design to the rule of the path the
 *     call took;
 *   - after a deletion pass (`inv.reclaim.delete-all`), which sends every
 *     method that was counting back through the prestub on every design.
 * Promotion is observed through tiers after background work (TieredPGO=0:
 * Tier0 -> Tier1), never through timing. */
#include "fixture.h"

static const tk_method_def pc_v[] = { TKT_M("PC.V", 81), TKT_M("PC.X", 82) };

typedef struct pc {
    tk_drv_runtime *rt;
    tk_drv_type *t;
    tk_drv_object *o;
    tk_drv_method *v;
    void **sv, **sx;
} pc;

/* rt: a deterministic runtime (FX_DET) the test created. */
static void pc_init(pc *p, tk_drv_runtime *rt)
{
    p->rt = rt;
    tkt_require_tiering(p->rt);
    tkt_require_caps(TK_CAP_EVENTS);
    tkt_events_start(p->rt);
    D->thread_attach(p->rt);
    p->t = fx_class(p->rt, "PC", NULL, 2, pc_v, 0, NULL);
    p->o = fx_obj(p->rt, p->t);
    p->v = fx_vm(p->t, 0);
    p->sv = fx_vslot(p->t, 0);
    p->sx = fx_vslot(p->t, 1);
}

static void pc_done(pc *p)
{
    tkt_trace_check(p->rt, NULL, (tk_drv_method *const[]){ p->v, NULL });
    D->thread_detach(p->rt);
    tkt_destroy(p->rt);
}

/* Events of `kind` for m at index >= from. */
static size_t pc_events(size_t from, tk_event_kind kind, tk_drv_method *m)
{
    size_t n = 0;
    for (size_t i = from; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        n += e.kind == kind && e.method == m;
    }
    return n;
}

/* Index of the first event of `kind` for m at index >= from, or SIZE_MAX. */
static size_t pc_first(size_t from, tk_event_kind kind, tk_drv_method *m)
{
    for (size_t i = from; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == kind && e.method == m) return i;
    }
    return SIZE_MAX;
}

/* Whether the prestub recorded `slot` at index >= from (the call went
 * through the prestub: only the prestub records a slot on a call). */
static int pc_recorded(size_t from, void **slot)
{
    for (size_t i = from; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == TK_EV_SLOT_RECORD && e.slot == slot) return 1;
    }
    return 0;
}

/* A class derived from PC, loaded now: its slot 0 inherits V at V's
 * temporary entry point, a slot no one has recorded. */
static tk_drv_type *pc_derived(pc *p, const char *name)
{
    return fx_class(p->rt, name, p->t, 0, NULL, 0, NULL);
}

/* n counted calls through V's own slot, then: V still at Tier0 after the
 * background work when `promoted` is 0, at Tier1 when it is 1. */
static void pc_calls_expect(pc *p, int n, int promoted, const char *why)
{
    for (int i = 0; i < n; i++) tkt_call_slot(p->sv, p->o, 81, 100 + i);
    tkt_tick(p->rt, FX_DELAY);
    int tier = fx_tier(p->rt, p->v);
    if (promoted)
        ck_assert_msg(tier == TK_TIER_1, "inv.counting.prestub-call: %s: V at %s, expected Tier1", why,
                      tkt_tier_name(tier));
    else
        ck_assert_msg(tier == TK_TIER_0, "inv.counting.prestub-call: %s: V already at %s", why, tkt_tier_name(tier));
}

/* Opens a tiering delay while V counts: X's first call. */
static void pc_open_delay(pc *p)
{
    tkt_call_slot(p->sx, p->o, 82, 0);
}

/* During a tiering delay, a call that reaches the prestub while V counts is
 * not counted and pauses V's counting until the delay ends; counting then
 * resumes with the remaining count.  A call the design routes through V's
 * counting stub instead is counted (methods already counting keep counting
 * in a delay, `inv.tiering.delay-restart`). */
TK_TEST(counting_prestub_call_in_delay, "inv.counting.prestub-call", "inv.tiering.delay-restart",
        "inv.counting.threshold-exact")
{
    pc p;
    pc_init(&p, tkt_create(FX_DET("4")));
    fx_start_counting(p.rt, p.sv, p.o, 81);
    ck_assert_msg(tkt_state(p.rt, p.v).counting, "setup: V is not counting after the tiering delay");
    tkt_call_slot(p.sv, p.o, 81, 1);                            /* counted: 3 left */
    pc_open_delay(&p);
    tk_drv_type *d = pc_derived(&p, "PCD");
    tk_drv_object *od = fx_obj(p.rt, d);
    void **ds = fx_vslot(d, 0);
    size_t mark = tkt_events_count();
    tkt_call_slot(ds, od, 81, 2);
    int via_prestub = pc_recorded(mark, ds);
    int paused = !tkt_state(p.rt, p.v).counting;
    if (via_prestub)
        ck_assert_msg(paused, "inv.counting.prestub-call: a call that reached the prestub during a tiering delay "
                              "left V counting (it must publish V's code and stop counting until the delay ends)");
    if (paused) {
        /* Not counted, and calls during the pause are not counted either. */
        for (int i = 0; i < 6; i++) tkt_call_slot(p.sv, p.o, 81, 10 + i);
        D->drain(p.rt);
        ck_assert_msg(fx_tier(p.rt, p.v) == TK_TIER_0, "inv.counting.prestub-call: V promoted while its counting "
                      "was paused by the tiering delay");
        tkt_tick(p.rt, FX_DELAY);                               /* the delay ends */
        ck_assert_msg(tkt_state(p.rt, p.v).counting || fx_tier(p.rt, p.v) == TK_TIER_1,
                      "inv.counting.prestub-call: V's counting did not resume when the tiering delay ended");
        pc_calls_expect(&p, 2, 0, "2 counted calls after the delay (3 were left: the prestub call and the "
                        "calls during the pause must not count)");
        pc_calls_expect(&p, 1, 1, "the 3rd counted call after the delay (1 before it, 4 in all)");
    } else {
        /* Through the stub: counted (2 left). */
        tkt_tick(p.rt, FX_DELAY);
        pc_calls_expect(&p, 1, 0, "1 more counted call (2 of 4 counted before it)");
        pc_calls_expect(&p, 1, 1, "the 4th counted call (the call through the new slot was counted by the stub)");
    }
    tkt_note("the call through the unrecorded slot %s", via_prestub ? "reached the prestub" : "did not reach the prestub");
    pc_done(&p);
}

/* Outside a delay, a call that reaches the prestub while V counts is
 * counted; the one that brings the count to zero completes counting within
 * the call (threshold, promotion queued, counting over before any
 * background work), and a later call through the prestub is not counted
 * again. */
TK_TEST(counting_prestub_call_completes, "inv.counting.prestub-call", "inv.counting.threshold-exact",
        "inv.counting.threshold-once", "inv.tiering.promotion-after-threshold")
{
    pc p;
    pc_init(&p, tkt_create(FX_DET("3")));
    fx_start_counting(p.rt, p.sv, p.o, 81);
    tkt_call_slot(p.sv, p.o, 81, 1);                            /* 2 left */
    tk_drv_type *d1 = pc_derived(&p, "PCD1"), *d2 = pc_derived(&p, "PCD2");
    tk_drv_object *o1 = fx_obj(p.rt, d1), *o2 = fx_obj(p.rt, d2);
    void **s1 = fx_vslot(d1, 0), **s2 = fx_vslot(d2, 0);
    size_t mark = tkt_events_count();
    tkt_call_slot(s1, o1, 81, 2);                               /* 1 left, by whichever path */
    ck_assert_msg(pc_events(mark, TK_EV_THRESHOLD, p.v) == 0,
                  "inv.counting.threshold-exact: threshold after 2 counted calls of 3");
    mark = tkt_events_count();
    tkt_call_slot(s2, o2, 81, 3);                               /* the 3rd counted call */
    int via_prestub = pc_recorded(mark, s2);
    ck_assert_msg(pc_events(mark, TK_EV_THRESHOLD, p.v) == 1,
                  "inv.counting.threshold-exact: no threshold at the 3rd counted call (%s)",
                  via_prestub ? "through the prestub" : "through the counting path");
    if (via_prestub) {
        size_t thr = pc_first(mark, TK_EV_THRESHOLD, p.v), pro = pc_first(mark, TK_EV_PROMOTE, p.v);
        size_t done = pc_first(mark, TK_EV_COUNTING_COMPLETE, p.v);
        ck_assert_msg(pro != SIZE_MAX && done != SIZE_MAX,
                      "inv.counting.prestub-call: the call that reached the threshold through the prestub did not "
                      "complete counting within the call (promote %s, counting_complete %s before any background work)",
                      pro == SIZE_MAX ? "missing" : "seen", done == SIZE_MAX ? "missing" : "seen");
        ck_assert_msg(thr < pro, "inv.tiering.promotion-after-threshold: promote before threshold");
        ck_assert_msg(!tkt_state(p.rt, p.v).counting,
                      "inv.counting.prestub-call: V still counting after its counting completed in the prestub");
        if (D->caps & TK_CAP_CLASSIFY) fx_check_slot_value(p.rt, p.sv, "V's slot after completion in the prestub");
        mark = tkt_events_count();
        tk_drv_type *d3 = pc_derived(&p, "PCD3");
        tk_drv_object *o3 = fx_obj(p.rt, d3);
        tkt_call_slot(fx_vslot(d3, 0), o3, 81, 4);              /* prestub again: not counted */
        ck_assert_msg(pc_events(mark, TK_EV_THRESHOLD, p.v) == 0 && pc_events(mark, TK_EV_PROMOTE, p.v) == 0,
                      "inv.counting.prestub-call: a call through the prestub after counting completed was counted "
                      "again (threshold or promotion)");
        D->object_free(p.rt, o3);
    }
    tkt_tick(p.rt, FX_DELAY);
    ck_assert_msg(fx_tier(p.rt, p.v) == TK_TIER_1, "V at %s after its threshold and the background work",
                  tkt_tier_name(fx_tier(p.rt, p.v)));
    ck_assert_msg(pc_events(0, TK_EV_PROMOTE, p.v) == 1, "inv.counting.threshold-once: %zu promotions of V",
                  pc_events(0, TK_EV_PROMOTE, p.v));
    tkt_note("the threshold call %s", via_prestub ? "reached the prestub" : "did not reach the prestub");
    D->object_free(p.rt, o1);
    D->object_free(p.rt, o2);
    pc_done(&p);
}

/* The counting stub reached the threshold and its completion waits for the
 * background work: a call that reaches the prestub now is not counted, and
 * V's code is published at once (V is no longer counting); the pending
 * completion still promotes V, once. */
TK_TEST(counting_prestub_call_pending, "inv.counting.prestub-call", "inv.counting.threshold-once")
{
    pc p;
    pc_init(&p, tkt_create(FX_DET("2")));
    fx_start_counting(p.rt, p.sv, p.o, 81);
    size_t mark = tkt_events_count();
    tkt_call_slot(p.sv, p.o, 81, 1);
    tkt_call_slot(p.sv, p.o, 81, 2);                            /* threshold: completion pending */
    ck_assert_msg(pc_events(mark, TK_EV_THRESHOLD, p.v) == 1, "setup: no threshold after 2 counted calls of 2");
    tk_drv_type *d = pc_derived(&p, "PCD");
    tk_drv_object *od = fx_obj(p.rt, d);
    void **ds = fx_vslot(d, 0);
    mark = tkt_events_count();
    tkt_call_slot(ds, od, 81, 3);
    int via_prestub = pc_recorded(mark, ds);
    ck_assert_msg(pc_events(mark, TK_EV_THRESHOLD, p.v) == 0,
                  "inv.counting.threshold-once: a second threshold for V before its completion");
    if (via_prestub)
        ck_assert_msg(!tkt_state(p.rt, p.v).counting,
                      "inv.counting.prestub-call: V still counting after a call reached the prestub with its "
                      "threshold already reached (the code must be published then)");
    tkt_tick(p.rt, FX_DELAY);
    ck_assert_msg(fx_tier(p.rt, p.v) == TK_TIER_1, "V at %s after its pending completion",
                  tkt_tier_name(fx_tier(p.rt, p.v)));
    ck_assert_msg(pc_events(0, TK_EV_PROMOTE, p.v) == 1, "inv.counting.threshold-once: %zu promotions of V",
                  pc_events(0, TK_EV_PROMOTE, p.v));
    D->object_free(p.rt, od);
    pc_done(&p);
}

/* After a deletion pass stopped V's counting (every design then sends V's
 * next call through the prestub, `inv.reclaim.delete-all`): during a
 * tiering delay that call is not counted and V stays uncounted until the
 * delay ends; outside a delay, the call that brings the count to zero
 * completes counting within the call. */
TK_TEST(counting_prestub_call_after_deletion, "inv.counting.prestub-call", "inv.reclaim.delete-all")
{
    tkt_require_caps(TK_CAP_STUB_DELETION);
    pc p;
    pc_init(&p, tkt_create(FX_DET("3"), "DeleteCallCountingStubsAfter=1"));
    /* W completes and triggers a deletion pass that stops V. */
    static const tk_method_def w_v[] = { TKT_M("PW.W", 83) };
    tk_drv_type *tw = fx_class(p.rt, "PW", NULL, 1, w_v, 0, NULL);
    tk_drv_object *ow = fx_obj(p.rt, tw);
    void **sw = fx_vslot(tw, 0);
    tkt_call_slot(p.sv, p.o, 81, 0);
    tkt_call_slot(sw, ow, 83, 0);
    tkt_tick(p.rt, FX_DELAY);
    ck_assert_msg(tkt_state(p.rt, p.v).counting, "setup: V is not counting after the tiering delay");
    tkt_call_slot(p.sv, p.o, 81, 1);                            /* V: 2 left */
    for (int i = 0; i < 3; i++) tkt_call_slot(sw, ow, 83, i);   /* W: threshold */
    for (int k = 0; k < 3; k++) {
        D->safepoint(p.rt);
        D->drain(p.rt);
    }
    ck_assert_msg(!tkt_state(p.rt, p.v).counting, "setup: the deletion pass did not stop V's counting");
    pc_open_delay(&p);
    tkt_call_slot(p.sv, p.o, 81, 2);                            /* prestub, in the delay */
    ck_assert_msg(!tkt_state(p.rt, p.v).counting,
                  "inv.counting.prestub-call: V's first call after the deletion pass, inside a tiering delay, "
                  "installed counting (it must only publish and record V for the delay)");
    for (int i = 0; i < 4; i++) tkt_call_slot(p.sv, p.o, 81, 10 + i);
    D->drain(p.rt);
    ck_assert_msg(fx_tier(p.rt, p.v) == TK_TIER_0, "inv.counting.prestub-call: V promoted by calls in the delay");
    tkt_tick(p.rt, FX_DELAY);
    ck_assert_msg(tkt_state(p.rt, p.v).counting,
                  "inv.counting.prestub-call: V's counting did not resume when the tiering delay ended");
    pc_calls_expect(&p, 1, 0, "1 counted call after the delay (2 were left)");
    /* Stop V again (W's Tier1 completion is done: a new completion is
     * needed for a pass; a second method Y provides it). */
    static const tk_method_def y_v[] = { TKT_M("PY.Y", 84) };
    tk_drv_type *ty = fx_class(p.rt, "PY", NULL, 1, y_v, 0, NULL);
    tk_drv_object *oy = fx_obj(p.rt, ty);
    void **sy = fx_vslot(ty, 0);
    fx_start_counting(p.rt, sy, oy, 84);
    for (int i = 0; i < 3; i++) tkt_call_slot(sy, oy, 84, i);
    for (int k = 0; k < 3; k++) {
        D->safepoint(p.rt);
        D->drain(p.rt);
    }
    ck_assert_msg(!tkt_state(p.rt, p.v).counting && fx_tier(p.rt, p.v) == TK_TIER_0,
                  "setup: the second deletion pass did not stop V's counting");
    size_t mark = tkt_events_count();
    tkt_call_slot(p.sv, p.o, 81, 20);                           /* prestub: the 3rd counted call */
    ck_assert_msg(pc_events(mark, TK_EV_THRESHOLD, p.v) == 1,
                  "inv.counting.prestub-call: V's threshold not reached at its 3rd counted call (through the "
                  "prestub after a deletion pass)");
    ck_assert_msg(pc_events(mark, TK_EV_PROMOTE, p.v) == 1 && pc_events(mark, TK_EV_COUNTING_COMPLETE, p.v) >= 1,
                  "inv.counting.prestub-call: the prestub call that reached V's threshold did not complete counting "
                  "within the call (no promote/counting_complete before any background work)");
    ck_assert_msg(!tkt_state(p.rt, p.v).counting, "inv.counting.prestub-call: V counting again after its threshold");
    tkt_tick(p.rt, FX_DELAY);
    ck_assert_msg(fx_tier(p.rt, p.v) == TK_TIER_1, "V at %s after its threshold", tkt_tier_name(fx_tier(p.rt, p.v)));
    D->object_free(p.rt, ow);
    D->object_free(p.rt, oy);
    pc_done(&p);
}
