/* conformance/tests/test_versioning.c — IL versions: activation republishes
 * everywhere; resets leave no stale precode target (PR #125359's review). */
#include "fixture.h"

static const tk_method_def vb_v[] = { TKT_M("VB.V", 61) };

static void expect_il(tk_drv_runtime *rt, void **slot, void *obj, uint32_t il, const char *what)
{
    tkt_call c = tkt_call_logged(slot, obj, 61, 7);
    (void)rt;
    ck_assert_msg(c.il_version == il,
                  "%s ran IL version %u (%s) but IL version %u is active: a stale target survived the reset", what,
                  c.il_version, tkt_tier_name(c.tier), il);
}

/* inv.precode.no-stale-target: request a new IL version (and revert) while
 * the method is at tier0, while counting and at tier1; then call through
 * slots that were never called (never recorded) and through old ones. */
TK_TEST(precode_no_stale_target, "inv.precode.no-stale-target", "inv.versioning.activate-republishes")
{
    tkt_require_caps(TK_CAP_VERSIONING);
    for (int phase = 0; phase < 3; phase++) {
        tk_drv_runtime *rt = tkt_create(FX_DET("3"));
        int have_ev = (D->caps & TK_CAP_EVENTS) != 0;
        if (have_ev) tkt_events_start(rt);
        tk_drv_type *b = fx_class(rt, "VB", NULL, 1, vb_v, 0, NULL);
        tk_drv_object *ob = fx_obj(rt, b);
        tk_drv_method *m = fx_vm(b, 0);
        void **sb = fx_vslot(b, 0);
        tk_drv_type *old = fx_class(rt, "VBold", b, 0, NULL, 0, NULL);
        tk_drv_object *oo = fx_obj(rt, old);
        tkt_call_slot(sb, ob, 61, 0);
        tkt_call_slot(fx_vslot(old, 0), oo, 61, 0);
        if (phase >= 1) { tkt_tick(rt, FX_DELAY); tkt_call_slot(sb, ob, 61, 1); }
        if (phase >= 2) { fx_calls(rt, sb, ob, 61, 4); tkt_call_slot(sb, ob, 61, 2); D->drain(rt); }
        const char *pn = phase == 0 ? "tier0" : phase == 1 ? "counting" : "tier1";
        /* types loaded now: their slots were never called */
        tk_drv_type *n1 = fx_class(rt, "VBn1", b, 0, NULL, 0, NULL);
        tk_drv_type *n2 = fx_class(rt, "VBn2", b, 0, NULL, 0, NULL);
        tk_drv_object *on1 = fx_obj(rt, n1), *on2 = fx_obj(rt, n2);

        int64_t il = D->version_request(rt, m);
        ck_assert_msg(il > 0, "version_request returned %lld", (long long)il);
        char what[160];
        snprintf(what, sizeof what, "after a new IL version at %s, a never-called slot", pn);
        expect_il(rt, fx_vslot(n1, 0), on1, (uint32_t)il, what);
        snprintf(what, sizeof what, "after a new IL version at %s, the declaring type's slot", pn);
        expect_il(rt, sb, ob, (uint32_t)il, what);
        snprintf(what, sizeof what, "after a new IL version at %s, an older recorded slot", pn);
        expect_il(rt, fx_vslot(old, 0), oo, (uint32_t)il, what);
        snprintf(what, sizeof what, "after a new IL version at %s, the owning slot", pn);
        expect_il(rt, D->method_slot(m), ob, (uint32_t)il, what);
        tkt_tick(rt, FX_DELAY);
        for (int i = 0; i < 2; i++) tkt_call_slot(sb, ob, 61, i);

        ck_assert_msg(D->version_revert(rt, m) == 0, "version_revert failed");
        snprintf(what, sizeof what, "after reverting (new version at %s), a never-called slot", pn);
        expect_il(rt, fx_vslot(n2, 0), on2, 0, what);
        snprintf(what, sizeof what, "after reverting (new version at %s), the declaring type's slot", pn);
        expect_il(rt, sb, ob, 0, what);
        snprintf(what, sizeof what, "after reverting (new version at %s), a slot called under the new version", pn);
        expect_il(rt, fx_vslot(n1, 0), on1, 0, what);
        snprintf(what, sizeof what, "after reverting (new version at %s), an older recorded slot", pn);
        expect_il(rt, fx_vslot(old, 0), oo, 0, what);
        /* A request undone before any call: the default version is
         * published again by the next call. */
        ck_assert_msg(D->version_request(rt, m) > 0, "second version_request failed");
        ck_assert_msg(D->version_revert(rt, m) == 0, "second version_revert failed");
        snprintf(what, sizeof what, "after a request and an immediate revert (%s)", pn);
        expect_il(rt, sb, ob, 0, what);
        if (have_ev) {
            /* The last activation is followed by a `publish` of the version
             * that runs next (SPEC.md "Events and trace": one per native
             * version becoming the published one), also when the default
             * version comes back to the version it had before. */
            int open = 0, acts = 0;
            for (size_t i = 0; i < tkt_events_count(); i++) {
                tk_event e = tkt_event_at(i);
                if (e.method != m) continue;
                if (e.kind == TK_EV_VERSION_ACTIVATE) {
                    open = 1;
                    acts++;
                } else if (e.kind == TK_EV_VERSION_PUBLISH) {
                    open = 0;
                }
            }
            ck_assert_msg(acts == 4 && !open, "%s: %d activation(s) of VB.V, the last one %s by a publish", pn, acts,
                          open ? "NOT followed" : "followed");
            tkt_trace_check(rt, NULL, (tk_drv_method *const[]){ m, NULL });
        }
        tkt_destroy(rt);
    }
}

/* inv.versioning.activate-republishes: a new IL version reaches every path
 * (vtable, interface, owning slot) and tiers up again like a new method. */
static const tk_method_def va_v[] = { TKT_M("VA.V", 62) };
static const tk_method_def va_if[] = { { "IVA.V", NULL, NULL, 0 } };

TK_TEST(versioning_activate_republishes, "inv.versioning.activate-republishes", "inv.tiering.monotonic")
{
    tkt_require_caps(TK_CAP_VERSIONING);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    tk_drv_type *iface = fx_iface_if_supported(rt, "IVA", 1, va_if);
    tk_iface_impl_def impl = { iface, 0, 0 };
    tk_type_def def = { "VA", NULL, 0, 1, va_v, 0, NULL, 0, NULL, iface ? 1 : 0, &impl };
    tk_drv_type *t = fx_define(rt, &def, 1);
    tk_drv_type *d = fx_class(rt, "VAd", t, 0, NULL, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t), *od = fx_obj(rt, d);
    tk_drv_method *m = fx_vm(t, 0);
    void **paths[4] = { fx_vslot(t, 0), fx_vslot(d, 0), D->method_slot(m), iface ? D->interface_slot(t, iface, 0) : NULL };
    void *objs[4] = { o, od, o, o };
    static const char *const pname[] = { "vtable slot", "derived vtable slot", "owning slot", "interface slot" };
    for (int v = 0; v < 3; v++) {
        uint32_t want = 0;
        if (v > 0) {
            int64_t il = D->version_request(rt, m);
            ck_assert_msg(il > 0, "version_request returned %lld", (long long)il);
            want = (uint32_t)il;
        }
        for (int p = 0; p < 4; p++) {
            if (!paths[p]) continue;
            size_t before = tkt_log_count();
            tkt_call_slot(paths[p], objs[p], 62, v);
            ck_assert(tkt_log_count() == before + 1);
            tkt_call c = tkt_log_last();
            ck_assert_msg(c.il_version == want, "IL version %u active, call via %s ran IL version %u", want, pname[p],
                          c.il_version);
        }
        tk_method_state st = tkt_state(rt, m);
        ck_assert_msg(st.il_version == want, "method_state reports IL version %u, %u is active", st.il_version, want);
        if (tkt_tiers(rt) && st.tier != TK_TIER_UNKNOWN)
            ck_assert_msg(st.tier == TK_TIER_0, "new IL version %u starts at %s, expected tier0", want,
                          tkt_tier_name(st.tier));
        tkt_tick(rt, FX_DELAY);
        for (int i = 0; i < 3; i++)
            for (int p = 0; p < 4; p++)
                if (paths[p]) tkt_call_slot(paths[p], objs[p], 62, i);
        D->drain(rt);
        st = tkt_state(rt, m);
        ck_assert_msg(TK_TIER_IS_FINAL(st.tier) && st.il_version == want,
                      "IL version %u did not tier up again (tier %s, IL %u)", want, tkt_tier_name(st.tier),
                      st.il_version);
        for (int p = 0; p < 4; p++) {
            if (!paths[p]) continue;
            tkt_call_slot(paths[p], objs[p], 62, 100);
            tkt_call c = tkt_log_last();
            ck_assert_msg(c.il_version == want && TK_TIER_IS_FINAL(c.tier), "via %s ran %s IL %u", pname[p],
                          tkt_tier_name(c.tier), c.il_version);
        }
    }
    tkt_destroy(rt);
}

/* inv.slot.final-direct across IL versions: whenever the active version is
 * at its final tier (reached by counting, or made active again by a revert
 * to a version whose final code exists) a slot called through a few times
 * holds that version's final native code, for the declaring type's slot
 * and an inherited one alike: slots reset by an activation are found again
 * and patched, not left on the temporary entry point. */
static const tk_method_def vf_v[] = { TKT_M("VF.V", 64) };

static void vf_expect_final(tk_drv_runtime *rt, void **slot, tk_drv_object *o, tk_drv_method *m, uint32_t il,
                            const char *what)
{
    for (int i = 0; i < 3; i++) tkt_call_slot(slot, o, 64, i);
    void *v = tkt_load(slot);
    tk_addr_info ci = tkt_classify(rt, v);
    char buf[200];
    ck_assert_msg(ci.cls == TK_AC_NATIVE_CODE && TK_TIER_IS_FINAL(ci.tier) && ci.method == m && ci.il_version == il,
                  "inv.slot.final-direct (%s): %s was called through 3 times while IL version %u is at its final "
                  "tier, and holds %s", tkt_strategy(rt), what, il, tkt_describe(rt, v, buf, sizeof buf));
}

static void vf_to_final(tk_drv_runtime *rt, void **slot, tk_drv_object *o, tk_drv_method *m, const char *when)
{
    tkt_call_slot(slot, o, 64, 0);
    tkt_tick(rt, FX_DELAY);
    fx_calls(rt, slot, o, 64, 4);
    D->drain(rt);
    ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, m)), "setup: %s: not at the final tier after the delay and 4 "
                  "counted calls (threshold 3): %s", when, tkt_tier_name(fx_tier(rt, m)));
}

TK_TEST(versioning_final_direct_after_activation, "inv.slot.final-direct", "inv.versioning.activate-republishes")
{
    tkt_require_caps(TK_CAP_VERSIONING | TK_CAP_CLASSIFY);
    tk_drv_runtime *rt = tkt_create(FX_DET("3"));
    if (!tkt_backpatches_slots(rt))
        tkt_unsupported("Strategy=%s keeps an indirection by design (inv.slot.final-direct does not apply)",
                        tkt_strategy(rt));
    tk_drv_type *b = fx_class(rt, "VF", NULL, 1, vf_v, 0, NULL);
    tk_drv_type *s = fx_class(rt, "VFsub", b, 0, NULL, 0, NULL);
    tk_drv_object *ob = fx_obj(rt, b), *os = fx_obj(rt, s);
    tk_drv_method *m = fx_vm(b, 0);
    void **sb = fx_vslot(b, 0), **ss = fx_vslot(s, 0);
    tkt_call_slot(ss, os, 64, 0);
    vf_to_final(rt, sb, ob, m, "IL version 0");
    vf_expect_final(rt, sb, ob, m, 0, "the declaring type's slot");
    vf_expect_final(rt, ss, os, m, 0, "the inherited slot");

    int64_t il = D->version_request(rt, m);
    ck_assert_msg(il > 0, "version_request returned %lld", (long long)il);
    tkt_call_slot(ss, os, 64, 0);
    vf_to_final(rt, sb, ob, m, "the new IL version");
    vf_expect_final(rt, sb, ob, m, (uint32_t)il, "after a new IL version reached its final tier, the declaring "
                    "type's slot");
    vf_expect_final(rt, ss, os, m, (uint32_t)il, "after a new IL version reached its final tier, the inherited slot");

    ck_assert_msg(D->version_revert(rt, m) == 0, "version_revert failed");
    vf_expect_final(rt, sb, ob, m, 0, "after a revert to IL version 0 (final code compiled), the declaring type's "
                    "slot");
    vf_expect_final(rt, ss, os, m, 0, "after a revert to IL version 0 (final code compiled), the inherited slot");
    tkt_destroy(rt);
}
