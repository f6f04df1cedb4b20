/* reference/tests/test_seed.c — the seed scenario (PR #125359) under every
 * strategy: the counters' shape, final tiers, no stub in any slot, and
 * tier-independent semantics across strategies and thresholds. */
#include "reftest.h"
#include "../examples/seed_scenario.h"

static int g_stub_in_slot, g_late_slot_writes, g_published;
static void seed_sink(void *user, const tk_event *ev)
{
    (void)user;
    if (ev->kind == TK_EV_VERSION_PUBLISH) g_published = 1;
    if (ev->kind != TK_EV_SLOT_WRITE) return;
    if (ev->new_info.cls == TK_AC_CALLCOUNT_STUB) g_stub_in_slot++;
    if (g_published && !(ev->reason && !strcmp(ev->reason, "init"))) g_late_slot_writes++;
}

static tk_runtime *seed_rt(int strategy, const char *threshold)
{
    const char *ex[] = { "CallCountThreshold", threshold, NULL };
    return rt_new(tk_strategy_names[strategy], ex);
}

START_TEST(seed_counters_shape)
{
    int s = _i;
    tk_runtime *rt = seed_rt(s, "30");
    g_stub_in_slot = g_late_slot_writes = g_published = 0;
    tk_set_event_sink(rt, seed_sink, NULL);
    seed_run run;
    ck_assert_int_eq(seed_execute(&run, rt), 0);
    ck_assert_uint_eq(run.wrong, 0);
    ck_assert_int_eq(g_stub_in_slot, 0);
    static const char *const shaped[] = { "try_backpatch_calls", "backpatch_slots_calls", "slot_writes",
                                          "entry_point_oscillations" };
    for (int i = 0; i < 4; i++) {
        int64_t nf = counter_phase(rt, shaped[i], 0);
        if (s == TK_STRATEGY_FORWARDER || s == TK_STRATEGY_PRECODE_REUSE)
            ck_assert_msg(nf > 0, "%s: %s nonfinal = 0", tk_strategy_names[s], shaped[i]);
        else
            ck_assert_msg(nf == 0, "%s: %s nonfinal = %lld", tk_strategy_names[s], shaped[i], (long long)nf);
    }
    if (s == TK_STRATEGY_ENTRY_CELL) {
        ck_assert_int_eq(g_late_slot_writes, 0);
        ck_assert_int_eq(counter_phase(rt, "slot_writes", 1), 0);
    }
    if (s == TK_STRATEGY_LAZY) ck_assert_int_gt(counter_phase(rt, "slot_discoveries", 1), 0);
    tk_method *hot[32];
    int n = seed_hot_methods(&run, hot, 32);
    for (int i = 0; i < n; i++) {
        tk_method_state st;
        tk_method_get_state(rt, hot[i], &st);
        ck_assert_msg(st.tier == (s == TK_STRATEGY_NOTIER ? TK_TIER_OPTIMIZED : TK_TIER_1),
                      "%s: %s at tier %d", tk_strategy_names[s], tk_method_name(hot[i]), st.tier);
        ck_assert_int_eq(st.counting, 0);
    }
    if (s != TK_STRATEGY_NOTIER) {
        ck_assert_int_eq(tk_counter_total(rt, "promotions_tier0_to_tier0instr"), n);
        ck_assert_int_eq(tk_counter_total(rt, "promotions_tier0instr_to_tier1"), n);
        ck_assert_int_eq(tk_counter_total(rt, "methods_at_tier1"), n);
        /* one counting stub per non-final version: tier0 and tier0-instrumented, never tier1 */
        ck_assert_int_eq(tk_counter_total(rt, "stubs_allocated_callcount"), 2 * n);
    }
    seed_teardown(&run);
    tk_runtime_destroy(rt);
}
END_TEST

START_TEST(seed_semantics_tier_independent)
{
    static const char *const th[] = { "1", "2", "30" };
    uint64_t hash0 = 0, calls0 = 0;
    for (int s = 0; s < TK_STRATEGY_COUNT; s++)
        for (int t = 0; t < 3; t++) {
            tk_runtime *rt = seed_rt(s, th[t]);
            seed_run run;
            ck_assert_int_eq(seed_execute(&run, rt), 0);
            ck_assert_uint_eq(run.wrong, 0);
            if (s == 0 && t == 0) { hash0 = run.hash; calls0 = run.calls; }
            ck_assert_msg(run.hash == hash0 && run.calls == calls0, "%s threshold %s: body sequence differs",
                          tk_strategy_names[s], th[t]);
            seed_teardown(&run);
            tk_runtime_destroy(rt);
        }
}
END_TEST

TCase *tcase_seed(void)
{
    TCase *tc = tcase_create("seed");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, seed_counters_shape, 0, (int)tk_strategy_count());
    tcase_add_test(tc, seed_semantics_tier_independent);
    return tc;
}
