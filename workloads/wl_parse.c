/* workloads/wl_parse.c — the .wl workload file format: `key = value` lines,
 * `#` comments, comma-separated lists and distributions.  Every value is
 * validated on load; the first problem found is reported as
 *     FILE:LINE: key 'KEY': PROBLEM
 * Format reference: SPEC.md "Workloads". */
#include "workloads/wl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_STR, K_U64, K_INT, K_PPB, K_ZIPF, K_RANGE, K_DIST, K_BOOL, K_MODE, K_WARM,
               K_FACTOR } ktype;

typedef struct keydef {
    const char *name;
    ktype type;
    size_t off;
    int required;
    int64_t min, max;          /* INT / RANGE bounds; DIST label bounds      */
    const char *dflt;          /* default value text (parsed like the file)  */
} keydef;

#define OFF(f) offsetof(tk_wl_spec, f)
#define BIG INT64_C(100000000)

static const keydef KEYS[] = {
    {"name", K_STR, OFF(name), 1, 1, WL_NAME_MAX - 1, NULL},
    {"description", K_STR, OFF(description), 0, 0, 255, ""},
    {"seed", K_U64, OFF(seed), 1, 0, 0, NULL},
    {"mode", K_MODE, OFF(mode), 1, 0, 0, NULL},
    {"classes", K_INT, OFF(classes), 1, 1, 1000000, NULL},
    {"interfaces", K_INT, OFF(interfaces), 0, 0, 100000, "0"},
    {"interface_methods", K_INT, OFF(interface_methods), 0, 0, 256, "2"},
    {"root_virtuals", K_INT, OFF(root_virtuals), 0, 0, 256, "3"},
    {"derived_virtuals", K_INT, OFF(derived_virtuals), 0, 0, 256, "1"},
    {"nonvirtuals_per_type", K_INT, OFF(nonvirtuals_per_type), 0, 0, 256, "2"},
    {"depth", K_DIST, OFF(depth), 0, 1, WL_MAX_DEPTH, "1:1"},
    {"inherited_share", K_PPB, OFF(inherited_share_ppb), 0, 0, 0, "0.5"},
    {"interface_share", K_PPB, OFF(interface_share_ppb), 0, 0, 0, "0"},
    {"interfaces_per_class", K_RANGE, OFF(interfaces_per_class), 0, 1, 64, "1"},
    {"abstract_roots", K_BOOL, OFF(abstract_roots), 0, 0, 0, "no"},
    {"factory", K_BOOL, OFF(factory), 0, 0, 0, "no"},
    {"sites", K_INT, OFF(sites), 0, 1, 10000000, "100"},
    {"site_polymorphism", K_DIST, OFF(site_polymorphism), 0, 1, 100000, "1:1"},
    {"direct_call_share", K_PPB, OFF(direct_call_share_ppb), 0, 0, 0, "0"},
    {"interface_call_share", K_PPB, OFF(interface_call_share_ppb), 0, 0, 0, "0"},
    {"calls_per_method", K_RANGE, OFF(calls_per_method), 0, 0, 64, "1-3"},
    {"body_work", K_RANGE, OFF(body_work), 0, 0, 1000000, "20-60"},
    {"fanout_interfaces", K_INT, OFF(fanout_interfaces), 0, 0, 1000, "0"},
    {"fanout_receivers", K_RANGE, OFF(fanout_receivers), 0, 1, 100000, "20-60"},
    {"fanout_per_handler", K_RANGE, OFF(fanout_per_handler), 0, 0, 64, "0"},
    {"handlers", K_INT, OFF(handlers), 1, 1, 100000, NULL},
    {"handler_sites", K_INT, OFF(handler_sites), 0, 1, 1024, "4"},
    {"handler_zipf", K_ZIPF, OFF(handler_zipf_ppb), 0, 0, 0, "1.0"},
    {"calls_per_request", K_INT, OFF(calls_per_request), 1, 1, BIG, NULL},
    {"call_tree_budget", K_INT, OFF(call_tree_budget), 0, 1, BIG, "200"},
    {"threads", K_INT, OFF(threads), 0, 1, 1024, "4"},
    {"warmup_ms", K_INT, OFF(warmup_ms), 0, 0, 3600000, "2000"},
    {"measure_ms", K_INT, OFF(measure_ms), 0, 0, 3600000, "3000"},
    {"quiet_gap_ms", K_INT, OFF(quiet_gap_ms), 0, 0, 3600000, "0"},
    {"burst_ms", K_INT, OFF(burst_ms), 0, 0, 3600000, "0"},
    {"measure2_ms", K_INT, OFF(measure2_ms), 0, 0, 3600000, "0"},
    {"window_ms", K_INT, OFF(window_ms), 0, 10, 3600000, "1000"},
    {"burst_handlers", K_INT, OFF(burst_handlers), 0, 0, 100000, "0"},
    {"burst_classes", K_INT, OFF(burst_classes), 0, 0, 1000000, "0"},
    {"burst_share", K_PPB, OFF(burst_share_ppb), 0, 0, 0, "0.5"},
    {"det_rounds", K_INT, OFF(det_rounds), 0, 0, 100000, "10"},
    {"det_requests_per_round", K_INT, OFF(det_requests_per_round), 0, 1, BIG, "10"},
    {"det_advance_ms", K_INT, OFF(det_advance_ms), 0, 0, 3600000, "50"},
    {"det_measure_requests", K_INT, OFF(det_measure_requests), 0, 0, BIG, "100"},
    {"det_warmup", K_WARM, OFF(det_all_handlers), 0, 0, 0, "zipf"},
    {"det_converge", K_INT, OFF(det_converge), 0, 0, 10000, "0"},
    /* tier-dependent body cost (an ASSUMPTION; SPEC.md "Workloads") */
    {"tier0_cost", K_FACTOR, OFF(tier0_cost_ppb), 0, 0, 0, "3.0"},
    {"tier0_instrumented_cost", K_FACTOR, OFF(tier0i_cost_ppb), 0, 0, 0, "3.5"},
    {"tier1_cost", K_FACTOR, OFF(tier1_cost_ppb), 0, 0, 0, "1.0"},
    /* receiver-sequence rotation and type churn (megamorphic, §5 W2) */
    {"rotation_ms", K_INT, OFF(rotation_ms), 0, 0, 3600000, "0"},
    {"receiver_zipf", K_ZIPF, OFF(receiver_zipf_ppb), 0, 0, 0, "1.0"},
    {"churn_ms", K_INT, OFF(churn_ms), 0, 0, 3600000, "0"},
    {"churn_types", K_INT, OFF(churn_types), 0, 0, 100000, "0"},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

typedef struct pstate {
    const char *path;
    char *err;
    size_t errlen;
    int line_of[NKEYS];
    int config_line[WL_MAX_CONFIG];
} pstate;

static int fail(pstate *ps, int line, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line < 0 && key)          /* a tk-bench --set override */
        snprintf(ps->err, ps->errlen, "%s: --set: key '%s': %s", ps->path, key, msg);
    else if (line < 0)
        snprintf(ps->err, ps->errlen, "%s: --set: %s", ps->path, msg);
    else if (line > 0 && key)
        snprintf(ps->err, ps->errlen, "%s:%d: key '%s': %s", ps->path, line, key, msg);
    else if (line > 0)
        snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, line, msg);
    else if (key)
        snprintf(ps->err, ps->errlen, "%s: key '%s': %s", ps->path, key, msg);
    else
        snprintf(ps->err, ps->errlen, "%s: %s", ps->path, msg);
    return -1;
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* Strict integer: optional sign, digits, optional '_' separators. */
static int parse_i64(const char *s, int64_t *out)
{
    char buf[64];
    size_t n = 0;
    const char *p = s;
    if (*p == '-' || *p == '+') buf[n++] = *p++;
    if (!isdigit((unsigned char)*p)) return -1;
    for (; *p; p++) {
        if (*p == '_') continue;
        if (!isdigit((unsigned char)*p) || n >= sizeof buf - 1) return -1;
        buf[n++] = *p;
    }
    buf[n] = 0;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    errno = 0;
    char *end;
    if (!isdigit((unsigned char)*s)) return -1;
    if (s[0] == '0' && s[1]) return -1;   /* decimal only: "010" is not octal 8 */
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* Exact decimal -> parts per billion: "0.25" -> 250000000; at most 9
 * fractional digits; no exponent.  max_units bounds the integer part. */
static int parse_ppb(const char *s, uint64_t *out, uint64_t max_units)
{
    uint64_t ip = 0, fp = 0;
    int nd = 0, fd = 0;
    const char *p = s;
    while (isdigit((unsigned char)*p)) {
        ip = ip * 10 + (uint64_t)(*p - '0');
        if (ip > max_units) return -2;
        p++; nd++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (fd >= 9) return -1;
            fp = fp * 10 + (uint64_t)(*p - '0');
            p++; fd++;
        }
    }
    if (*p || (nd == 0 && fd == 0)) return -1;
    for (int i = fd; i < 9; i++) fp *= 10;
    uint64_t v = ip * WL_PPB + fp;
    if (v > max_units * WL_PPB) return -2;
    *out = v;
    return 0;
}

static int parse_range(const char *s, tk_wl_range *r)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *dash = strchr(buf + (buf[0] == '-'), '-');
    if (dash) {
        *dash = 0;
        if (parse_i64(trim(buf), &r->lo) || parse_i64(trim(dash + 1), &r->hi)) return -1;
    } else {
        if (parse_i64(trim(buf), &r->lo)) return -1;
        r->hi = r->lo;
    }
    return 0;
}

static int parse_dist(pstate *ps, int line, const keydef *k, char *v, tk_wl_dist *d)
{
    memset(d, 0, sizeof *d);
    uint64_t sum = 0;
    char *save = NULL;
    for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        char *colon = strchr(tok, ':');
        if (!*tok) return fail(ps, line, k->name, "empty entry in distribution");
        if (!colon)
            return fail(ps, line, k->name, "entry '%s' is not LABEL:PROBABILITY", tok);
        *colon = 0;
        char *lab = trim(tok), *pr = trim(colon + 1);
        if (d->n >= WL_MAX_BUCKETS)
            return fail(ps, line, k->name, "more than %d entries", WL_MAX_BUCKETS);
        tk_wl_range r;
        if (parse_range(lab, &r))
            return fail(ps, line, k->name, "label '%s' is not an integer or range A-B", lab);
        if (r.lo > r.hi)
            return fail(ps, line, k->name, "label range '%s' is empty (A > B)", lab);
        if (r.lo < k->min || r.hi > k->max)
            return fail(ps, line, k->name, "label '%s' out of range [%lld, %lld]", lab,
                        (long long)k->min, (long long)k->max);
        if (k->off == OFF(depth) && r.lo != r.hi)
            return fail(ps, line, k->name, "depth labels must be single integers, got '%s'", lab);
        for (uint32_t i = 0; i < d->n; i++)
            if (!(r.hi < d->label[i].lo || r.lo > d->label[i].hi))
                return fail(ps, line, k->name, "label '%s' overlaps an earlier label", lab);
        uint64_t ppb;
        int rc = parse_ppb(pr, &ppb, 1);
        if (rc == -2)
            return fail(ps, line, k->name, "probability '%s' is greater than 1", pr);
        if (rc)
            return fail(ps, line, k->name, "probability '%s' is not a decimal number in [0, 1]", pr);
        d->label[d->n] = r;
        d->ppb[d->n] = (uint32_t)ppb;
        d->n++;
        sum += ppb;
    }
    if (d->n == 0) return fail(ps, line, k->name, "empty distribution");
    /* allow rounding slack of 1e-6 (e.g. three entries of 0.333333333) */
    if (sum + 1000 < WL_PPB || sum > WL_PPB + 1000)
        return fail(ps, line, k->name, "probabilities sum to %llu.%09llu, not 1",
                    (unsigned long long)(sum / WL_PPB), (unsigned long long)(sum % WL_PPB));
    /* put the slack on the last bucket so the stored sum is exactly 1e9 */
    d->ppb[d->n - 1] = (uint32_t)((int64_t)d->ppb[d->n - 1] + (int64_t)WL_PPB - (int64_t)sum);
    return 0;
}

static int set_value(pstate *ps, int line, const keydef *k, char *v, tk_wl_spec *s)
{
    char *base = (char *)s + k->off;
    switch (k->type) {
    case K_STR: {
        size_t n = strlen(v);
        if ((int64_t)n < k->min) return fail(ps, line, k->name, "empty value");
        if ((int64_t)n > k->max)
            return fail(ps, line, k->name, "longer than %lld characters", (long long)k->max);
        if (k->off == OFF(name)) {
            for (const char *p = v; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
                    return fail(ps, line, k->name,
                                "'%s' may contain only letters, digits, '-' and '_'", v);
        }
        memcpy(base, v, n + 1);
        return 0;
    }
    case K_U64:
        if (parse_u64(v, (uint64_t *)base))
            return fail(ps, line, k->name, "'%s' is not a decimal unsigned 64-bit integer (no sign, no leading 0)", v);
        return 0;
    case K_INT: {
        int64_t x;
        if (parse_i64(v, &x)) return fail(ps, line, k->name, "'%s' is not an integer", v);
        if (x < k->min || x > k->max)
            return fail(ps, line, k->name, "%lld out of range [%lld, %lld]", (long long)x,
                        (long long)k->min, (long long)k->max);
        *(int64_t *)base = x;
        return 0;
    }
    case K_PPB:
    case K_ZIPF:
    case K_FACTOR: {
        /* decimals stored in parts per billion, at most 9 fractional digits;
         * a cost factor (K_FACTOR) is [0.01, 100] and needs 64 bits */
        static const struct {
            uint64_t max_units, min_ppb;
            const char *range;
            int wide;
        } DEC[] = {
            [K_PPB] = {1, 0, "[0, 1]", 0},
            [K_ZIPF] = {4, 0, "[0, 4]", 0},
            [K_FACTOR] = {100, WL_PPB / 100, "[0.01, 100]", 1},
        };
        uint64_t x;
        int rc = parse_ppb(v, &x, DEC[k->type].max_units);
        if (rc == -2 || (rc == 0 && x < DEC[k->type].min_ppb))
            return fail(ps, line, k->name, "%s out of range %s", v, DEC[k->type].range);
        if (rc)
            return fail(ps, line, k->name, "'%s' is not a decimal number in %s", v,
                        DEC[k->type].range);
        if (DEC[k->type].wide)
            *(uint64_t *)base = x;
        else
            *(uint32_t *)base = (uint32_t)x;
        return 0;
    }
    case K_RANGE: {
        tk_wl_range r;
        if (parse_range(v, &r))
            return fail(ps, line, k->name, "'%s' is not an integer or range A-B", v);
        if (r.lo > r.hi) return fail(ps, line, k->name, "range '%s' is empty (A > B)", v);
        if (r.lo < k->min || r.hi > k->max)
            return fail(ps, line, k->name, "'%s' out of range [%lld, %lld]", v,
                        (long long)k->min, (long long)k->max);
        *(tk_wl_range *)base = r;
        return 0;
    }
    case K_DIST:
        return parse_dist(ps, line, k, v, (tk_wl_dist *)base);
    case K_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) *(int *)base = 1;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) *(int *)base = 0;
        else return fail(ps, line, k->name, "'%s' is not a boolean (yes/no)", v);
        return 0;
    case K_MODE:
        if (!strcmp(v, "threaded")) *(tk_wl_mode *)base = WL_MODE_THREADED;
        else if (!strcmp(v, "deterministic")) *(tk_wl_mode *)base = WL_MODE_DETERMINISTIC;
        else return fail(ps, line, k->name, "'%s' is not one of threaded, deterministic", v);
        return 0;
    case K_WARM:
        if (!strcmp(v, "zipf")) *(int *)base = 0;
        else if (!strcmp(v, "all-handlers")) *(int *)base = 1;
        else return fail(ps, line, k->name, "'%s' is not one of zipf, all-handlers", v);
        return 0;
    }
    return -1;
}

static const char *config_value(const tk_wl_spec *s, const char *key)
{
    for (uint32_t i = 0; i < s->n_config; i++)
        if (!strcmp(s->config_key[i], key)) return s->config_val[i];
    return NULL;
}

static int key_index(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].name, name)) return (int)i;
    return -1;
}

/* Cross-key checks, reported at the line of the key that is wrong. */
static int validate(pstate *ps, tk_wl_spec *s)
{
#define LINE(k) ps->line_of[key_index(k)]
    int has_root = 0;
    for (uint32_t i = 0; i < s->depth.n; i++)
        if (s->depth.label[i].lo == 1 && s->depth.ppb[i] > 0) has_root = 1;
    if (!has_root)
        return fail(ps, LINE("depth"), "depth", "depth 1 (root classes) needs a non-zero share");
    if (s->interfaces > 0 && s->interface_methods < 1)
        return fail(ps, LINE("interface_methods"), "interface_methods",
                    "must be >= 1 when interfaces > 0");
    if (s->root_virtuals < 1 &&
        (s->interfaces > 0 ||
         (uint64_t)s->direct_call_share_ppb + s->interface_call_share_ppb < WL_PPB))
            return fail(ps, LINE("root_virtuals"), "root_virtuals",
                        "must be >= 1 (virtual call sites need at least one slot)");
    if (s->fanout_interfaces > s->interfaces)
        return fail(ps, LINE("fanout_interfaces"), "fanout_interfaces",
                    "%lld exceeds interfaces (%lld)", (long long)s->fanout_interfaces,
                    (long long)s->interfaces);
    if (s->fanout_per_handler.hi > 0 && s->fanout_interfaces == 0)
        return fail(ps, LINE("fanout_per_handler"), "fanout_per_handler",
                    "fan-out sites need fanout_interfaces > 0");
    if (s->fanout_interfaces > 0 && s->fanout_receivers.hi > s->classes)
        return fail(ps, LINE("fanout_receivers"), "fanout_receivers",
                    "upper bound %lld exceeds classes (%lld)", (long long)s->fanout_receivers.hi,
                    (long long)s->classes);
    if (s->abstract_roots) {
        int has2 = 0;
        for (uint32_t i = 0; i < s->depth.n; i++)
            if (s->depth.label[i].lo == 2 && s->depth.ppb[i] > 0) has2 = 1;
        if (!has2)
            return fail(ps, LINE("abstract_roots"), "abstract_roots",
                        "abstract roots need classes at depth 2 (depth distribution has none)");
    }
    if ((uint64_t)s->direct_call_share_ppb + s->interface_call_share_ppb > WL_PPB)
        return fail(ps, LINE("interface_call_share"), "interface_call_share",
                    "direct_call_share + interface_call_share exceed 1");
    if (s->interface_call_share_ppb > 0 && s->interfaces == 0)
        return fail(ps, LINE("interface_call_share"), "interface_call_share",
                    "interface call sites need interfaces > 0");
    if (s->interface_call_share_ppb > 0 && s->interface_share_ppb == 0 && s->fanout_interfaces == 0)
        return fail(ps, LINE("interface_share"), "interface_share",
                    "interface call sites need implementing classes (interface_share > 0)");
    if (s->mode == WL_MODE_THREADED && s->measure_ms <= 0)
        return fail(ps, LINE("measure_ms"), "measure_ms", "threaded mode needs measure_ms > 0");
    if (s->mode == WL_MODE_THREADED && s->window_ms > s->measure_ms)
        return fail(ps, LINE("window_ms"), "window_ms", "%lld exceeds measure_ms (%lld)",
                    (long long)s->window_ms, (long long)s->measure_ms);
    if (s->burst_handlers > 0) {
        const char *d = config_value(s, "CallCountingDelayMs");
        int64_t delay = 100;
        if (d && parse_i64(d, &delay)) delay = 100;
        if (s->quiet_gap_ms <= delay)
            return fail(ps, LINE("quiet_gap_ms") ? LINE("quiet_gap_ms") : LINE("burst_handlers"),
                        "quiet_gap_ms",
                        "%lld must be longer than the tiering delay (CallCountingDelayMs = %lld) "
                        "so that the burst re-arms it", (long long)s->quiet_gap_ms, (long long)delay);
        if (s->burst_classes < 1)
            return fail(ps, LINE("burst_classes") ? LINE("burst_classes") : LINE("burst_handlers"),
                        "burst_classes", "a burst of handlers needs burst_classes >= 1 (new types to load)");
        if (s->mode == WL_MODE_THREADED && (s->burst_ms <= 0 || s->measure2_ms <= 0))
            return fail(ps, LINE("burst_handlers"), "burst_handlers",
                        "a burst needs burst_ms > 0 and measure2_ms > 0 in threaded mode");
    } else if (s->burst_classes > 0) {
        return fail(ps, LINE("burst_classes"), "burst_classes",
                    "burst classes are only used by burst handlers (set burst_handlers >= 1)");
    }
    if (s->churn_ms > 0 && s->churn_types < 1)
        return fail(ps, LINE("churn_ms"), "churn_ms",
                    "type churn needs churn_types >= 1 (types to unload each time)");
    if (s->churn_types > 0 && s->churn_ms <= 0)
        return fail(ps, LINE("churn_types"), "churn_types",
                    "churn_types needs churn_ms > 0 (the churn period)");
    if (s->churn_types > 0 && !(s->interface_share_ppb > 0 || s->fanout_interfaces > 0))
        return fail(ps, LINE("churn_types"), "churn_types",
                    "churn unloads implementing types: needs interface_share > 0 or fanout_interfaces > 0");
    return 0;
#undef LINE
}

int tk_wl_parse_text(const char *path, const char *text, tk_wl_spec *out, char *err, size_t errlen)
{
    return tk_wl_parse_text_ex(path, text, NULL, out, err, errlen);
}

/* --set KEY=VALUE overrides, applied after the file's lines: each is a
 * known workload key, at most once, validated by set_value; its line is
 * recorded as -1 so that any later message says "--set". */
static int apply_overrides(pstate *ps, const char *const *ov, tk_wl_spec *out)
{
    int seen[NKEYS];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; ov && ov[i]; i++) {
        char buf[4096];
        if (strlen(ov[i]) >= sizeof buf) return fail(ps, -1, NULL, "'%.40s...' is too long", ov[i]);
        snprintf(buf, sizeof buf, "%s", ov[i]);
        char *eq = strchr(buf, '=');
        if (!eq) return fail(ps, -1, NULL, "'%s' is not KEY=VALUE", ov[i]);
        *eq = 0;
        char *key = trim(buf), *val = trim(eq + 1);
        if (!*key) return fail(ps, -1, NULL, "'%s': missing key before '='", ov[i]);
        char *hash = strchr(val, '#');
        if (hash) return fail(ps, -1, key, "values cannot contain '#'");
        if (!strncmp(key, "config.", 7))
            return fail(ps, -1, key, "runtime configuration is set with --config %s=VALUE", key + 7);
        int ki = key_index(key);
        if (ki < 0) return fail(ps, -1, key, "unknown key");
        if (seen[ki]) return fail(ps, -1, key, "given twice");
        seen[ki] = 1;
        if (!*val) return fail(ps, -1, key, "empty value");
        ps->line_of[ki] = -1;
        if (set_value(ps, -1, &KEYS[ki], val, out)) return -1;
    }
    return 0;
}

int tk_wl_parse_text_ex(const char *path, const char *text, const char *const *overrides,
                     tk_wl_spec *out, char *err, size_t errlen)
{
    pstate ps;
    memset(&ps, 0, sizeof ps);
    ps.path = path;
    ps.err = err;
    ps.errlen = errlen;
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);

    /* defaults first (never fail) */
    for (size_t i = 0; i < NKEYS; i++) {
        if (!KEYS[i].dflt) continue;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", KEYS[i].dflt);
        if (set_value(&ps, 0, &KEYS[i], buf, out)) return -1;
    }

    const char *p = text;
    /* a UTF-8 byte order mark (editors on some systems write one) carries
     * nothing; without this it would glue itself to the first key */
    if (!strncmp(p, "\xEF\xBB\xBF", 3)) p += 3;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        char line[4096];
        if (n >= sizeof line) return fail(&ps, lineno, NULL, "line longer than %zu bytes", sizeof line - 1);
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *l = trim(line);
        if (!*l) continue;
        char *eq = strchr(l, '=');
        if (!eq) return fail(&ps, lineno, NULL, "expected 'key = value', got '%s'", l);
        *eq = 0;
        char *key = trim(l), *val = trim(eq + 1);
        if (!*key) return fail(&ps, lineno, NULL, "missing key before '='");
        if (!*val) return fail(&ps, lineno, key, "empty value");
        if (!strncmp(key, "config.", 7)) {
            const char *ck = key + 7;
            if (!*ck || !isalpha((unsigned char)*ck))
                return fail(&ps, lineno, key, "config key must be config.Name");
            for (const char *q = ck; *q; q++)
                if (!isalnum((unsigned char)*q))
                    return fail(&ps, lineno, key, "config key must be config.Name (letters and digits)");
            if (!strcmp(ck, "Strategy") || !strcmp(ck, "Mode") || !strcmp(ck, "Trace"))
                return fail(&ps, lineno, key,
                            "%s is set by tk-bench (use --strategy, the mode key or --trace)", ck);
            if (strlen(ck) >= sizeof out->config_key[0] || strlen(val) >= sizeof out->config_val[0])
                return fail(&ps, lineno, key, "config key or value too long");
            for (uint32_t i = 0; i < out->n_config; i++)
                if (!strcmp(out->config_key[i], ck))
                    return fail(&ps, lineno, key, "duplicate key (first set on line %d)", ps.config_line[i]);
            if (out->n_config >= WL_MAX_CONFIG)
                return fail(&ps, lineno, key, "more than %d config keys", WL_MAX_CONFIG);
            ps.config_line[out->n_config] = lineno;
            strcpy(out->config_key[out->n_config], ck);
            strcpy(out->config_val[out->n_config], val);
            out->n_config++;
            continue;
        }
        int ki = key_index(key);
        if (ki < 0) return fail(&ps, lineno, key, "unknown key");
        if (ps.line_of[ki])
            return fail(&ps, lineno, key, "duplicate key (first set on line %d)", ps.line_of[ki]);
        ps.line_of[ki] = lineno;
        if (set_value(&ps, lineno, &KEYS[ki], val, out)) return -1;
    }
    if (apply_overrides(&ps, overrides, out)) return -1;
    for (size_t i = 0; i < NKEYS; i++)
        if (KEYS[i].required && !ps.line_of[i])
            return fail(&ps, 0, KEYS[i].name, "missing required key");
    int rc = validate(&ps, out);
    if (rc && overrides && overrides[0]) {
        /* a cross-key problem may come from an override: name them all */
        size_t n = strlen(err);
        for (size_t i = 0; overrides[i] && n + 1 < errlen; i++) {
            snprintf(err + n, errlen - n, "%s%s", i ? ", " : " (with --set ", overrides[i]);
            n = strlen(err);
        }
        if (n + 1 < errlen) snprintf(err + n, errlen - n, ")");
    }
    return rc;
}

int tk_wl_parse_file(const char *path, tk_wl_spec *out, char *err, size_t errlen)
{
    return tk_wl_parse_file_ex(path, NULL, out, err, errlen);
}

int tk_wl_parse_file_ex(const char *path, const char *const *overrides, tk_wl_spec *out, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        snprintf(err, errlen, "%s: not a text file (contains NUL bytes)", path);
        return -1;
    }
    int rc = tk_wl_parse_text_ex(path, buf, overrides, out, err, errlen);
    free(buf);
    return rc;
}

static int64_t scaled(int64_t v, double f, int64_t min)
{
    if (v <= 0) return v;
    double x = (double)v * f + 0.5;
    int64_t r = (int64_t)x;
    return r < min ? min : r;
}

void tk_wl_spec_scale(tk_wl_spec *s, double scale, int quick)
{
    if (scale != 1.0) {
        s->classes = scaled(s->classes, scale, 1);
        s->interfaces = scaled(s->interfaces, scale, s->fanout_interfaces ? s->fanout_interfaces : 1);
        s->sites = scaled(s->sites, scale, 1);
        s->calls_per_request = scaled(s->calls_per_request, scale, 1);
        s->burst_classes = scaled(s->burst_classes, scale, s->burst_handlers ? 1 : 0);
        s->det_requests_per_round = scaled(s->det_requests_per_round, scale, 1);
        s->det_measure_requests = scaled(s->det_measure_requests, scale, 1);
        if (s->fanout_receivers.hi > s->classes) {
            s->fanout_receivers.hi = s->classes;
            if (s->fanout_receivers.lo > s->classes) s->fanout_receivers.lo = s->classes;
        }
    }
    tk_wl_spec_scale_time(s, scale * (quick ? 0.25 : 1.0));
}

void tk_wl_spec_scale_time(tk_wl_spec *s, double d)
{
    if (d != 1.0) {
        s->warmup_ms = scaled(s->warmup_ms, d, 1);
        s->measure_ms = scaled(s->measure_ms, d, 1);
        s->burst_ms = scaled(s->burst_ms, d, 1);
        s->measure2_ms = scaled(s->measure2_ms, d, 1);
        s->window_ms = scaled(s->window_ms, d, 10);
        s->rotation_ms = scaled(s->rotation_ms, d, 1);
        s->churn_ms = scaled(s->churn_ms, d, 1);
        if (s->window_ms > s->measure_ms) s->window_ms = s->measure_ms;
        /* the quiet gap must stay longer than the tiering delay: never shrink it */
        if (d > 1.0) s->quiet_gap_ms = scaled(s->quiet_gap_ms, d, 1);
    }
}
