/* reference/config.c — configuration keys (CoreCLR names, TK_<Key> env).
 * Every rejected value gets a message naming key, value and allowed range
 * (SPEC `cfg.reject`). */
#include "strategy.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* tk_strategy_names is defined with the designs' table
 * (reference/strategies/registry.c). */
const char *tk_strategy_name(tk_strategy s)
{
    return (size_t)s < tkr_strategy_table_len ? tk_strategy_names[s] : "?";
}

size_t tk_strategy_count(void) { return tkr_strategy_table_len; }

void tk_config_defaults(tk_config *c)
{
    memset(c, 0, sizeof *c);
    c->call_count_threshold = 30;
    c->call_counting_delay_ms = 100;
    c->tiered_pgo = true;
    c->tiered_compilation = true;
    c->delete_stubs_after = 0;
    c->strategy = TK_STRATEGY_LAZY;
    c->mode = TK_MODE_THREADED;
    c->compile_cost_us = 0;
    c->worker_timeout_ms = 4000;
    c->delay_single_proc_multiplier = 10;   /* CoreCLR release default */
}

static int fail(char *err, size_t errlen, const char *key, const char *value, const char *allowed)
{
    if (err && errlen)
        snprintf(err, errlen, "config: invalid value '%s' for key %s (allowed: %s)",
                 value ? value : "(null)", key, allowed);
    return -1;
}

static int parse_u(const char *v, uint64_t lo, uint64_t hi, uint32_t *out)
{
    if (!v || !*v) return -1;
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    unsigned long long x = strtoull(v, NULL, 10);
    if (errno || x < lo || x > hi) return -1;
    *out = (uint32_t)x;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!v) return -1;
    if (!strcmp(v, "1") || !strcasecmp(v, "true")) { *out = true; return 0; }
    if (!strcmp(v, "0") || !strcasecmp(v, "false")) { *out = false; return 0; }
    return -1;
}

int tk_config_set(tk_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    uint32_t u;
    bool b;
    if (!key) return fail(err, errlen, "(null)", value, "a known key");
    if (!strcmp(key, "CallCountThreshold")) {
        /* CoreCLR (src/coreclr/vm/eeconfig.cpp, EEConfig::sync) clamps 0 to
         * 1 and anything above 65535 to 65535; tierkit rejects them unless
         * CallCountThresholdClamp=1 asks for CoreCLR's behaviour: a typo
         * should not silently change an experiment. */
        if (c->threshold_clamp) {
            if (parse_u(value, 0, UINT32_MAX, &u))
                return fail(err, errlen, key, value, "0..4294967295, clamped to 1..65535 (CallCountThresholdClamp=1)");
            u = u < 1 ? 1 : u > 65535 ? 65535 : u;
        } else if (parse_u(value, 1, 65535, &u)) {
            return fail(err, errlen, key, value, "1..65535; CallCountThresholdClamp=1 clamps as CoreCLR does");
        }
        c->call_count_threshold = u;
    } else if (!strcmp(key, "CallCountThresholdClamp")) {
        if (parse_bool(value, &b)) return fail(err, errlen, key, value, "0|1|true|false");
        c->threshold_clamp = b;
    } else if (!strcmp(key, "DelaySingleProcMultiplier")) {
        if (parse_u(value, 0, UINT32_MAX, &u))
            return fail(err, errlen, key, value, "0..4294967295 (0 and 1: no multiplier)");
        c->delay_single_proc_multiplier = u;
    } else if (!strcmp(key, "AggressiveTiering")) {
        if (parse_bool(value, &b)) return fail(err, errlen, key, value, "0|1|true|false");
        c->aggressive_tiering = b;
    } else if (!strcmp(key, "PROCESSOR_COUNT")) {
        if (parse_u(value, 0, 65535, &u)) return fail(err, errlen, key, value, "0..65535 (0: the affinity mask's CPUs)");
        c->processor_count = u;
    } else if (!strcmp(key, "CallCountingDelayMs")) {
        if (parse_u(value, 0, 3600000, &u)) return fail(err, errlen, key, value, "0..3600000");
        c->call_counting_delay_ms = u;
    } else if (!strcmp(key, "TieredPGO")) {
        if (parse_bool(value, &b)) return fail(err, errlen, key, value, "0|1|true|false");
        c->tiered_pgo = b;
    } else if (!strcmp(key, "TieredCompilation")) {
        if (parse_bool(value, &b)) return fail(err, errlen, key, value, "0|1|true|false");
        c->tiered_compilation = b;
    } else if (!strcmp(key, "DeleteCallCountingStubsAfter")) {
        if (parse_u(value, 0, 1000000000, &u)) return fail(err, errlen, key, value, "0..1000000000 (0 = never)");
        c->delete_stubs_after = u;
    } else if (!strcmp(key, "CallCountingStubDeletion")) {
        if (value && !strcmp(value, "all")) c->stub_deletion = TK_STUB_DELETION_ALL;
        else if (value && !strcmp(value, "inactive")) c->stub_deletion = TK_STUB_DELETION_INACTIVE;
        else return fail(err, errlen, key, value, "all|inactive");
    } else if (!strcmp(key, "Strategy")) {
        int i;
        for (i = 0; tk_strategy_names[i]; i++)
            if (value && !strcmp(value, tk_strategy_names[i])) break;
        if (!tk_strategy_names[i]) {
            char allowed[512] = "";
            for (int k = 0; tk_strategy_names[k]; k++)
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", k ? "|" : "",
                         tk_strategy_names[k]);
            return fail(err, errlen, key, value, allowed);
        }
        c->strategy = (tk_strategy)i;
    } else if (!strcmp(key, "Mode")) {
        if (value && !strcmp(value, "deterministic")) c->mode = TK_MODE_DETERMINISTIC;
        else if (value && !strcmp(value, "threaded")) c->mode = TK_MODE_THREADED;
        else return fail(err, errlen, key, value, "deterministic|threaded");
    } else if (!strcmp(key, "CompileCostUs")) {
        if (parse_u(value, 0, 10000000, &u)) return fail(err, errlen, key, value, "0..10000000");
        c->compile_cost_us = u;
    } else if (!strcmp(key, "Trace")) {
        if (!value || strlen(value) >= sizeof c->trace_path)
            return fail(err, errlen, key, value, "a path shorter than 512 bytes");
        strcpy(c->trace_path, value);
    } else if (!strcmp(key, "BackgroundWorkerTimeoutMs")) {
        if (parse_u(value, 1, 3600000, &u)) return fail(err, errlen, key, value, "1..3600000");
        c->worker_timeout_ms = u;
    } else {
        if (err && errlen)
            snprintf(err, errlen, "config: unknown key %s (value '%s')", key, value ? value : "(null)");
        return -1;
    }
    return 0;
}

/* Every key, in the order tk_config_from_env applies them: the clamp before
 * the threshold it governs. */
static const char *const env_keys[] = {
    "CallCountThresholdClamp", "CallCountThreshold", "CallCountingDelayMs", "TieredPGO", "TieredCompilation",
    "DeleteCallCountingStubsAfter", "Strategy", "Mode", "CompileCostUs", "Trace",
    "BackgroundWorkerTimeoutMs", "CallCountingStubDeletion", "DelaySingleProcMultiplier", "AggressiveTiering",
    "PROCESSOR_COUNT", NULL
};

int tkr_config_key_first(const char *key)
{
    return !strcmp(key, "CallCountThresholdClamp");
}

/* TK_ variables that tierkit's tools (not the runtime) read: known, so not
 * reported.  Everything else under TK_ is a mistake worth a message: a
 * mistyped key would otherwise be silently ignored (CoreCLR ignores unknown
 * DOTNET_ variables; a test tool should not). */
static const char *const tool_vars[] = {
    "TK_WORKLOADS_DIR", "TK_CONFORM_KEEP_TRACE", "TK_RANDOM_PROGRAMS", "TK_RANDOM_SEEDS",
    "TK_RANDOM_DUMP", "TK_HANG_PIDFILE", NULL
};

/* Edit distance, capped: for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63) return 99;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

extern char **environ;

/* Unknown TK_ variables: a name shaped like a configuration key (TK_ then a
 * CamelCase word) is an error naming it and the closest key; any other
 * unknown TK_ name gets one warning on stderr per process. */
static int check_unknown_env(char *err, size_t errlen)
{
    static _Atomic int warned;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "TK_", 3)) continue;
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
        char name[128];
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, *e, n);
        name[n] = 0;
        int known = 0, camel = 0;
        for (int i = 0; env_keys[i] && !known; i++) known = !strcmp(name + 3, env_keys[i]);
        for (int i = 0; tool_vars[i] && !known; i++) known = !strcmp(name, tool_vars[i]);
        if (known) continue;
        for (const char *p = name + 3; *p; p++) camel |= islower((unsigned char)*p);
        const char *best = NULL;
        size_t len = strlen(name + 3), bd = (len / 4 > 2 ? len / 4 : 2) + 1;   /* close: a typo or two */
        for (int i = 0; env_keys[i]; i++) {
            size_t d = distance(name + 3, env_keys[i]);
            if (d < bd) { bd = d; best = env_keys[i]; }
        }
        char hint[160] = "";
        if (best) snprintf(hint, sizeof hint, "; did you mean TK_%s?", best);
        if (camel || best) {
            char keys[640] = "";
            for (int i = 0; env_keys[i]; i++)
                snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%sTK_%s", i ? ", " : "", env_keys[i]);
            if (err && errlen)
                snprintf(err, errlen, "environment variable %s: not a tierkit configuration key%s (keys: %s)", name,
                         hint, keys);
            return -1;
        }
        if (!atomic_exchange(&warned, 1))
            fprintf(stderr, "tierkit: warning: environment variable %s is not a tierkit configuration key "
                            "or tool variable; ignored\n", name);
    }
    return 0;
}

int tk_config_from_env(tk_config *c, char *err, size_t errlen)
{
    if (check_unknown_env(err, errlen)) return -1;
    char name[96];
    for (int i = 0; env_keys[i]; i++) {
        snprintf(name, sizeof name, "TK_%s", env_keys[i]);
        const char *v = getenv(name);
        if (!v) continue;
        /* Name the variable the user actually set, ahead of tk_config_set's
         * own message, which is written in place right after it: no
         * intermediate buffer, so a long value is quoted as far as the
         * caller's buffer allows (README "Reliability"). */
        size_t pre = 0;
        if (err && errlen) {
            int k = snprintf(err, errlen, "environment variable %s: ", name);
            pre = k < 0 ? 0 : (size_t)k < errlen ? (size_t)k : errlen - 1;
        }
        if (tk_config_set(c, env_keys[i], v, err ? err + pre : NULL, errlen - pre)) return -1;
        if (err && errlen) err[0] = 0;
    }
    return 0;
}

size_t tk_config_describe(const tk_config *c, char *buf, size_t len)
{
    int n = snprintf(buf, len,
        "Strategy=%s\nCallCountThreshold=%u\nCallCountingDelayMs=%u\nTieredPGO=%d\n"
        "TieredCompilation=%d\nDeleteCallCountingStubsAfter=%u\nMode=%s\nCompileCostUs=%u\n"
        "Trace=%s\nBackgroundWorkerTimeoutMs=%u\nCallCountingStubDeletion=%s\n"
        "CallCountThresholdClamp=%d\nDelaySingleProcMultiplier=%u\nAggressiveTiering=%d\nPROCESSOR_COUNT=%u\n",
        tk_strategy_name(c->strategy), c->call_count_threshold, c->call_counting_delay_ms,
        c->tiered_pgo, c->tiered_compilation, c->delete_stubs_after,
        c->mode == TK_MODE_THREADED ? "threaded" : "deterministic", c->compile_cost_us,
        c->trace_path, c->worker_timeout_ms, c->stub_deletion == TK_STUB_DELETION_INACTIVE ? "inactive" : "all",
        c->threshold_clamp, c->delay_single_proc_multiplier, c->aggressive_tiering, c->processor_count);
    return n < 0 ? 0 : (size_t)n;
}

/* CPUs this process may run on (CoreCLR's GetCurrentProcessCpuCount, in
 * src/coreclr/utilcode/util.cpp, reads the affinity mask; a CPU quota is
 * not taken into account here). */
static uint32_t detected_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return (uint32_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

/* The effective configuration of a runtime, as CoreCLR's EEConfig::sync
 * derives it (src/coreclr/vm/eeconfig.cpp), in its order: the processor
 * count (PROCESSOR_COUNT if set, as GetCurrentProcessCpuCount honours
 * DOTNET_PROCESSOR_COUNT), the delay multiplied by
 * DelaySingleProcMultiplier when that count is 1 and the multiplier is
 * above 1, unless the 32-bit product overflows; then AggressiveTiering:
 * threshold 1, delay 0.  (The threshold was clamped, or rejected, when it
 * was set.)  Deterministic mode does not look at the host: without
 * PROCESSOR_COUNT its count stays 0 (unknown, not one CPU), so a
 * deterministic run behaves the same on every machine. */
void tkr_config_effective(tk_config *c)
{
    if (!c->processor_count && c->mode == TK_MODE_THREADED) c->processor_count = detected_cpus();
    uint32_t mult = c->delay_single_proc_multiplier, d = c->call_counting_delay_ms;
    if (c->processor_count == 1 && mult > 1) {
        uint32_t nd = d * mult;
        if (nd / mult == d) c->call_counting_delay_ms = nd;
    }
    if (c->aggressive_tiering) {
        c->call_count_threshold = 1;
        c->call_counting_delay_ms = 0;
    }
}
