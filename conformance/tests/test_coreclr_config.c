/* conformance/tests/test_coreclr_config.c — the optional configuration keys
 * with CoreCLR's semantics (SPEC.md "Optional configuration keys"), checked
 * through the driver ABI only: what create() accepts or rejects, what the
 * runtime describes, and when a method is promoted.  A driver that does not
 * list a key in tk_driver.config_keys gets UNSUPPORTED for its test.
 *
 * CoreCLR source of all three: src/coreclr/vm/eeconfig.cpp, EEConfig::sync
 * (threshold clamp, single-processor delay multiplier with its overflow
 * check, then TC_AggressiveTiering), defaults in
 * src/coreclr/inc/clrconfigvalues.h. */
#include "fixture.h"

#define CC_ID 71
static const tk_method_def cc_v[] = { TKT_M("CC.M", CC_ID) };

typedef struct cc_fx {
    tk_drv_runtime *rt;
    tk_drv_type *t;
    tk_drv_object *o;
    void **s;
    tk_drv_method *m;
} cc_fx;

static void cc_setup(cc_fx *f, tk_drv_runtime *rt)
{
    f->rt = rt;
    tkt_require_tiering(rt);
    f->t = fx_class(rt, "CC", NULL, 1, cc_v, 0, NULL);
    f->o = fx_obj(rt, f->t);
    f->s = fx_vslot(f->t, 0);
    f->m = fx_vm(f->t, 0);
}

/* One call; it must run `tier`. */
static void cc_call(cc_fx *f, int32_t tier, const char *what, long i)
{
    if (tkt_log_count() > 60000) tkt_log_reset();
    tkt_call c = tkt_call_logged(f->s, f->o, CC_ID, i);
    if (c.tier != tier)
        tkt_fail("%s: call %ld ran %s, expected %s", what, i, tkt_tier_name(c.tier), tkt_tier_name(tier));
}

static void cc_expect_state(cc_fx *f, int32_t tier, uint64_t compiles, const char *what)
{
    tk_method_state st = tkt_state(f->rt, f->m);
    if (st.tier != tier || st.compiles != compiles)
        tkt_fail("%s: the method is at %s with %llu compiles, expected %s with %llu", what, tkt_tier_name(st.tier),
                 (unsigned long long)st.compiles, tkt_tier_name(tier), (unsigned long long)compiles);
}

/* The effective value the runtime describes for key, when it describes it
 * at all (describe_config is "the effective configuration"). */
static void cc_expect_described(tk_drv_runtime *rt, const char *key, const char *want, const char *what)
{
    const char *v = tkt_config_value(rt, key);
    if (v && strcmp(v, want))
        tkt_fail("%s: describe_config says %s=%s; the effective value is %s", what, key, v, want);
}

/* ---- inv.config.threshold-clamp ------------------------------------------ */

/* Without CallCountThresholdClamp=1 a threshold outside 1..65535 is an error
 * (create() returns NULL with a message); with it, 0 is 1 and anything
 * above 65535 is 65535, as CoreCLR's EEConfig::sync, whatever the order
 * of the two keys. */
TK_TEST_F(config_threshold_clamp, TKT_SLOW, "inv.config.threshold-clamp", "inv.counting.threshold-exact")
{
    tkt_require_config_key("CallCountThresholdClamp");
    static const char *const bad[] = { "CallCountThreshold=0", "CallCountThreshold=65536", "CallCountThreshold=70000" };
    for (int k = 0; k < 3; k++)
        for (int explicit_off = 0; explicit_off < 2; explicit_off++) {
            char err[512];
            tk_drv_runtime *rt = explicit_off
                ? tkt_try_create(err, sizeof err, "Mode=deterministic", bad[k], "CallCountThresholdClamp=0")
                : tkt_try_create(err, sizeof err, "Mode=deterministic", bad[k]);
            if (rt) {
                tkt_destroy(rt);
                tkt_fail("create() accepted %s without CallCountThresholdClamp=1%s; it must reject it", bad[k],
                         explicit_off ? " (CallCountThresholdClamp=0 given)" : "");
            }
            ck_assert_msg(err[0], "create() rejected %s without a message", bad[k]);
        }
    /* the bounds themselves are valid either way */
    tkt_destroy(tkt_create("Mode=deterministic", "CallCountThreshold=65535"));
    tkt_destroy(tkt_create("Mode=deterministic", "CallCountThreshold=1"));

    /* 0 -> 1 (the clamp key after the threshold): one counted call promotes */
    cc_fx f;
    cc_setup(&f, tkt_create(FX_DET("0"), "CallCountThresholdClamp=1"));
    cc_expect_described(f.rt, "CallCountThreshold", "1", "CallCountThreshold=0 with the clamp");
    fx_start_counting(f.rt, f.s, f.o, CC_ID);
    cc_expect_state(&f, TK_TIER_0, 1, "threshold 0 clamped to 1, counting, no counted call yet");
    cc_call(&f, TK_TIER_0, "threshold 0 clamped to 1: the threshold call", 1);
    D->drain(f.rt);
    cc_expect_state(&f, TK_TIER_1, 2, "threshold 0 clamped to 1: one counted call and a drain");
    tkt_destroy(f.rt);

    /* 70000 -> 65535 (the clamp key first): 65534 counted calls do not
     * promote, the 65535th does.  70000 taken modulo 2^16 would be 4464. */
    cc_setup(&f, tkt_create("CallCountThresholdClamp=1", "Mode=deterministic", "TieredPGO=0",
                            "CallCountingDelayMs=100", "CallCountThreshold=70000", "DeleteCallCountingStubsAfter=0"));
    cc_expect_described(f.rt, "CallCountThreshold", "65535", "CallCountThreshold=70000 with the clamp");
    fx_start_counting(f.rt, f.s, f.o, CC_ID);
    for (long i = 1; i <= 65534; i++) cc_call(&f, TK_TIER_0, "threshold 70000 clamped to 65535", i);
    D->drain(f.rt);
    cc_expect_state(&f, TK_TIER_0, 1, "threshold 70000 clamped to 65535: after 65534 counted calls");
    cc_call(&f, TK_TIER_0, "threshold 70000 clamped to 65535: the threshold call", 65535);
    D->drain(f.rt);
    cc_expect_state(&f, TK_TIER_1, 2, "threshold 70000 clamped to 65535: after 65535 counted calls");
    tkt_destroy(f.rt);
}

/* ---- inv.config.aggressive-tiering ---------------------------------------- */

/* With threshold 1 and no delay, as AggressiveTiering=1 makes them: the
 * first call publishes tier0 and is not counted, the second is counted and
 * reaches the threshold (running tier0), and a drain alone, with no clock
 * advance, promotes to tier1. */
static void cc_check_no_delay_threshold_1(cc_fx *f, const char *what)
{
    cc_call(f, TK_TIER_0, what, 0);
    D->drain(f->rt);
    cc_expect_state(f, TK_TIER_0, 1, what);
    cc_call(f, TK_TIER_0, what, 1);
    D->drain(f->rt);
    cc_expect_state(f, TK_TIER_1, 2, what);
    cc_call(f, TK_TIER_1, what, 2);
}

/* AggressiveTiering=1 overrides CallCountThreshold and CallCountingDelayMs
 * (threshold 1, delay 0) whatever they are; AggressiveTiering=0 leaves
 * them alone. */
TK_TEST(config_aggressive_tiering, "inv.config.aggressive-tiering", "inv.counting.first-call-not-counted")
{
    tkt_require_config_key("AggressiveTiering");
    static const char *const delay[] = { "CallCountingDelayMs=100", "CallCountingDelayMs=0", "CallCountingDelayMs=100" };
    static const char *const thr[] = { "CallCountThreshold=30", "CallCountThreshold=30", "CallCountThreshold=1" };
    for (int k = 0; k < 3; k++) {
        char what[160];
        snprintf(what, sizeof what, "AggressiveTiering=1 with %s %s", delay[k], thr[k]);
        cc_fx f;
        cc_setup(&f, tkt_create("Mode=deterministic", "TieredPGO=0", delay[k], thr[k], "AggressiveTiering=1"));
        cc_expect_described(f.rt, "CallCountThreshold", "1", what);
        cc_expect_described(f.rt, "CallCountingDelayMs", "0", what);
        cc_check_no_delay_threshold_1(&f, what);
        tkt_destroy(f.rt);
    }
    /* off: the configured threshold holds (30: two calls do not promote) */
    cc_fx f;
    cc_setup(&f, tkt_create("Mode=deterministic", "TieredPGO=0", "CallCountingDelayMs=0", "CallCountThreshold=30",
                            "AggressiveTiering=0"));
    cc_expect_described(f.rt, "CallCountThreshold", "30", "AggressiveTiering=0");
    for (long i = 0; i < 2; i++) cc_call(&f, TK_TIER_0, "AggressiveTiering=0, threshold 30", i);
    D->drain(f.rt);
    cc_expect_state(&f, TK_TIER_0, 1, "AggressiveTiering=0, threshold 30, delay 0: after two calls");
    tkt_destroy(f.rt);
}

/* ---- inv.config.single-proc-delay ---------------------------------------- */

/* With threshold 1: the tiering delay that the method's first call starts
 * lasts exactly `delay` ms.  A call at delay-1 ms is not counted (the
 * method stays at tier0 after draining); one more ms ends the delay and a
 * single counted call then promotes. */
static void cc_check_delay(cc_fx *f, uint32_t delay, const char *what)
{
    char buf[512];
    cc_call(f, TK_TIER_0, what, 0);
    tkt_tick(f->rt, delay - 1);
    cc_call(f, TK_TIER_0, what, 1);
    D->drain(f->rt);
    snprintf(buf, sizeof buf, "%s: a call %u ms after the first (delay %u ms) must not be counted", what, delay - 1,
             delay);
    cc_expect_state(f, TK_TIER_0, 1, buf);
    tkt_tick(f->rt, 1);
    cc_call(f, TK_TIER_0, what, 2);
    D->drain(f->rt);
    snprintf(buf, sizeof buf, "%s: %u ms after the first call the delay is over, one counted call promotes", what,
             delay);
    cc_expect_state(f, TK_TIER_1, 2, buf);
}

/* The delay is multiplied by DelaySingleProcMultiplier when the processor
 * count (PROCESSOR_COUNT) is 1 and the multiplier is above 1, unless the
 * 32-bit product overflows; AggressiveTiering comes after it. */
TK_TEST(config_single_proc_delay, "inv.config.single-proc-delay", "inv.tiering.promotion-after-threshold")
{
    tkt_require_config_key("DelaySingleProcMultiplier");
    tkt_require_config_key("PROCESSOR_COUNT");
    static const struct { const char *cpus, *mult, *delay; uint32_t want; } c[] = {
        { "PROCESSOR_COUNT=1", "DelaySingleProcMultiplier=10", "CallCountingDelayMs=100", 1000 },
        { "PROCESSOR_COUNT=1", "DelaySingleProcMultiplier=3", "CallCountingDelayMs=7", 21 },
        { "PROCESSOR_COUNT=2", "DelaySingleProcMultiplier=10", "CallCountingDelayMs=100", 100 },
        { "PROCESSOR_COUNT=1", "DelaySingleProcMultiplier=1", "CallCountingDelayMs=100", 100 },
        { "PROCESSOR_COUNT=1", "DelaySingleProcMultiplier=0", "CallCountingDelayMs=100", 100 },
        /* 100 * 50,000,000 overflows 32 bits: the delay stays 100 */
        { "PROCESSOR_COUNT=1", "DelaySingleProcMultiplier=50000000", "CallCountingDelayMs=100", 100 },
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        char what[200], want[16];
        snprintf(what, sizeof what, "%s %s %s", c[k].cpus, c[k].mult, c[k].delay);
        snprintf(want, sizeof want, "%u", c[k].want);
        cc_fx f;
        cc_setup(&f, tkt_create("Mode=deterministic", "TieredPGO=0", "CallCountThreshold=1", c[k].cpus, c[k].mult,
                                c[k].delay));
        cc_expect_described(f.rt, "CallCountingDelayMs", want, what);
        cc_check_delay(&f, c[k].want, what);
        tkt_destroy(f.rt);
    }
    /* AggressiveTiering after the multiplier: no delay at all */
    if (tkt_has_config_key("AggressiveTiering")) {
        const char *what = "PROCESSOR_COUNT=1 DelaySingleProcMultiplier=10 AggressiveTiering=1";
        cc_fx f;
        cc_setup(&f, tkt_create("Mode=deterministic", "TieredPGO=0", "CallCountingDelayMs=100", "CallCountThreshold=30",
                                "PROCESSOR_COUNT=1", "DelaySingleProcMultiplier=10", "AggressiveTiering=1"));
        cc_expect_described(f.rt, "CallCountingDelayMs", "0", what);
        cc_check_no_delay_threshold_1(&f, what);
        tkt_destroy(f.rt);
    }
}
