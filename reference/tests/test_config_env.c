/* reference/tests/test_config_env.c — configuration from the environment
 * and its error messages: an unknown TK_ variable shaped like a key is an
 * error that names it and, when one is close (a typo or two), the key it
 * probably meant (README "Configuration"; SPEC.md "unknown TK_ variables");
 * a strategy index past the table is refused with the allowed range; the
 * documented defaults.
 *
 * Every test restores the environment it changed: under CK_FORK=no (arm64,
 * qemu) the tests share one process. */
#include "reftest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets NAME=VALUE, reads the configuration from the environment, unsets
 * NAME; returns tk_config_from_env's result, the message in err. */
static int from_env_with(const char *name, const char *value, char *err, size_t errlen)
{
    tk_config c;
    tk_config_defaults(&c);
    err[0] = 0;
    setenv(name, value, 1);
    int rc = tk_config_from_env(&c, err, errlen);
    unsetenv(name);
    return rc;
}

START_TEST(env_unknown_key_named_with_closest_key)
{
    char err[1024];
    /* one letter missing (an insertion away from the key) */
    ck_assert_int_eq(from_env_with("TK_Strtegy", "lazy", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "TK_Strtegy") && strstr(err, "did you mean TK_Strategy?"), "message: %s", err);
    /* two edits away from a short key is still "close" */
    ck_assert_int_eq(from_env_with("TK_Strtgy", "lazy", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "did you mean TK_Strategy?"), "message: %s", err);
    /* one substitution in a long key */
    ck_assert_int_eq(from_env_with("TK_CallCountThreshald", "5", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "did you mean TK_CallCountThreshold?"), "message: %s", err);
    /* a CamelCase name close to nothing: an error without a guess */
    ck_assert_int_eq(from_env_with("TK_Zebra", "1", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "TK_Zebra") && !strstr(err, "did you mean"), "message: %s", err);
    /* the keys themselves are accepted */
    ck_assert_int_eq(from_env_with("TK_Strategy", "lazy", err, sizeof err), 0);
    ck_assert_int_eq(from_env_with("TK_CallCountThreshold", "5", err, sizeof err), 0);
}
END_TEST

/* The "did you mean" rule of SPEC.md "Configuration keys", checked on a
 * table of names against an independent edit distance: the suggestion is
 * the key at the smallest case-insensitive Levenshtein distance from the
 * name after TK_ (insertions, deletions and substitutions cost 1), the
 * first in the keys list on a tie, offered only when at most
 * max(2, len/4) edits away (len: the name's length after TK_); the name is
 * an error when it gets a suggestion or has a lower-case letter, otherwise
 * a warning (rc 0).  Names: every key with one character deleted,
 * inserted, substituted or case-flipped at its start, middle and end, two
 * edits, and empty, one-letter and unrelated names. */
static size_t lev(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* The keys, as the error message lists them ("(keys: TK_A, TK_B, ...)"). */
static int keys_from_message(const char *err, char keys[][64], int cap)
{
    const char *p = strstr(err, "(keys: ");
    ck_assert_msg(p != NULL, "no key list in: %s", err);
    p += 7;
    int n = 0;
    while (n < cap && !strncmp(p, "TK_", 3)) {
        p += 3;
        size_t l = strcspn(p, ",)");
        ck_assert_uint_lt(l, 63);
        memcpy(keys[n], p, l);
        keys[n++][l] = 0;
        p += l;
        if (*p == ',') p += 2;
    }
    return n;
}

static void check_suggestion(const char *key_part, char keys[][64], int nkeys)
{
    char name[96], err[2048], want[128];
    snprintf(name, sizeof name, "TK_%s", key_part);
    for (int i = 0; i < nkeys; i++)
        if (!strcmp(key_part, keys[i])) return;  /* a key itself: accepted, not this rule */
    size_t len = strlen(key_part), bound = len / 4 > 2 ? len / 4 : 2, bd = (size_t)-1;
    const char *best = NULL;
    for (int i = 0; i < nkeys; i++) {
        size_t d = lev(key_part, keys[i]);
        if (d < bd) { bd = d; best = keys[i]; }
    }
    if (bd > bound) best = NULL;
    int camel = 0;
    for (const char *c = key_part; *c; c++) camel |= islower((unsigned char)*c) != 0;
    int rc = from_env_with(name, "1", err, sizeof err);
    ck_assert_msg(rc == (best || camel ? -1 : 0), "%s: tk_config_from_env returned %d (%s), want %d", name, rc, err,
                  best || camel ? -1 : 0);
    if (rc == 0) return;
    const char *got = strstr(err, "did you mean TK_");
    if (!best) {
        ck_assert_msg(got == NULL, "%s: no key is within %zu edits (closest: %zu), yet: %s", name, bound, bd, err);
        return;
    }
    snprintf(want, sizeof want, "did you mean TK_%s?", best);
    ck_assert_msg(got && !strncmp(got, want, strlen(want)), "%s: want \"%s\" (%zu edits), got: %s", name, want, bd,
                  err);
}

START_TEST(env_suggestion_is_the_closest_key)
{
    char err[2048], keys[32][64];
    ck_assert_int_eq(from_env_with("TK_Zebra", "1", err, sizeof err), -1);
    int nkeys = keys_from_message(err, keys, 32);
    ck_assert_int_ge(nkeys, 10);
    static const char *const odd[] = { "", "A", "a", "Zz", "Mode", "mode", "MODE", "Mod", "Moe", "Xode",
                                       "Trace", "Tracex", "Trce", "racer", "Delay", "Threshold", "CallCount",
                                       "TieredPgo", "TieredPGO2", "PROCESSORCOUNT", "processor_count", "Qwertyuiop",
                                       "StrategyStrategy", "Stratgey", "eTsrategy", NULL };
    for (int i = 0; odd[i]; i++) check_suggestion(odd[i], keys, nkeys);
    for (int k = 0; k < nkeys; k++) {
        const char *key = keys[k];
        size_t l = strlen(key);
        size_t pos[3] = { 0, l / 2, l - 1 };
        char v[80];
        for (int p = 0; p < 3; p++) {
            size_t at = pos[p];
            /* deletion */
            snprintf(v, sizeof v, "%.*s%s", (int)at, key, key + at + 1);
            check_suggestion(v, keys, nkeys);
            /* insertion before `at`, and after the end */
            snprintf(v, sizeof v, "%.*sq%s", (int)at, key, key + at);
            check_suggestion(v, keys, nkeys);
            snprintf(v, sizeof v, "%sQ", key);
            check_suggestion(v, keys, nkeys);
            /* substitution, case flip */
            snprintf(v, sizeof v, "%s", key);
            v[at] = v[at] == 'x' ? 'y' : 'x';
            check_suggestion(v, keys, nkeys);
            snprintf(v, sizeof v, "%s", key);
            v[at] = (char)(isupper((unsigned char)v[at]) ? tolower((unsigned char)v[at]) : toupper((unsigned char)v[at]));
            check_suggestion(v, keys, nkeys);
            /* two edits: delete at `at` and substitute the first character */
            snprintf(v, sizeof v, "%.*s%s", (int)at, key, key + at + 1);
            v[0] = v[0] == 'z' ? 'w' : 'z';
            check_suggestion(v, keys, nkeys);
        }
        /* prefix and suffix of the key */
        snprintf(v, sizeof v, "%.*s", (int)(l - 2), key);
        check_suggestion(v, keys, nkeys);
        check_suggestion(key + 2, keys, nkeys);
    }
}
END_TEST

/* A variable name longer than the 127 characters the check keeps is named
 * by its first 127 characters, never read or written past them. */
START_TEST(env_long_unknown_name_truncated)
{
    char name[160], err[1024], want[140];
    memset(name, 'z', sizeof name);
    memcpy(name, "TK_Zz", 5);
    name[127] = 'Q';                     /* the 128th character: cut off */
    name[128] = 0;
    ck_assert_int_eq(from_env_with(name, "1", err, sizeof err), -1);
    snprintf(want, sizeof want, "%.127s:", name);
    ck_assert_msg(strstr(err, want) != NULL, "the message does not name the first 127 characters then ':': %s", err);
    ck_assert_msg(strchr(err, 'Q') == NULL, "the message names more than 127 characters of the name: %s", err);
}
END_TEST

/* A strategy index past the registry is refused, naming the valid range. */
START_TEST(runtime_create_names_strategy_range)
{
    char err[512], want[64];
    size_t n = tk_strategy_count();
    tk_config c;
    tk_config_defaults(&c);
    c.strategy = (tk_strategy)n;
    ck_assert_ptr_null(tk_runtime_create(&c, err, sizeof err));
    snprintf(want, sizeof want, "(allowed: 0..%zu)", n - 1);
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in: %s", want, err);
}
END_TEST

/* The defaults are SPEC.md's "Configuration keys" table (those the units
 * test does not check already): BackgroundWorkerTimeoutMs is 4000 ms, as
 * CoreCLR's TC_BackgroundWorkerTimeoutMs. */
START_TEST(config_default_worker_timeout)
{
    tk_config c;
    tk_config_defaults(&c);
    ck_assert_uint_eq(c.worker_timeout_ms, 4000);
}
END_TEST

/* The effective configuration that results record (README "Configuration":
 * every result records it) is the configuration set: every key set to a
 * value other than its default is described as exactly that value, one
 * "Key=value" line each, and the description of a default configuration
 * differs on every one of those lines. */
START_TEST(config_describe_shows_what_was_set)
{
    static const char *const kv[][2] = {
        { "Strategy", "entry-cell" }, { "CallCountThreshold", "7" }, { "CallCountingDelayMs", "33" },
        { "TieredPGO", "0" }, { "TieredCompilation", "0" }, { "DeleteCallCountingStubsAfter", "3" },
        { "Mode", "deterministic" }, { "CompileCostUs", "5" }, { "Trace", "/tmp/tk-describe.jsonl" },
        { "BackgroundWorkerTimeoutMs", "77" }, { "CallCountingStubDeletion", "inactive" },
        { "CallCountThresholdClamp", "1" }, { "DelaySingleProcMultiplier", "3" },
        { "AggressiveTiering", "1" }, { "PROCESSOR_COUNT", "5" },
    };
    char err[256], set[2048], dflt[2048], line[320];
    tk_config c, d;
    tk_config_defaults(&c);
    tk_config_defaults(&d);
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
        ck_assert_msg(tk_config_set(&c, kv[k][0], kv[k][1], err, sizeof err) == 0, "%s=%s: %s", kv[k][0], kv[k][1], err);
    ck_assert_uint_lt(tk_config_describe(&c, set, sizeof set), sizeof set);
    ck_assert_uint_lt(tk_config_describe(&d, dflt, sizeof dflt), sizeof dflt);
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
        /* "\nKey=value\n", matched against "\n" + description: a whole line */
        snprintf(line, sizeof line, "\n%s=%s\n", kv[k][0], kv[k][1]);
        char whole[2100];
        snprintf(whole, sizeof whole, "\n%s", set);
        ck_assert_msg(strstr(whole, line) != NULL, "described configuration lacks '%s=%s':\n%s", kv[k][0], kv[k][1], set);
        snprintf(whole, sizeof whole, "\n%s", dflt);
        ck_assert_msg(strstr(whole, line) == NULL, "the default configuration is also described as '%s=%s'",
                      kv[k][0], kv[k][1]);
    }
}
END_TEST

TCase *tcase_config_env(void)
{
    TCase *tc = tcase_create("config_env");
    tcase_add_test(tc, env_unknown_key_named_with_closest_key);
    tcase_add_test(tc, env_suggestion_is_the_closest_key);
    tcase_add_test(tc, env_long_unknown_name_truncated);
    tcase_add_test(tc, runtime_create_names_strategy_range);
    tcase_add_test(tc, config_default_worker_timeout);
    tcase_add_test(tc, config_describe_shows_what_was_set);
    return tc;
}
