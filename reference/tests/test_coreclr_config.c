/* reference/tests/test_coreclr_config.c — CoreCLR's configuration semantics
 * in the reference (SPEC.md "CoreCLR configuration semantics and the
 * reference"): the threshold clamp option, the single-CPU delay multiplier
 * with an injectable processor count (PROCESSOR_COUNT), AggressiveTiering,
 * and the background worker's time slices.  Deterministic: the manual clock,
 * background work run by tk_drain; no wall-clock timing.  The time slices
 * are not observable through the driver ABI (no event or counter shows a
 * yield), so they are tested here, inside the runtime. */
#include "reftest.h"
#include "../rt_internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t cbody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

/* Creates a runtime from "K=V" entries through the driver (the path
 * tk-conform and tk-bench take: environment, then the array, clamp first);
 * returns NULL with the message in err. */
static tk_runtime *drv_rt(const char *const *kv, char *err, size_t len)
{
    return tk_driver_v1()->create(kv, err, len);
}

/* The value of `key` in the runtime's described (effective) configuration. */
static const char *described(tk_runtime *rt, const char *key)
{
    static char buf[2048], val[256];
    tk_config_describe(tk_runtime_config(rt), buf, sizeof buf);
    size_t kl = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (!strncmp(line, key, kl) && line[kl] == '=') {
            size_t n = strcspn(line + kl + 1, "\n");
            snprintf(val, sizeof val, "%.*s", (int)n, line + kl + 1);
            return val;
        }
    }
    return NULL;
}

START_TEST(threshold_clamp_option)
{
    tk_config c;
    char err[256];
    tk_config_defaults(&c);
    ck_assert(!c.threshold_clamp);
    /* tierkit's default: out of range is an error naming the option. */
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "0", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "'0'") && strstr(err, "1..65535") && strstr(err, "CallCountThresholdClamp=1"), "%s", err);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "65536", err, sizeof err), -1);
    /* CoreCLR's behaviour (eeconfig.cpp): 0 -> 1, above 65535 -> 65535. */
    ck_assert_int_eq(tk_config_set(&c, "CallCountThresholdClamp", "1", err, sizeof err), 0);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "0", err, sizeof err), 0);
    ck_assert_uint_eq(c.call_count_threshold, 1);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "70000", err, sizeof err), 0);
    ck_assert_uint_eq(c.call_count_threshold, 65535);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "4294967295", err, sizeof err), 0);
    ck_assert_uint_eq(c.call_count_threshold, 65535);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "65534", err, sizeof err), 0);
    ck_assert_uint_eq(c.call_count_threshold, 65534);
    /* Still an error: not a 32-bit number at all. */
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "4294967296", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "CallCountThreshold") && strstr(err, "4294967296"), "%s", err);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThreshold", "-1", err, sizeof err), -1);
    ck_assert_int_eq(tk_config_set(&c, "CallCountThresholdClamp", "yes", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "CallCountThresholdClamp") && strstr(err, "'yes'"), "%s", err);

    /* Through the driver the clamp applies wherever it is in the array. */
    tk_runtime *rt = drv_rt((const char *const[]){ "Mode=deterministic", "CallCountThreshold=0",
                                                   "CallCountThresholdClamp=1", NULL }, err, sizeof err);
    ck_assert_msg(rt != NULL, "%s", err);
    ck_assert_str_eq(described(rt, "CallCountThreshold"), "1");
    ck_assert_str_eq(described(rt, "CallCountThresholdClamp"), "1");
    tk_runtime_destroy(rt);
    rt = drv_rt((const char *const[]){ "Mode=deterministic", "CallCountThreshold=0", NULL }, err, sizeof err);
    ck_assert_ptr_null(rt);
    ck_assert_msg(strstr(err, "CallCountThreshold") && strstr(err, "'0'"), "%s", err);
    /* And from the environment, in either order of the variables. */
    setenv("TK_CallCountThreshold", "100000", 1);
    setenv("TK_CallCountThresholdClamp", "1", 1);
    tk_config_defaults(&c);
    ck_assert_msg(tk_config_from_env(&c, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(c.call_count_threshold, 65535);
    unsetenv("TK_CallCountThresholdClamp");
    tk_config_defaults(&c);
    ck_assert_int_eq(tk_config_from_env(&c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "TK_CallCountThreshold") && strstr(err, "100000"), "%s", err);
    unsetenv("TK_CallCountThreshold");
}
END_TEST

/* First call of Base.V0 at t=0 (opens the delay), then: still not counting
 * at t = delay - 1, counting at t = delay. */
static void expect_delay(const char *const *extra, uint64_t delay)
{
    fx f;
    fx_init_with(&f, "lazy", extra, cbody);
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)delay);
    ck_assert_str_eq(described(f.rt, "CallCountingDelayMs"), want);
    tk_method *m = tk_type_virtual_method(f.base, 0);
    call_slot(tk_vtable_slot(f.base, 0), f.obj, 0);
    tk_method_state st;
    advance_and_drain(f.rt, delay - 1);
    tk_method_get_state(f.rt, m, &st);
    ck_assert_msg(!st.counting, "counting before the effective delay of %llu ms", (unsigned long long)delay);
    advance_and_drain(f.rt, 1);
    tk_method_get_state(f.rt, m, &st);
    ck_assert_msg(st.counting, "not counting after the effective delay of %llu ms", (unsigned long long)delay);
    fx_done(&f);
}

START_TEST(delay_single_proc_multiplier)
{
    /* CoreCLR eeconfig.cpp: on one CPU the delay is multiplied by
     * TC_DelaySingleProcMultiplier (10) unless the product overflows. */
    expect_delay((const char *const[]){ "PROCESSOR_COUNT", "1", NULL }, 1000);
    expect_delay((const char *const[]){ "PROCESSOR_COUNT", "2", NULL }, 100);
    expect_delay((const char *const[]){ "PROCESSOR_COUNT", "1", "CallCountingDelayMs", "7", NULL }, 70);
    expect_delay((const char *const[]){ "PROCESSOR_COUNT", "1", "DelaySingleProcMultiplier", "2", NULL }, 200);
    expect_delay((const char *const[]){ "PROCESSOR_COUNT", "1", "DelaySingleProcMultiplier", "1", NULL }, 100);
    expect_delay((const char *const[]){ "PROCESSOR_COUNT", "1", "DelaySingleProcMultiplier", "0", NULL }, 100);
    /* Deterministic mode without PROCESSOR_COUNT: host-independent, count 0. */
    expect_delay(NULL, 100);

    tk_config c;
    char err[256];
    tk_config_defaults(&c);
    ck_assert_uint_eq(c.delay_single_proc_multiplier, 10);
    ck_assert_uint_eq(c.processor_count, 0);
    /* The 32-bit product: 3600000 x 1193 = 4294800000 fits, x 1194 overflows
     * (the delay then stays as configured, as in CoreCLR). */
    const char *fits[] = { "PROCESSOR_COUNT", "1", "CallCountingDelayMs", "3600000",
                           "DelaySingleProcMultiplier", "1193", NULL };
    tk_runtime *rt = rt_new(NULL, fits);
    ck_assert_uint_eq(tk_runtime_config(rt)->call_counting_delay_ms, 4294800000u);
    tk_runtime_destroy(rt);
    const char *over[] = { "PROCESSOR_COUNT", "1", "CallCountingDelayMs", "3600000",
                           "DelaySingleProcMultiplier", "1194", NULL };
    rt = rt_new(NULL, over);
    ck_assert_uint_eq(tk_runtime_config(rt)->call_counting_delay_ms, 3600000);
    tk_runtime_destroy(rt);
    /* Bad values: named, with the range. */
    ck_assert_int_eq(tk_config_set(&c, "PROCESSOR_COUNT", "65536", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "PROCESSOR_COUNT") && strstr(err, "0..65535"), "%s", err);
    ck_assert_int_eq(tk_config_set(&c, "PROCESSOR_COUNT", "two", err, sizeof err), -1);
    ck_assert_int_eq(tk_config_set(&c, "DelaySingleProcMultiplier", "-10", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "DelaySingleProcMultiplier") && strstr(err, "'-10'"), "%s", err);
    /* Threaded mode counts the CPUs of the affinity mask. */
    rt = rt_new_mode("threaded", NULL, NULL);
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    ck_assert_uint_eq(tk_runtime_config(rt)->processor_count, (uint32_t)CPU_COUNT(&set));
    tk_runtime_destroy(rt);
}
END_TEST

START_TEST(aggressive_tiering)
{
    /* CoreCLR eeconfig.cpp: TC_AggressiveTiering sets threshold 1 and delay
     * 0, after the multiplier. */
    const char *ex[] = { "AggressiveTiering", "1", "CallCountThreshold", "30", "CallCountingDelayMs", "100",
                         "PROCESSOR_COUNT", "1", "TieredPGO", "0", NULL };
    fx f;
    fx_init_with(&f, "lazy", ex, cbody);
    ck_assert_str_eq(described(f.rt, "CallCountThreshold"), "1");
    ck_assert_str_eq(described(f.rt, "CallCountingDelayMs"), "0");
    ck_assert_str_eq(described(f.rt, "AggressiveTiering"), "1");
    tk_method *m = tk_type_virtual_method(f.base, 0);
    void **s = tk_vtable_slot(f.base, 0);
    call_slot(s, f.obj, 0);                     /* publishes, counts at once */
    tk_method_state st;
    tk_method_get_state(f.rt, m, &st);
    ck_assert_int_eq(st.counting, 1);
    call_slot(s, f.obj, 1);                     /* the one counted call */
    tk_drain(f.rt);
    tk_method_get_state(f.rt, m, &st);
    ck_assert_int_eq(st.tier, TK_TIER_1);
    fx_done(&f);
    char err[256];
    tk_config c;
    tk_config_defaults(&c);
    ck_assert_int_eq(tk_config_set(&c, "AggressiveTiering", "2", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "AggressiveTiering") && strstr(err, "'2'"), "%s", err);
    /* A misspelt variable names the key. */
    setenv("TK_AggresiveTiering", "1", 1);
    tk_config_defaults(&c);
    ck_assert_int_eq(tk_config_from_env(&c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "did you mean TK_AggressiveTiering?"), "%s", err);
    unsetenv("TK_AggresiveTiering");
}
END_TEST

/* ---- time slices ---------------------------------------------------------- */

#define TS_N 24

typedef struct ts_fx {
    tk_runtime *rt;
    tk_type *t;
    tk_object *o;
    uint64_t item_ms, first_yield_ms;   /* clock steps per item / at the first yield */
    int yields_seen;
} ts_fx;

static void ts_item(tk_runtime *rt, uint32_t index, void *user)
{
    (void)index;
    tk_clock_advance(rt, ((ts_fx *)user)->item_ms);
}

static void ts_yield(tk_runtime *rt, void *user)
{
    ts_fx *x = user;
    if (x->yields_seen++ == 0) tk_clock_advance(rt, x->first_yield_ms);
}

/* TS_N methods at threshold 1, no delay: each one's second call reaches
 * its threshold, so one drain completes them all and compiles their TS_N
 * promotions in one optimize batch, with the clock advanced by item_ms
 * before each item.  Returns the yields of that batch. */
static uint64_t ts_run(const char *procs, uint64_t item_ms, uint64_t first_yield_ms, uint32_t *slice_after)
{
    ts_fx x = { 0 };
    const char *ex[] = { "CallCountingDelayMs", "0", "CallCountThreshold", "1", "TieredPGO", "0",
                         "PROCESSOR_COUNT", procs, NULL };
    x.rt = rt_new("lazy", ex);
    tk_method_def v[TS_N];
    char names[TS_N][16];
    for (int i = 0; i < TS_N; i++) {
        snprintf(names[i], sizeof names[i], "TS.%d", i);
        v[i] = (tk_method_def){ names[i], cbody, (void *)(intptr_t)(i + 1), 0 };
    }
    char err[256];
    tk_type_def d = { "TS", NULL, 0, TS_N, v, 0, NULL, 0, NULL, 0, NULL };
    x.t = tk_type_define(x.rt, &d, err, sizeof err);
    ck_assert_msg(x.t != NULL, "%s", err);
    ck_assert_int_eq(tk_type_load(x.rt, x.t), 0);
    x.o = tk_object_new(x.rt, x.t);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < TS_N; i++) call_slot(tk_vtable_slot(x.t, (uint32_t)i), x.o, k);
    x.item_ms = item_ms;
    x.first_yield_ms = first_yield_ms;
    x.rt->dbg_item_hook_user = &x;
    __atomic_store_n(&x.rt->dbg_yield_hook, ts_yield, __ATOMIC_RELEASE);
    __atomic_store_n(&x.rt->dbg_item_hook, ts_item, __ATOMIC_RELEASE);
    tk_drain(x.rt);
    __atomic_store_n(&x.rt->dbg_item_hook, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&x.rt->dbg_yield_hook, NULL, __ATOMIC_RELEASE);
    for (int i = 0; i < TS_N; i++) {
        tk_method_state st;
        tk_method_get_state(x.rt, tk_type_virtual_method(x.t, (uint32_t)i), &st);
        ck_assert_msg(st.tier == TK_TIER_1, "TS.%d at tier %d after the batch", i, st.tier);
    }
    uint64_t y = atomic_load(&x.rt->dbg_worker_yields);
    ck_assert_uint_eq((uint64_t)x.yields_seen, y);
    if (slice_after) *slice_after = x.rt->work_slice_ms;
    tk_object_free(x.rt, x.o);
    tk_runtime_destroy(x.rt);
    return y;
}

START_TEST(worker_time_slices)
{
    /* CoreCLR DoBackgroundWork (tieredcompilation.cpp): the batch yields
     * once it has run for its slice, min = the processor count in ms, max
     * 50 ms.  1 ms per item, 24 items (checks before items 1..23): */
    uint32_t slice;
    ck_assert_uint_eq(ts_run("4", 1, 0, &slice), 5);   /* slice 4: at items 4, 8, 12, 16, 20 */
    ck_assert_uint_eq(slice, 4);
    ck_assert_uint_eq(ts_run("1", 1, 0, &slice), 23);  /* slice 1: before every item but the first */
    ck_assert_uint_eq(ts_run("0", 1, 0, &slice), 23);  /* deterministic, no count: 1 ms */
    ck_assert_uint_eq(ts_run("200", 1, 0, &slice), 0); /* slice capped at 50 ms: 23 ms never reach it */
    ck_assert_uint_eq(slice, 50);
    /* A gap of a whole maximum slice since the previous item means the
     * thread was descheduled: discounted, no yield. */
    ck_assert_uint_eq(ts_run("4", 60, 0, &slice), 0);
    /* A long yield (80 ms) makes the next slice a quarter of it (20 ms),
     * then it decays by a quarter per yield: slice 2 -> yield at item 2 ->
     * 20 -> next yield at item 22 -> 15. */
    ck_assert_uint_eq(ts_run("2", 1, 80, &slice), 2);
    ck_assert_uint_eq(slice, 15);
}
END_TEST

TCase *tcase_coreclr_config(void)
{
    TCase *tc = tcase_create("coreclr-config");
    tcase_add_test(tc, threshold_clamp_option);
    tcase_add_test(tc, delay_single_proc_multiplier);
    tcase_add_test(tc, aggressive_tiering);
    tcase_add_test(tc, worker_time_slices);
    return tc;
}
