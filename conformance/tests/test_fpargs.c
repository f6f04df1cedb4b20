/* conformance/tests/test_fpargs.c — every argument register reaches the
 * body unchanged, whatever the entry point on the way (prestub, precode,
 * forwarder, call-counting stub, threshold path, native entry):
 * `inv.semantics.arguments-preserved`, through the driver ABI's
 * floating-point bodies (TK_METHOD_FP_ARGS, tk_driver.fp_arg_regs). */
#include "fixture.h"

/* What the body saw on its last call. */
static struct {
    int calls;
    int id;
    int32_t tier;
    int64_t a[4];
    uint64_t f[8];
} fa_seen;

static uint64_t fa_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double fa_from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static double fa_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3, double f0,
                      double f1, double f2, double f3, double f4, double f5, double f6, double f7)
{
    (void)self;
    double f[8] = { f0, f1, f2, f3, f4, f5, f6, f7 };
    fa_seen.calls++;
    fa_seen.id = (int)(intptr_t)ctx->user;
    fa_seen.tier = ctx->tier;
    fa_seen.a[0] = a0; fa_seen.a[1] = a1; fa_seen.a[2] = a2; fa_seen.a[3] = a3;
    for (int i = 0; i < 8; i++) fa_seen.f[i] = fa_bits(f[i]);
    /* The return register is a floating-point one too. */
    return fa_from_bits(fa_seen.f[7] ^ (uint64_t)fa_seen.id);
}

#define FA_M(name_, id_) { (name_), (tk_body_fn)(void (*)(void))fa_body, TKT_ID(id_), TK_METHOD_FP_ARGS }
static const tk_method_def fa_v[] = { FA_M("FA.V", 61), FA_M("FA.W", 62) };
static const tk_method_def fa_m[] = { FA_M("FA.N", 63) };

/* Calls through *slot with arguments derived from `k` (distinct in every
 * register and every call: NaN payloads, negative zero, subnormals) and
 * checks the body got exactly them. */
static void fa_call(void **slot, void *self, int id, uint64_t k, const char *what)
{
    uint64_t f[8] = {
        0x7ff8000000000000ull | (k * 0x1357u + 1),      /* quiet NaN with payload */
        0x8000000000000000ull + k,                      /* -0 and negative subnormals */
        fa_bits(1.0 + (double)k * 0.5),
        fa_bits(-3.25e300 / (double)(k + 1)),
        0x000fffffffffffffull - k,                      /* largest subnormals */
        fa_bits((double)(k + 7) * 1e-310),
        0x7ff4000000000000ull | (k + 3),                /* signalling NaN bits (passed, not computed with) */
        fa_bits(6.02214076e23 + (double)k),
    };
    int64_t a[4] = { (int64_t)(k * 3 + 1), -(int64_t)k - 5, (int64_t)0x7edcba9876543210ll ^ (int64_t)k,
                     (int64_t)(k << 20) };
    memset(&fa_seen, 0, sizeof fa_seen);
    tk_fp_entry_fn e = (tk_fp_entry_fn)tkt_load(slot);
    ck_assert_msg(e != NULL, "%s: slot is NULL", what);
    double r = e(self, a[0], a[1], a[2], a[3], fa_from_bits(f[0]), fa_from_bits(f[1]), fa_from_bits(f[2]),
                 fa_from_bits(f[3]), fa_from_bits(f[4]), fa_from_bits(f[5]), fa_from_bits(f[6]), fa_from_bits(f[7]));
    ck_assert_msg(fa_seen.calls == 1 && fa_seen.id == id, "%s: the call ran %d bodies, last of id %d (expected %d)", what,
                  fa_seen.calls, fa_seen.id, id);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fa_seen.a[i] == a[i], "%s (body at %s): integer argument a%d arrived as %#llx, passed %#llx", what,
                      tkt_tier_name(fa_seen.tier), i, (unsigned long long)fa_seen.a[i], (unsigned long long)a[i]);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(fa_seen.f[i] == f[i],
                      "%s (body at %s): floating-point argument f%d arrived as bits %#llx, passed %#llx: an entry "
                      "point on the way clobbered a floating-point argument register",
                      what, tkt_tier_name(fa_seen.tier), i, (unsigned long long)fa_seen.f[i],
                      (unsigned long long)f[i]);
    ck_assert_msg(fa_bits(r) == (f[7] ^ (uint64_t)id), "%s: floating-point return value %#llx, expected %#llx", what,
                  (unsigned long long)fa_bits(r), (unsigned long long)(f[7] ^ (uint64_t)id));
}

TK_TEST(semantics_fp_arguments_preserved, "inv.semantics.arguments-preserved", "inv.semantics.tier-independent")
{
    if (!TK_DRIVER_HAS(D, fp_arg_regs) || D->fp_arg_regs < 8)
        tkt_unsupported("driver does not announce floating-point argument bodies (tk_driver.fp_arg_regs)");
    int del = (D->caps & TK_CAP_STUB_DELETION) != 0;
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", "TieredPGO=1", "CallCountingDelayMs=100",
                                    "CallCountThreshold=2",
                                    del ? "DeleteCallCountingStubsAfter=1" : "DeleteCallCountingStubsAfter=0");
    /* Events make the runtime's own C code run (and use vector registers)
     * on the way through the prestub and threshold paths. */
    if (D->caps & TK_CAP_EVENTS) tkt_events_start(rt);
    tk_type_def def = { "FA", NULL, 0, 2, fa_v, 0, NULL, 1, fa_m, 0, NULL };
    tk_drv_type *t = fx_define(rt, &def, 1);
    tk_override_def ov = { 1, FA_M("FAd.W", 64) };
    tk_drv_type *d = fx_class(rt, "FAd", t, 0, NULL, 1, &ov);
    tk_drv_object *o = fx_obj(rt, t), *od = fx_obj(rt, d);
    tk_drv_method *v = fx_vm(t, 0), *n = D->nonvirtual_method(t, 0);
    ck_assert_ptr_nonnull(n);
    void **sv = fx_vslot(t, 0), **sw = fx_vslot(t, 1), **dv = fx_vslot(d, 0), **dw = fx_vslot(d, 1);
    void **ov_ = D->method_slot(v), **sn = D->method_slot(n);
    struct { void **slot; void *self; int id; const char *name; } paths[] = {
        { sv, o, 61, "FA's vtable slot 0" },  { dv, od, 61, "FAd's vtable slot 0" },
        { ov_, o, 61, "FA.V's owning slot" }, { sw, o, 62, "FA.W's slot" },
        { dw, od, 64, "FAd.W's slot" },       { sn, o, 63, "FA.N's slot" },
    };
    uint64_t k = 0;
    char what[96];
    for (int round = 0; round < 6; round++) {
        /* first calls (prestub), calls in the delay, counted calls up to and
         * past the threshold, calls after each promotion */
        for (int i = 0; i < 3; i++)
            for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
                snprintf(what, sizeof what, "round %d call %d through %s", round, i, paths[p].name);
                fa_call(paths[p].slot, paths[p].self, paths[p].id, k++, what);
            }
        D->safepoint(rt);
        tkt_tick(rt, FX_DELAY);
        if (round == 3 && (D->caps & TK_CAP_VERSIONING))
            ck_assert_msg(D->version_request(rt, v) > 0, "version_request failed");
    }
    if (tkt_tiers(rt))
        ck_assert_msg(TK_TIER_IS_FINAL(fx_tier(rt, fx_vm(d, 1))), "setup: FAd.W was not promoted to a final tier");
    tkt_destroy(rt);
}
