/* conformance/tests/test_config_values.c — the standard configuration
 * keys accept exactly their documented values, and the runtime describes
 * the value it was given (`inv.config.standard-values`): both ends of each
 * range and a value between are accepted and read back from
 * describe_config; one past each end, a sign, a suffix, an empty value
 * and a word are refused with a message naming the key. */
#include "fixture.h"

#include <sched.h>

typedef struct {
    const char *key;
    const char *accept[6];        /* NULL-terminated; described as given   */
    const char *accept_as[3][2];  /* value, its described form             */
    const char *refuse[8];        /* NULL-terminated                       */
} cv_key;

/* SPEC.md "Configuration keys" (the standard keys of conformance/tk_driver.h). */
static const cv_key cv_keys[] = {
    { "CallCountThreshold", { "1", "30", "65535", NULL }, { { NULL, NULL } },
      { "0", "65536", "-1", "+5", "5x", "", "many", NULL } },
    { "CallCountingDelayMs", { "0", "100", "3600000", NULL }, { { NULL, NULL } },
      { "3600001", "-1", "1e3", "", "soon", NULL } },
    { "TieredPGO", { "0", "1", NULL }, { { "true", "1" }, { "false", "0" }, { NULL, NULL } },
      { "2", "-1", "yes", "", NULL } },
    { "TieredCompilation", { "0", "1", NULL }, { { "true", "1" }, { "false", "0" }, { NULL, NULL } },
      { "2", "on", "", NULL } },
    { "DeleteCallCountingStubsAfter", { "0", "1", "1000000000", NULL }, { { NULL, NULL } },
      { "1000000001", "-1", "", "never", NULL } },
    { "CompileCostUs", { "0", "250", "10000000", NULL }, { { NULL, NULL } },
      { "10000001", "-5", "", "x", NULL } },
    { "BackgroundWorkerTimeoutMs", { "1", "4000", "3600000", NULL }, { { NULL, NULL } },
      { "0", "3600001", "", "forever", NULL } },
    { "Mode", { "deterministic", "threaded", NULL }, { { NULL, NULL } }, { "", "Deterministic", "fast", NULL } },
};

/* Creates a runtime with key=value (deterministic unless the key is Mode)
 * and checks describe_config reads back `as`. */
static void cv_accepts(const char *key, const char *value, const char *as)
{
    char kv[128], err[512] = "";
    snprintf(kv, sizeof kv, "%s=%s", key, value);
    tk_drv_runtime *rt = strcmp(key, "Mode") ? tkt_try_create(err, sizeof err, "Mode=deterministic", kv)
                                             : tkt_try_create(err, sizeof err, kv);
    ck_assert_msg(rt != NULL, "inv.config.standard-values: create() refused %s (documented as allowed): %s", kv, err);
    const char *got = D->describe_config ? tkt_config_value(rt, key) : as;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", got ? got : "(not described)");
    /* A runtime that never tiers describes its effective TieredCompilation=0
     * (SPEC.md: describe_config gives the effective configuration). */
    int never_tiers = !strcmp(key, "TieredCompilation") && !strcmp(copy, "0") && !tkt_tiers(rt);
    tkt_destroy(rt);
    if (never_tiers) return;
    ck_assert_msg(got && !strcmp(copy, as),
                  "inv.config.standard-values: a runtime created with %s describes %s=%s (expected %s)", kv, key, copy,
                  as);
}

static void cv_refuses(const char *key, const char *value)
{
    char kv[128], err[512] = "";
    snprintf(kv, sizeof kv, "%s=%s", key, value);
    tk_drv_runtime *rt = tkt_try_create(err, sizeof err, "Mode=deterministic", kv);
    if (rt) {
        tkt_destroy(rt);
        tkt_fail("inv.config.standard-values: create() accepted %s (outside the documented values)", kv);
    }
    ck_assert_msg(strstr(err, key) != NULL, "inv.config.standard-values: create() refused %s with a message that "
                  "does not name the key: %s", kv, err);
}

TK_TEST(config_standard_values, "inv.config.standard-values", "inv.abi.reject-cleanly")
{
    for (size_t k = 0; k < sizeof cv_keys / sizeof cv_keys[0]; k++) {
        const cv_key *c = &cv_keys[k];
        for (size_t i = 0; c->accept[i]; i++) cv_accepts(c->key, c->accept[i], c->accept[i]);
        for (size_t i = 0; c->accept_as[i][0]; i++) cv_accepts(c->key, c->accept_as[i][0], c->accept_as[i][1]);
        for (size_t i = 0; c->refuse[i]; i++) cv_refuses(c->key, c->refuse[i]);
    }
    /* Every strategy the driver lists, and nothing else. */
    for (size_t i = 0; D->strategies && D->strategies[i]; i++) cv_accepts("Strategy", D->strategies[i], D->strategies[i]);
    /* (straight to create(): the runner's helper takes an unlisted
     * strategy for a design the driver lacks) */
    const char *bad[][3] = { { "Mode=deterministic", "Strategy=no-such-design", NULL },
                             { "Mode=deterministic", "Strategy=", NULL } };
    for (size_t i = 0; i < 2; i++) {
        char err[512] = "";
        tk_drv_runtime *rt = D->create(bad[i], err, sizeof err);
        if (rt) {
            D->destroy(rt);
            tkt_fail("inv.config.standard-values: create() accepted %s", bad[i][1]);
        }
        ck_assert_msg(strstr(err, "Strategy") != NULL,
                      "inv.config.standard-values: create() refused %s with a message that does not name the key: %s",
                      bad[i][1], err);
    }
}

/* With the optional CallCountThresholdClamp (inv.config.threshold-clamp),
 * the ends of the clamping, read back from the description. */
TK_TEST(config_threshold_clamp_values, "inv.config.standard-values", "inv.config.threshold-clamp")
{
    tkt_require_config_key("CallCountThresholdClamp");
    const char *v[][2] = { { "0", "1" }, { "1", "1" }, { "2", "2" }, { "65534", "65534" }, { "65535", "65535" },
                           { "65536", "65535" }, { "4294967295", "65535" } };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char kv[64], err[512] = "";
        snprintf(kv, sizeof kv, "CallCountThreshold=%s", v[i][0]);
        tk_drv_runtime *rt = tkt_try_create(err, sizeof err, "Mode=deterministic", "CallCountThresholdClamp=1", kv);
        ck_assert_msg(rt != NULL, "inv.config.threshold-clamp: create() refused %s with the clamp: %s", kv, err);
        const char *got = tkt_config_value(rt, "CallCountThreshold");
        char copy[64];
        snprintf(copy, sizeof copy, "%s", got ? got : "(not described)");
        tkt_destroy(rt);
        ck_assert_msg(!strcmp(copy, v[i][1]), "inv.config.threshold-clamp: %s with the clamp describes "
                      "CallCountThreshold=%s (expected %s)", kv, copy, v[i][1]);
    }
    char err[512] = "";
    tk_drv_runtime *rt = tkt_try_create(err, sizeof err, "Mode=deterministic", "CallCountThresholdClamp=1",
                                        "CallCountThreshold=4294967296");
    if (rt) {
        tkt_destroy(rt);
        tkt_fail("inv.config.threshold-clamp: create() accepted CallCountThreshold=4294967296 (beyond 32 bits)");
    }
}

/* Feeding a runtime's description back into create() gives the same
 * description (every key it describes, extensions included). */
TK_TEST(config_describe_round_trip, "inv.config.standard-values")
{
    if (!D->describe_config) tkt_unsupported("the driver has no describe_config");
    static const char *const variants[][5] = {
        { "Mode=deterministic", NULL },
        { "Mode=deterministic", "TieredPGO=false", "DeleteCallCountingStubsAfter=7", NULL },
        { "Mode=deterministic", "CallCountThreshold=65535", "CompileCostUs=3", "TieredCompilation=true", NULL },
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        tk_drv_runtime *rt = tkt_create_v(variants[v]);
        char first[4096], second[4096];
        size_t l = D->describe_config(rt, first, sizeof first);
        first[l < sizeof first ? l : sizeof first - 1] = 0;
        tkt_destroy(rt);
        /* The description as a configuration array ("Trace=" with no
         * path: no trace, left out). */
        char copy[4096];
        const char *cfg[64];
        size_t n = 0;
        snprintf(copy, sizeof copy, "%s", first);
        for (char *line = strtok(copy, "\n"); line && n < 63; line = strtok(NULL, "\n"))
            if (strchr(line, '=') && strcmp(line, "Trace=")) cfg[n++] = line;
        cfg[n] = NULL;
        char err[512] = "";
        tk_drv_runtime *again = D->create(cfg, err, sizeof err);
        ck_assert_msg(again != NULL, "inv.config.standard-values: create() refused its own description (%s)", err);
        l = D->describe_config(again, second, sizeof second);
        second[l < sizeof second ? l : sizeof second - 1] = 0;
        D->destroy(again);
        for (char *p = first; *p; p++) *p = *p == '\n' ? ' ' : *p;     /* one-line messages */
        for (char *p = second; *p; p++) *p = *p == '\n' ? ' ' : *p;
        ck_assert_msg(!strcmp(first, second),
                      "inv.config.standard-values: a runtime created from its description [%s] describes [%s]", first,
                      second);
    }
}

/* Without PROCESSOR_COUNT, a threaded runtime counts the CPUs of the
 * creating thread's affinity mask, as CoreCLR's GetCurrentProcessCpuCount
 * does: one CPU multiplies the delay, two do not. */
static void cv_affinity_case(const cpu_set_t *mask, const char *count, const char *delay)
{
    ck_assert_msg(sched_setaffinity(0, sizeof *mask, mask) == 0, "sched_setaffinity failed");
    char err[512] = "";
    tk_drv_runtime *rt = tkt_try_create(err, sizeof err, "Mode=threaded", "CallCountingDelayMs=100",
                                        "DelaySingleProcMultiplier=10");
    ck_assert_msg(rt != NULL, "create() failed: %s", err);
    char got_count[64], got_delay[64];
    const char *v = tkt_config_value(rt, "PROCESSOR_COUNT");
    snprintf(got_count, sizeof got_count, "%s", v ? v : "(not described)");
    v = tkt_config_value(rt, "CallCountingDelayMs");
    snprintf(got_delay, sizeof got_delay, "%s", v ? v : "(not described)");
    tkt_destroy(rt);
    ck_assert_msg(!strcmp(got_count, count) && !strcmp(got_delay, delay),
                  "inv.config.processor-count: created on an affinity mask of %d CPU(s), the runtime describes "
                  "PROCESSOR_COUNT=%s and CallCountingDelayMs=%s (expected %s and %s)",
                  CPU_COUNT(mask), got_count, got_delay, count, delay);
}

TK_TEST_F(config_processor_count_affinity, TKT_THREADED, "inv.config.processor-count",
          "inv.config.single-proc-delay")
{
    tkt_require_caps(TK_CAP_THREADED);
    tkt_require_config_key("PROCESSOR_COUNT");
    tkt_require_config_key("DelaySingleProcMultiplier");
    cpu_set_t all, one, two;
    ck_assert_msg(sched_getaffinity(0, sizeof all, &all) == 0, "sched_getaffinity failed");
    CPU_ZERO(&one);
    CPU_ZERO(&two);
    int first = -1, second = -1;
    for (int c = 0; c < CPU_SETSIZE && second < 0; c++)
        if (CPU_ISSET(c, &all)) { if (first < 0) first = c; else second = c; }
    CPU_SET(first, &one);
    cv_affinity_case(&one, "1", "1000");
    if (second >= 0) {
        CPU_SET(first, &two);
        CPU_SET(second, &two);
        cv_affinity_case(&two, "2", "100");
    } else {
        tkt_note("one CPU in this process's mask: the two-CPU case was not run");
    }
    sched_setaffinity(0, sizeof all, &all);
}
