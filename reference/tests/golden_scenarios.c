/* reference/tests/golden_scenarios.c — tk-golden-scenarios: scripted,
 * deterministic runs of the reference runtime whose counters, final method
 * states and traces are the "golden" record of a strategy's behaviour
 * (reference/tests/golden/README.md).  Every transition a strategy decides
 * is reached: first publish, the tiering delay, counting installed and
 * completed, non-final and final publishes, resets by version requests and
 * reverts, stub deletion, type unload, counting without a delay.
 *
 * usage: tk-golden-scenarios STRATEGY TRACE_DIR
 *        tk-golden-scenarios --list      (the strategies, one a line)
 *   writes TRACE_DIR/SCENARIO.jsonl (the runtime's Trace) for each scenario
 *   and prints one JSON object per scenario on stdout:
 *   {"scenario":S,"strategy":S,"counters":{NAME:[NONFINAL,FINAL],..},
 *    "states":{METHOD:"TIER IL PUBLISHED COUNTING COMPILES",..},"hash":H}
 *   Timing counters (*_ns) are left out: they are not deterministic. */
#include "../examples/seed_scenario.h"

#include <stdlib.h>

typedef struct scenario {
    const char *name;
    const char *const *config;        /* extra Key=Value settings */
    void (*script)(seed_run *s, tk_runtime *rt);
} scenario;

static void rounds(seed_run *s, tk_runtime *rt, int from, int to)
{
    for (int r = from; r < to; r++) {
        seed_round(s, r);
        tk_clock_advance(rt, 150);
        tk_drain(rt);
    }
}

static void load_late(seed_run *s, tk_runtime *rt)
{
    tk_type_load(rt, s->kinds[SEED_KINDS - 1]);
    s->objs[SEED_KINDS - 1] = tk_object_new(rt, s->kinds[SEED_KINDS - 1]);
}

/* PR #125359's seed scenario as tk-seed-counters runs it. */
static void script_seed(seed_run *s, tk_runtime *rt)
{
    rounds(s, rt, 0, SEED_LATE_ROUND);
    load_late(s, rt);
    rounds(s, rt, SEED_LATE_ROUND, SEED_ROUNDS);
}

/* ReJIT-like version requests while methods count and after they are
 * final, then a revert: every strategy's reset, with stub deletion after
 * every completion. */
static void script_rejit(seed_run *s, tk_runtime *rt)
{
    rounds(s, rt, 0, 2);
    tk_version_request(rt, tk_type_virtual_method(s->kinds[0], 0));      /* counting or final */
    tk_version_request(rt, tk_type_nonvirtual_method(s->factory, 0));
    rounds(s, rt, 2, SEED_LATE_ROUND);
    load_late(s, rt);
    tk_version_request(rt, tk_type_virtual_method(s->shape, 2));
    rounds(s, rt, SEED_LATE_ROUND, 6);
    tk_version_revert(rt, tk_type_virtual_method(s->kinds[0], 0));
    tk_version_request(rt, tk_type_virtual_method(s->kinds[1], 3));
    rounds(s, rt, 6, SEED_ROUNDS);
}
static const char *const rejit_cfg[] = { "DeleteCallCountingStubsAfter=1", NULL };

/* No tiering delay, no PGO, a low threshold; the late type is loaded,
 * called and unloaded while its methods count. */
static void script_churn(seed_run *s, tk_runtime *rt)
{
    rounds(s, rt, 0, 1);
    load_late(s, rt);
    seed_round(s, SEED_LATE_ROUND);   /* every kind, the late one included */
    tk_object_free(rt, s->objs[SEED_KINDS - 1]);
    s->objs[SEED_KINDS - 1] = NULL;
    tk_type_unload(rt, s->kinds[SEED_KINDS - 1]);
    tk_drain(rt);
    rounds(s, rt, 1, SEED_LATE_ROUND);
    rounds(s, rt, 0, 2);
}
static const char *const churn_cfg[] = {
    "CallCountingDelayMs=0", "TieredPGO=0", "CallCountThreshold=5", "DeleteCallCountingStubsAfter=2", NULL
};

static const scenario scenarios[] = {
    { "seed", NULL, script_seed },
    { "rejit", rejit_cfg, script_rejit },
    { "churn", churn_cfg, script_churn },
};

static void print_state(tk_runtime *rt, tk_method *m, int *first)
{
    tk_method_state st;
    tk_method_get_state(rt, m, &st);
    printf("%s\"%s\":\"%s %u %d %d %llu\"", *first ? "" : ",", tk_method_name(m), tk_tier_name(st.tier),
           st.il_version, st.published, st.counting, (unsigned long long)st.compiles);
    *first = 0;
}

static int run(const char *strategy, const char *dir, const scenario *sc)
{
    char err[256], path[1024];
    tk_config cfg;
    tk_config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, sc->name);
    if (tk_config_set(&cfg, "Mode", "deterministic", err, sizeof err) ||
        tk_config_set(&cfg, "Strategy", strategy, err, sizeof err) ||
        tk_config_set(&cfg, "Trace", path, err, sizeof err)) {
        fprintf(stderr, "tk-golden-scenarios: %s\n", err);
        return 2;
    }
    for (const char *const *kv = sc->config; kv && *kv; kv++) {
        char key[64];
        const char *eq = strchr(*kv, '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - *kv), *kv);
        if (tk_config_set(&cfg, key, eq + 1, err, sizeof err)) { fprintf(stderr, "tk-golden-scenarios: %s\n", err); return 2; }
    }
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    if (!rt) { fprintf(stderr, "tk-golden-scenarios: %s\n", err); return 2; }
    seed_run s;
    if (seed_setup(&s, rt)) { fprintf(stderr, "tk-golden-scenarios: %s: setup failed\n", sc->name); return 1; }
    sc->script(&s, rt);
    tk_counter c[64];
    size_t n = tk_counters(rt, c, 64);
    printf("{\"scenario\":\"%s\",\"strategy\":\"%s\",\"counters\":{", sc->name, strategy);
    int first = 1;
    for (size_t i = 0; i < n && i < 64; i++) {
        size_t len = strlen(c[i].name);
        if (len > 3 && !strcmp(c[i].name + len - 3, "_ns")) continue;
        printf("%s\"%s\":[%llu,%llu]", first ? "" : ",", c[i].name, (unsigned long long)c[i].nonfinal,
               (unsigned long long)c[i].final);
        first = 0;
    }
    printf("},\"states\":{");
    first = 1;
    for (int k = 0; k < SEED_KINDS; k++)
        for (uint32_t v = 0; v < tk_type_vtable_size(s.kinds[k]); v++)
            if (tk_type_virtual_method(s.kinds[k], v) != tk_type_virtual_method(s.shape, v))
                print_state(rt, tk_type_virtual_method(s.kinds[k], v), &first);
    print_state(rt, tk_type_virtual_method(s.shape, 2), &first);
    print_state(rt, tk_type_virtual_method(s.shape, 3), &first);
    print_state(rt, tk_type_nonvirtual_method(s.factory, 0), &first);
    printf("},\"calls\":%llu,\"hash\":\"%016llx\",\"wrong\":%llu}\n", (unsigned long long)s.calls,
           (unsigned long long)s.hash, (unsigned long long)s.wrong);
    seed_teardown(&s);
    tk_runtime_destroy(rt);
    return s.wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; tk_strategy_names[i]; i++) puts(tk_strategy_names[i]);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: tk-golden-scenarios STRATEGY TRACE_DIR | --list\n");
        return 2;
    }
    int status = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        int rc = run(argv[1], argv[2], &scenarios[i]);
        if (rc > status) status = rc;
        if (rc == 2) break;
    }
    fflush(stdout);
    return status;
}
