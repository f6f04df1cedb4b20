/* conformance/tests/test_rejections.c — what the driver ABI must refuse,
 * and that a refusal is clean (`inv.abi.reject-cleanly`): the documented
 * failure value (-1, NULL with a message), nothing changed, and the
 * runtime fully usable afterwards.  A refusal path that forgets to
 * release a lock hangs the probe that follows it (TIMEOUT); one that
 * half-applies the operation shows in the probe's slots and tiers. */
#include "fixture.h"

static const tk_method_def rj_v[2] = { TKT_M("RJ.P.v0", 801), TKT_M("RJ.P.v1", 802) };
static const tk_method_def rj_n[2] = { TKT_M("RJ.P.n0", 803), TKT_M("RJ.P.n1", 804) };
static const tk_method_def rj_cv[1] = { TKT_M("RJ.C.v2", 805) };
static const tk_method_def rj_im[1] = { { "RJ.I.m0", NULL, TKT_ID(806), 0 } };
static const tk_method_def rj_nobody[1] = { { "RJ.X.n0", NULL, TKT_ID(808), 0 } };
static const tk_override_def rj_bad_ov[1] = { { 7, TKT_M("RJ.X.v7", 809) } };

/* The probe: a fresh type defined, loaded and taken through its first
 * call, the delay and the threshold to final code, with an IL version
 * requested and reverted; every call must run the right body. */
static void rj_probe(tk_drv_runtime *rt, const char *after, int round)
{
    static const tk_method_def pv[2] = { TKT_M("RJ.Probe.v0", 820), TKT_M("RJ.Probe.v1", 821) };
    static const tk_method_def pn[1] = { TKT_M("RJ.Probe.n0", 822) };
    char name[64];
    snprintf(name, sizeof name, "RJ.Probe%d", round);
    tk_type_def d = { name, NULL, 0, 2, pv, 0, NULL, 1, pn, 0, NULL };
    char err[256] = "";
    tk_drv_type *t = D->type_define(rt, &d, err, sizeof err);
    ck_assert_msg(t != NULL, "inv.abi.reject-cleanly: after %s, type_define(%s) failed: %s", after, name, err);
    ck_assert_msg(D->type_load(rt, t) == 0, "inv.abi.reject-cleanly: after %s, type_load(%s) failed", after, name);
    tk_drv_object *o = fx_obj(rt, t);
    void **s0 = fx_vslot(t, 0), **s1 = fx_vslot(t, 1), **sn = D->method_slot(D->nonvirtual_method(t, 0));
    ck_assert_msg(sn != NULL, "method_slot of %s's non-virtual is NULL", name);
    tkt_call_slot(s0, o, 820, 0);
    tkt_call_slot(s1, o, 821, 0);
    tkt_call_slot(sn, o, 822, 0);
    tkt_tick(rt, FX_DELAY);
    for (int k = 0; k < 3; k++) {
        tkt_call_slot(s0, o, 820, k);
        tkt_call_slot(sn, o, 822, k);
    }
    D->safepoint(rt);
    tkt_tick(rt, FX_DELAY);
    tkt_call_slot(s0, o, 820, 9);
    if (tkt_tiers(rt))
        ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, D->virtual_method(t, 0))) &&
                          TK_TIER_IS_FINAL(fx_tier(rt, D->nonvirtual_method(t, 0))),
                      "inv.abi.reject-cleanly: after %s, the probe's methods did not reach final code (%s, %s)", after,
                      tkt_tier_name(fx_tier(rt, D->virtual_method(t, 0))),
                      tkt_tier_name(fx_tier(rt, D->nonvirtual_method(t, 0))));
    if (D->caps & TK_CAP_VERSIONING) {
        tk_drv_method *m = D->virtual_method(t, 1);
        int64_t v = D->version_request(rt, m);
        ck_assert_msg(v > 0, "inv.abi.reject-cleanly: after %s, version_request returned %lld", after, (long long)v);
        tkt_call_logged(s1, o, 821, 1);
        ck_assert_msg(D->version_revert(rt, m) == 0, "inv.abi.reject-cleanly: after %s, version_revert failed", after);
    }
    D->object_free(rt, o);
    if (D->caps & TK_CAP_TYPE_UNLOAD)
        ck_assert_msg(D->type_unload(rt, t) == 0, "inv.abi.reject-cleanly: after %s, type_unload(%s) failed", after,
                      name);
    D->safepoint(rt);
    D->drain(rt);
}

/* type_define must refuse a definition and say why. */
static void rj_define_refused(tk_drv_runtime *rt, const tk_type_def *d, const char *why, int *round)
{
    char err[256] = "";
    tk_drv_type *t = D->type_define(rt, d, err, sizeof err);
    ck_assert_msg(t == NULL, "inv.abi.reject-cleanly: type_define accepted %s (%s)", d->name, why);
    ck_assert_msg(err[0] != 0, "inv.abi.reject-cleanly: type_define refused %s (%s) without a message", d->name, why);
    rj_probe(rt, why, (*round)++);
}

static void rj_int_refused(tk_drv_runtime *rt, int rc, const char *call, int *round)
{
    ck_assert_msg(rc == -1, "inv.abi.reject-cleanly: %s returned %d; it must be refused with -1", call, rc);
    rj_probe(rt, call, (*round)++);
}

TK_TEST(abi_reject_cleanly, "inv.abi.reject-cleanly", "inv.lifetime.repeatable")
{
    tkt_require_caps(TK_CAP_DETERMINISTIC);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"));
    D->thread_attach(rt);
    int round = 0;
    rj_probe(rt, "nothing", round++);

    tk_type_def pd = { "RJ.P", NULL, 0, 2, rj_v, 0, NULL, 2, rj_n, 0, NULL };
    tk_drv_type *p = fx_define(rt, &pd, 0);
    tk_type_def cd = { "RJ.C", p, 0, 1, rj_cv, 0, NULL, 0, NULL, 0, NULL };
    tk_drv_type *c = fx_define(rt, &cd, 0);

    /* Definitions the ABI cannot give a meaning to. */
    tk_type_def bad_ov = { "RJ.BadOverride", p, 0, 0, NULL, 1, rj_bad_ov, 0, NULL, 0, NULL };
    rj_define_refused(rt, &bad_ov, "an override of a slot the parent does not have", &round);
    tk_type_def nobody = { "RJ.NoBody", NULL, 0, 0, NULL, 0, NULL, 1, rj_nobody, 0, NULL };
    rj_define_refused(rt, &nobody, "a non-virtual method without a body", &round);
    tk_type_def counted = { "RJ.NoArray", NULL, 0, 3, NULL, 0, NULL, 0, NULL, 0, NULL };
    rj_define_refused(rt, &counted, "a count of virtuals without their array", &round);
    if (D->caps & TK_CAP_INTERFACES) {
        tk_type_def idef = { "RJ.I", NULL, TK_TYPE_INTERFACE, 1, rj_im, 0, NULL, 0, NULL, 0, NULL };
        tk_drv_type *i = fx_define(rt, &idef, 1);
        tk_type_def under_iface = { "RJ.UnderI", i, 0, 1, rj_cv, 0, NULL, 0, NULL, 0, NULL };
        rj_define_refused(rt, &under_iface, "a class whose parent is an interface", &round);
        tk_type_def iface_nv = { "RJ.I2", NULL, TK_TYPE_INTERFACE, 1, rj_im, 0, NULL, 1, rj_n, 0, NULL };
        rj_define_refused(rt, &iface_nv, "an interface with a non-virtual method", &round);
        tk_iface_impl_def bad_impl = { i, 0, 9 };
        tk_type_def bad_im = { "RJ.BadImpl", NULL, 0, 2, rj_v, 0, NULL, 0, NULL, 1, &bad_impl };
        rj_define_refused(rt, &bad_im, "an interface implemented by a slot the class does not have", &round);
        if (D->caps & TK_CAP_VERSIONING) {
            rj_int_refused(rt, (int)D->version_request(rt, D->virtual_method(i, 0)),
                           "version_request of an abstract method", &round);
            rj_int_refused(rt, D->version_revert(rt, D->virtual_method(i, 0)),
                           "version_revert of an abstract method", &round);
        }
        ck_assert_msg(D->object_new(rt, i) == NULL, "inv.abi.reject-cleanly: object_new of an interface succeeded");
        rj_probe(rt, "object_new of an interface", round++);
    }

    /* Loads out of order, twice; unloads of what is not unloadable. */
    rj_int_refused(rt, D->type_load(rt, c), "type_load of a type whose parent is not loaded", &round);
    ck_assert_msg(D->type_load(rt, p) == 0, "type_load(RJ.P) failed");
    rj_int_refused(rt, D->type_load(rt, p), "a second type_load of a loaded type", &round);
    ck_assert_msg(D->type_load(rt, c) == 0, "type_load(RJ.C) failed after its parent loaded");
    tk_drv_object *oc = fx_obj(rt, c);
    tkt_call_slot(fx_vslot(c, 0), oc, 801, 0);
    tkt_call_slot(fx_vslot(c, 2), oc, 805, 0);
    if (D->caps & TK_CAP_TYPE_UNLOAD) {
        rj_int_refused(rt, D->type_unload(rt, p), "type_unload of a type with a loaded subtype", &round);
        tkt_call_slot(fx_vslot(p, 1), oc, 802, 1);          /* P still loaded: its slots still work */
        D->object_free(rt, oc);
        ck_assert_msg(D->type_unload(rt, c) == 0, "type_unload(RJ.C) failed");
        rj_int_refused(rt, D->type_unload(rt, c), "a second type_unload", &round);
        ck_assert_msg(D->type_unload(rt, p) == 0, "type_unload(RJ.P) failed once its subtype was unloaded");
    } else {
        D->object_free(rt, oc);
    }
    D->thread_detach(rt);
    tkt_destroy(rt);
}

/* create() refuses an unknown key and a bad value, names the key, and
 * the next create() works. */
TK_TEST(abi_reject_config, "inv.abi.reject-cleanly")
{
    const char *bad[][2] = { { "CallCountThreshld=5", "CallCountThreshld" },
                             { "CallCountThreshold=many", "CallCountThreshold" },
                             { "Mode=sometimes", "Mode" },
                             { "NoEqualsSign", "NoEqualsSign" } };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char err[512] = "";
        tk_drv_runtime *rt = tkt_try_create(err, sizeof err, bad[k][0]);
        if (rt) {
            tkt_destroy(rt);
            tkt_fail("inv.abi.reject-cleanly: create() accepted '%s'", bad[k][0]);
        }
        ck_assert_msg(strstr(err, bad[k][1]) != NULL,
                      "inv.abi.reject-cleanly: create() refused '%s' with a message that does not name '%s': %s",
                      bad[k][0], bad[k][1], err);
        tk_drv_runtime *ok = tkt_create(FX_DET("2"));
        D->thread_attach(ok);
        rj_probe(ok, bad[k][0], (int)k);
        D->thread_detach(ok);
        tkt_destroy(ok);
    }
}
