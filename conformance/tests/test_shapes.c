/* conformance/tests/test_shapes.c — every method of a type is its own
 * method: in a type with several virtual and several non-virtual methods
 * (and a subtype adding more), each one, tiered alone, reaches final code
 * through its own slot while every other stays where it was
 * (`inv.tiering.promotion-after-threshold`, `inv.slot.final-direct`,
 * `inv.semantics.tier-independent`).  A loop that stops after the first
 * method, an index shared between methods or a slot written for the wrong
 * method shows here. */
#include "fixture.h"

#define SH_NV 3u
#define SH_NN 5u
static const tk_method_def sh_v[SH_NV] = { TKT_M("SH.P.v0", 900), TKT_M("SH.P.v1", 901), TKT_M("SH.P.v2", 902) };
static const tk_method_def sh_n[SH_NN] = { TKT_M("SH.P.n0", 910), TKT_M("SH.P.n1", 911), TKT_M("SH.P.n2", 912),
                                           TKT_M("SH.P.n3", 913), TKT_M("SH.P.n4", 914) };
static const tk_override_def sh_o[1] = { { 1, TKT_M("SH.Q.v1", 920) } };
static const tk_method_def sh_qn[2] = { TKT_M("SH.Q.n0", 921), TKT_M("SH.Q.n1", 922) };

typedef struct {
    tk_drv_method *m;
    void **slot;
    void *self;
    int id;
} sh_entry;

TK_TEST(shapes_each_method_tiers_alone, "inv.tiering.promotion-after-threshold", "inv.slot.final-direct",
        "inv.semantics.tier-independent")
{
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), "DeleteCallCountingStubsAfter=0");
    tkt_require_tiering(rt);
    tk_type_def pd = { "SH.P", NULL, 0, SH_NV, sh_v, 0, NULL, SH_NN, sh_n, 0, NULL };
    tk_drv_type *p = fx_define(rt, &pd, 1);
    tk_type_def qd = { "SH.Q", p, 0, 0, NULL, 1, sh_o, 2, sh_qn, 0, NULL };
    tk_drv_type *q = fx_define(rt, &qd, 1);
    tk_drv_object *op = fx_obj(rt, p), *oq = fx_obj(rt, q);

    sh_entry e[SH_NV + SH_NN + 3];
    size_t n = 0;
    for (uint32_t s = 0; s < SH_NV; s++) e[n++] = (sh_entry){ fx_vm(p, s), D->method_slot(fx_vm(p, s)), op, 900 + (int)s };
    for (uint32_t k = 0; k < SH_NN; k++) {
        tk_drv_method *m = D->nonvirtual_method(p, k);
        ck_assert_msg(m != NULL, "nonvirtual_method(SH.P, %u) is NULL", k);
        e[n++] = (sh_entry){ m, D->method_slot(m), op, 910 + (int)k };
    }
    e[n++] = (sh_entry){ fx_vm(q, 1), D->method_slot(fx_vm(q, 1)), oq, 920 };
    for (uint32_t k = 0; k < 2; k++) {
        tk_drv_method *m = D->nonvirtual_method(q, k);
        ck_assert_msg(m != NULL, "nonvirtual_method(SH.Q, %u) is NULL", k);
        e[n++] = (sh_entry){ m, D->method_slot(m), oq, 921 + (int)k };
    }
    /* Distinct methods, distinct slots, each named as defined. */
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(e[i].slot != NULL, "method_slot of method %d is NULL", e[i].id);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(e[i].m != e[j].m && e[i].slot != e[j].slot,
                          "methods %d and %d share a method handle or an owning slot", e[j].id, e[i].id);
    }
    /* First calls of all, then the delay: every method counts at Tier0. */
    for (size_t i = 0; i < n; i++) tkt_call_slot(e[i].slot, e[i].self, e[i].id, 0);
    tkt_tick(rt, FX_DELAY);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fx_tier(rt, e[i].m) == TK_TIER_0, "method %d is at %s before any counted call", e[i].id,
                      tkt_tier_name(fx_tier(rt, e[i].m)));
    /* One method at a time to its threshold and final code. */
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) tkt_call_slot(e[i].slot, e[i].self, e[i].id, k + 1);
        D->safepoint(rt);
        tkt_tick(rt, 0);
        tkt_call_logged(e[i].slot, e[i].self, e[i].id, 7);
        tk_method_state st = tkt_state(rt, e[i].m);
        ck_assert_msg(TK_TIER_IS_FINAL(st.tier),
                      "inv.tiering.promotion-after-threshold: method %d reached its threshold alone and is at %s "
                      "after the background work",
                      e[i].id, tkt_tier_name(st.tier));
        tkt_call_slot(e[i].slot, e[i].self, e[i].id, 8);
        if (tkt_backpatches_slots(rt)) {
            tk_addr_info a = tkt_classify(rt, tkt_load(e[i].slot));
            char buf[200];
            ck_assert_msg(a.cls == TK_AC_NATIVE_CODE && a.method == e[i].m && TK_TIER_IS_FINAL(a.tier),
                          "inv.slot.final-direct: method %d's own slot holds %s", e[i].id,
                          tkt_describe(rt, tkt_load(e[i].slot), buf, sizeof buf));
        }
        for (size_t j = i + 1; j < n; j++)
            ck_assert_msg(fx_tier(rt, e[j].m) == TK_TIER_0,
                          "inv.tiering.promotion-after-threshold: method %d is at %s after only method %d reached "
                          "its threshold",
                          e[j].id, tkt_tier_name(fx_tier(rt, e[j].m)), e[i].id);
    }
    D->object_free(rt, op);
    D->object_free(rt, oq);
    tkt_destroy(rt);
}
