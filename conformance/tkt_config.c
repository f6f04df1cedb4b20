/* conformance/tkt_config.c — the runner's base configuration merged with a
 * test's own keys, runtime creation, and what the effective configuration
 * says (strategy, whether it tiers). */
#include "tkt.h"
#include "tkt_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- base configuration (--config) --------------------------------------------- */
static const char *base_cfg[64];
static size_t nbase;

void tkt_set_base_config(const char *const *kv, size_t n)
{
    nbase = 0;
    for (size_t i = 0; i < n && nbase < 63; i++) base_cfg[nbase++] = kv[i];
    base_cfg[nbase] = NULL;
}

const char *tkt_base_config(const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < nbase; i++)
        if (!strncmp(base_cfg[i], key, kl) && base_cfg[i][kl] == '=') return base_cfg[i] + kl + 1;
    return NULL;
}

/* ---- runtimes ------------------------------------------------------------------------------ */
static char merged_strategy[64];

/* The test's keys, then the runner's base keys the test does not set, into
 * cfg (NULL-terminated); returns the count.  Checks what the driver
 * declares it lacks (a Strategy it does not list, a Mode without its
 * capability): UNSUPPORTED. */
static size_t merge_config(const char *const *keys, const char **cfg)
{
    size_t n = 0;
    for (size_t i = 0; keys[i] && n < 100; i++) cfg[n++] = keys[i];
    for (size_t i = 0; i < nbase && n < 126; i++) {
        const char *eq = strchr(base_cfg[i], '=');
        size_t kl = eq ? (size_t)(eq - base_cfg[i]) : strlen(base_cfg[i]);
        int dup = 0;
        for (size_t j = 0; keys[j]; j++)
            if (!strncmp(keys[j], base_cfg[i], kl) && keys[j][kl] == '=') dup = 1;
        if (!dup) cfg[n++] = base_cfg[i];
    }
    cfg[n] = NULL;
    merged_strategy[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (!strncmp(cfg[i], "Strategy=", 9)) snprintf(merged_strategy, sizeof merged_strategy, "%s", cfg[i] + 9);
    if (merged_strategy[0] && D->strategies && D->strategies[0]) {
        int found = 0;
        for (const char *const *s = D->strategies; *s; s++)
            if (!strcmp(*s, merged_strategy)) found = 1;
        if (!found) tkt_unsupported("driver does not offer Strategy=%s", merged_strategy);
    }
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(cfg[i], "Mode=deterministic")) tkt_require_caps(TK_CAP_DETERMINISTIC);
        if (!strcmp(cfg[i], "Mode=threaded")) tkt_require_caps(TK_CAP_THREADED);
    }
    return n;
}

tk_drv_runtime *tkt_try_create_v(const char *const *keys, char *err, size_t errlen)
{
    const char *cfg[128];
    merge_config(keys, cfg);
    if (err && errlen) err[0] = 0;
    return D->create(cfg, err, errlen);
}

tk_drv_runtime *tkt_create_v(const char *const *keys)
{
    const char *cfg[128];
    size_t n = merge_config(keys, cfg);
    char err[512] = "";
    tk_drv_runtime *rt = D->create(cfg, err, sizeof err);
    if (!rt) {
        char all[1024] = "";
        for (size_t i = 0; i < n; i++) {
            strncat(all, cfg[i], sizeof all - strlen(all) - 2);
            strncat(all, " ", sizeof all - strlen(all) - 1);
        }
        tkt_fail("create() rejected the configuration [%s]: %s", all, err[0] ? err : "(no message)");
    }
    return rt;
}

int tkt_has_config_key(const char *key)
{
    if (TK_DRIVER_HAS(D, config_keys) && D->config_keys)
        for (const char *const *k = D->config_keys; *k; k++)
            if (!strcmp(*k, key)) return 1;
    return 0;
}

void tkt_require_config_key(const char *key)
{
    if (tkt_has_config_key(key)) return;
    tkt_unsupported("driver does not list the optional configuration key %s (tk_driver.config_keys)", key);
}

void tkt_destroy(tk_drv_runtime *rt)
{
    if (rt) D->destroy(rt);
}

const char *tkt_config_value(tk_drv_runtime *rt, const char *key)
{
    static char buf[8192], val[256];
    if (!D->describe_config) return NULL;
    size_t l = D->describe_config(rt, buf, sizeof buf);
    if (l >= sizeof buf) l = sizeof buf - 1;
    buf[l] = 0;
    size_t kl = strlen(key);
    for (char *p = buf; p && *p;) {
        char *nl = strchr(p, '\n');
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t vl = nl ? (size_t)(nl - p - kl - 1) : strlen(p + kl + 1);
            if (vl >= sizeof val) vl = sizeof val - 1;
            memcpy(val, p + kl + 1, vl);
            val[vl] = 0;
            while (vl && (val[vl - 1] == '\r' || val[vl - 1] == ' ')) val[--vl] = 0;
            return val;
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

const char *tkt_strategy(tk_drv_runtime *rt)
{
    static char s[64];
    const char *v = rt ? tkt_config_value(rt, "Strategy") : NULL;
    if (!v || !*v) v = merged_strategy[0] ? merged_strategy : "default";
    snprintf(s, sizeof s, "%s", v);
    return s;
}

int tkt_tiers(tk_drv_runtime *rt)
{
    /* Copy: tkt_config_value returns a buffer the next lookup overwrites. */
    char tc[16] = "";
    const char *v = tkt_config_value(rt, "TieredCompilation");
    if (v) snprintf(tc, sizeof tc, "%s", v);
    return strcmp(tkt_strategy(rt), "notier") && strcmp(tc, "0") && strcmp(tc, "false");
}

void tkt_require_tiering(tk_drv_runtime *rt)
{
    if (!tkt_tiers(rt))
        tkt_unsupported("the runtime does not tier (Strategy=%s, or TieredCompilation=0)", tkt_strategy(rt));
}

int tkt_backpatches_slots(tk_drv_runtime *rt)
{
    const char *st = tkt_strategy(rt);
    return !strcmp(st, "forwarder") || !strcmp(st, "precode-reuse") || !strcmp(st, "lazy") ||
           !strcmp(st, "notier") || !strcmp(st, "eager-final");
}

