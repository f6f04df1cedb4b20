/* conformance/tkt.c — test support: registry, configuration merge, call
 * log, event recorder and the in-process trace check (see tkt.h). */
#include "tkt.h"
#include "tkt_internal.h"
#include "tkv.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const tk_driver *D;

/* ---- registry ---------------------------------------------------------------- */
static const tkt_test **registry;
static size_t nregistry, capregistry;

void tkt_register(const tkt_test *t)
{
    if (nregistry == capregistry) {
        capregistry = capregistry ? capregistry * 2 : 64;
        registry = realloc(registry, capregistry * sizeof *registry);
        if (!registry) abort();
    }
    registry[nregistry++] = t;
}

static int cmp_test(const void *a, const void *b)
{
    return strcmp((*(const tkt_test *const *)a)->name, (*(const tkt_test *const *)b)->name);
}

const tkt_test *const *tkt_registry(size_t *n)
{
    qsort(registry, nregistry, sizeof *registry, cmp_test);
    *n = nregistry;
    return registry;
}

/* ---- per-test state ------------------------------------------------------------ */
static const tkt_test *current;
static jmp_buf unsupported_jb;
static int unsupported_armed;
static char status_msg[1024];

const tkt_test *tkt_current(void) { return current; }

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

void tkt_unsupported(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(status_msg, sizeof status_msg, fmt, ap);
    va_end(ap);
    if (!unsupported_armed) {
        fprintf(stderr, "tkt_unsupported outside a test: %s\n", status_msg);
        abort();
    }
    longjmp(unsupported_jb, 1);
}

void tkt_fail(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ck_abort_msg("%s", buf);
    abort(); /* not reached */
}

void tkt_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("  note: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

void tkt_require_caps(uint64_t caps)
{
    static const char *const names[] = { "DETERMINISTIC", "THREADED", "INTERFACES", "TYPE_UNLOAD", "VERSIONING",
                                         "STUB_DELETION", "CLASSIFY", "EVENTS", "COUNTERS", "PGO", "TRACE_FILE" };
    uint64_t missing = caps & ~D->caps;
    if (!missing) return;
    char buf[256] = "driver lacks capability";
    for (unsigned i = 0; i < 11; i++)
        if (missing & (1ull << i)) { strcat(buf, " TK_CAP_"); strcat(buf, names[i]); }
    tkt_unsupported("%s", buf);
}

/* ---- Check glue: run one test in this process --------------------------------- */
static const tkt_test *to_run;
static int was_unsupported;

START_TEST(tkt_wrapper)
{
    unsupported_armed = 1;
    if (!setjmp(unsupported_jb)) {
        to_run->fn();
    } else {
        was_unsupported = 1;
    }
    unsupported_armed = 0;
}
END_TEST

int tkt_run_in_process(const tkt_test *t, char *msg, size_t msglen)
{
    current = to_run = t;
    was_unsupported = 0;
    status_msg[0] = 0;
    tkt_log_reset();
    Suite *s = suite_create("tk-conform");
    TCase *tc = tcase_create(t->name);
    tcase_add_test(tc, tkt_wrapper);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_SILENT);
    int st;
    msg[0] = 0;
    if (srunner_ntests_failed(sr)) {
        TestResult **tr = srunner_failures(sr);
        snprintf(msg, msglen, "%s:%d: %s", tr_lfile(tr[0]), tr_lno(tr[0]), tr_msg(tr[0]));
        free(tr);
        st = TKT_ST_FAIL;
    } else if (was_unsupported) {
        snprintf(msg, msglen, "%s", status_msg);
        st = TKT_ST_UNSUPPORTED;
    } else {
        st = TKT_ST_PASS;
    }
    srunner_free(sr);
    fflush(stdout);
    fflush(stderr);
    current = NULL;
    return st;
}

/* ---- runtimes ------------------------------------------------------------------------------ */
static char merged_strategy[64];

tk_drv_runtime *tkt_create_v(const char *const *keys)
{
    const char *cfg[128];
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
    return !strcmp(st, "forwarder") || !strcmp(st, "precode-reuse") || !strcmp(st, "lazy");
}

/* ---- call log ----------------------------------------------------------------------------- */
#define LOG_CAP (1u << 16)
#define MAX_IDS 4096
static tkt_call log_buf[LOG_CAP];
static size_t log_n;
static uint64_t per_id[MAX_IDS];

void tkt_log_reset(void)
{
    __atomic_store_n(&log_n, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < MAX_IDS; i++) __atomic_store_n(&per_id[i], 0, __ATOMIC_RELAXED);
}

int64_t tkt_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    int id = ctx ? (int)(intptr_t)ctx->user : -1;
    size_t i = __atomic_fetch_add(&log_n, 1, __ATOMIC_ACQ_REL);
    if (i < LOG_CAP) {
        log_buf[i].id = id;
        log_buf[i].tier = ctx ? ctx->tier : TK_TIER_UNKNOWN;
        log_buf[i].il_version = ctx ? ctx->il_version : 0;
        log_buf[i].arg = a0;
    }
    if (id >= 0 && id < MAX_IDS) __atomic_fetch_add(&per_id[id], 1, __ATOMIC_RELAXED);
    return tkt_expect(id, a0);
}

size_t tkt_log_count(void)
{
    size_t n = __atomic_load_n(&log_n, __ATOMIC_ACQUIRE);
    return n < LOG_CAP ? n : LOG_CAP;
}

tkt_call tkt_log_at(size_t i)
{
    ck_assert_msg(i < tkt_log_count(), "call log has no entry %zu", i);
    return log_buf[i];
}

tkt_call tkt_log_last(void)
{
    size_t n = tkt_log_count();
    ck_assert_msg(n > 0, "no method body ran");
    return log_buf[n - 1];
}

uint64_t tkt_calls_of(int id)
{
    return (id >= 0 && id < MAX_IDS) ? __atomic_load_n(&per_id[id], __ATOMIC_ACQUIRE) : 0;
}

int64_t tkt_call_value(void *entry, void *self, int id, int64_t arg)
{
    ck_assert_msg(entry != NULL, "slot value is NULL (calling method id %d)", id);
    tk_entry_fn f = (tk_entry_fn)entry;
    int64_t r = f(self, arg, 0, 0, 0);
    ck_assert_msg(r == tkt_expect(id, arg),
                  "call through %p with arg %lld returned %lld: expected the body of method id %d", entry,
                  (long long)arg, (long long)r, id);
    return r;
}

int64_t tkt_call_slot(void **slot, void *self, int id, int64_t arg)
{
    ck_assert_msg(slot != NULL, "no slot for method id %d", id);
    return tkt_call_value(tkt_load(slot), self, id, arg);
}

tkt_call tkt_call_logged(void **slot, void *self, int id, int64_t arg)
{
    size_t before = tkt_log_count();
    tkt_call_slot(slot, self, id, arg);
    ck_assert_msg(tkt_log_count() == before + 1, "one call ran %zu bodies", tkt_log_count() - before);
    tkt_call c = tkt_log_last();
    ck_assert_msg(c.id == id && c.arg == arg, "call ran method id %d arg %lld, expected id %d arg %lld", c.id,
                  (long long)c.arg, id, (long long)arg);
    return c;
}

/* ---- introspection ---------------------------------------------------------------------- */
tk_method_state tkt_state(tk_drv_runtime *rt, tk_drv_method *m)
{
    tk_method_state s;
    memset(&s, 0, sizeof s);
    D->method_state(rt, m, &s);
    return s;
}

tk_addr_info tkt_classify(tk_drv_runtime *rt, const void *addr)
{
    tkt_require_caps(TK_CAP_CLASSIFY);
    tk_addr_info i;
    memset(&i, 0, sizeof i);
    D->classify(rt, addr, &i);
    return i;
}

const char *tkt_cls_name(int cls) { return tkv_cls_name(cls); }
const char *tkt_tier_name(int tier) { return tkv_tier_name(tier); }

const char *tkt_describe(tk_drv_runtime *rt, const void *addr, char *buf, size_t len)
{
    tk_addr_info i = tkt_classify(rt, addr);
    const char *mn = i.method ? D->method_name(i.method) : NULL;
    if (i.cls == TK_AC_NATIVE_CODE || i.cls == TK_AC_CALLCOUNT_STUB)
        snprintf(buf, len, "%p (%s %s@%s/il%u)", addr, tkt_cls_name(i.cls), mn ? mn : "?", tkt_tier_name(i.tier),
                 i.il_version);
    else
        snprintf(buf, len, "%p (%s%s%s)", addr, tkt_cls_name(i.cls), mn ? " of " : "", mn ? mn : "");
    return buf;
}

void tkt_tick(tk_drv_runtime *rt, uint64_t ms)
{
    if (ms) D->clock_advance(rt, ms);
    D->drain(rt);
}

/* ---- events ----------------------------------------------------------------------------- */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static tkt_events recorded;

static void record_sink(void *user, const tk_event *ev)
{
    (void)user;
    pthread_mutex_lock(&ev_mu);
    if (recorded.n == recorded.cap) {
        size_t nc = recorded.cap ? recorded.cap * 2 : 1024;
        tk_event *ne = realloc(recorded.ev, nc * sizeof *ne);
        if (!ne) { pthread_mutex_unlock(&ev_mu); return; }
        recorded.ev = ne;
        recorded.cap = nc;
    }
    recorded.ev[recorded.n++] = *ev;
    pthread_mutex_unlock(&ev_mu);
}

void tkt_events_start(tk_drv_runtime *rt)
{
    tkt_require_caps(TK_CAP_EVENTS);
    tkt_events_clear();
    D->set_event_sink(rt, record_sink, NULL);
}

void tkt_events_stop(tk_drv_runtime *rt)
{
    D->set_event_sink(rt, NULL, NULL);
}

size_t tkt_events_count(void)
{
    pthread_mutex_lock(&ev_mu);
    size_t n = recorded.n;
    pthread_mutex_unlock(&ev_mu);
    return n;
}

tk_event tkt_event_at(size_t i)
{
    pthread_mutex_lock(&ev_mu);
    tk_event e = recorded.ev[i];
    pthread_mutex_unlock(&ev_mu);
    return e;
}

void tkt_events_clear(void)
{
    pthread_mutex_lock(&ev_mu);
    recorded.n = 0;
    pthread_mutex_unlock(&ev_mu);
}

typedef struct {
    const char *const *anchors;
    size_t counted;
    char first[600];
} chk_user;

static int anchor_wanted(const char *const *anchors, const char *a)
{
    for (size_t i = 0; anchors && anchors[i]; i++)
        if (!strcmp(anchors[i], a)) return 1;
    return 0;
}

static void on_viol(void *user, const char *anchor, const tkv_event *ev, const char *method, const char *msg)
{
    chk_user *u = user;
    int want = anchor_wanted(u->anchors, anchor);
    printf("  trace %s: seq %llu %s: %s: method %s: %s\n", want ? "VIOLATION" : "(other anchor)",
           (unsigned long long)ev->seq, tkv_ev_name(ev->ev), anchor, method, msg);
    if (want && !u->counted++)
        snprintf(u->first, sizeof u->first, "%s violated at event seq %llu (%s, method %s): %s", anchor,
                 (unsigned long long)ev->seq, tkv_ev_name(ev->ev), method, msg);
}

static tkv_ev map_kind(tk_event_kind k)
{
    switch (k) {
    case TK_EV_SLOT_WRITE: return TKV_SLOT_WRITE;
    case TK_EV_SLOT_RECORD: return TKV_SLOT_RECORD;
    case TK_EV_PRECODE_RETARGET: return TKV_PRECODE_RETARGET;
    case TK_EV_STUB_ALLOC: return TKV_STUB_ALLOC;
    case TK_EV_STUB_FREE: return TKV_STUB_FREE;
    case TK_EV_VERSION_PUBLISH: return TKV_PUBLISH;
    case TK_EV_VERSION_ACTIVATE: return TKV_ACTIVATE;
    case TK_EV_LOCK_ACQUIRE: return TKV_LOCK_ACQUIRE;
    case TK_EV_LOCK_RELEASE: return TKV_LOCK_RELEASE;
    case TK_EV_BACKPATCH_BEGIN: return TKV_BACKPATCH_BEGIN;
    case TK_EV_BACKPATCH_END: return TKV_BACKPATCH_END;
    case TK_EV_THRESHOLD: return TKV_THRESHOLD;
    case TK_EV_PROMOTE: return TKV_PROMOTE;
    case TK_EV_COUNTING_BEGIN: return TKV_COUNTING_BEGIN;
    case TK_EV_COUNTING_COMPLETE: return TKV_COUNTING_COMPLETE;
    case TK_EV_DELAY_BEGIN: return TKV_DELAY_BEGIN;
    case TK_EV_DELAY_EXTEND: return TKV_DELAY_EXTEND;
    case TK_EV_DELAY_END: return TKV_DELAY_END;
    case TK_EV_SAFEPOINT_SYNC: return TKV_SAFEPOINT_SYNC;
    case TK_EV_TYPE_LOAD: return TKV_TYPE_LOAD;
    case TK_EV_TYPE_UNLOAD: return TKV_TYPE_UNLOAD;
    default: return TKV_NONE;
    }
}

static uint32_t intern_method(tkv_names *names, tk_drv_method *m)
{
    if (!m) return 0;
    const char *n = D->method_name ? D->method_name(m) : NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s@%p", n ? n : "?", (void *)m);
    return tkv_intern_ptr(names, m, buf);
}

static void conv_addr(tkv_names *names, tkv_addr *a, const void *v, const tk_addr_info *i, int force)
{
    memset(a, 0, sizeof *a);
    a->tier = a->il_version = TKV_ABSENT;
    if (!force && !v && i->cls == TK_AC_UNKNOWN) return;
    a->present = 1;
    a->addr = (uint64_t)(uintptr_t)v;
    a->cls = i->cls;
    a->method = intern_method(names, i->method);
    if (i->cls == TK_AC_NATIVE_CODE || i->cls == TK_AC_CALLCOUNT_STUB) {
        a->tier = i->tier;
        a->il_version = (int)i->il_version;
    }
}

int tkt_to_tkv_event(tkv_names *names, const tk_event *e, tkv_event *t)
{
    memset(t, 0, sizeof *t);
    t->ev = map_kind(e->kind);
    if (t->ev == TKV_NONE) return 0;
    t->seq = e->seq;
    t->thread = e->thread;
    t->method = intern_method(names, e->method);
    t->slot = (uint64_t)(uintptr_t)e->slot;
    t->slot_kind = e->slot_kind == TK_SLOT_VTABLE ? TKV_SK_VTABLE : TKV_SK_OWNING;
    t->stub = (uint64_t)(uintptr_t)e->stub;
    t->stub_kind = (int)e->stub_kind;
    int is_value_ev = e->kind == TK_EV_SLOT_WRITE || e->kind == TK_EV_PRECODE_RETARGET;
    conv_addr(names, &t->old, e->old_value, &e->old_info, is_value_ev);
    conv_addr(names, &t->nw, e->new_value, &e->new_info, is_value_ev || e->kind == TK_EV_SLOT_RECORD);
    t->tier = e->tier;
    t->from_tier = e->kind == TK_EV_PROMOTE ? (int)e->aux : TKV_ABSENT;
    t->il_version = (int)e->il_version;
    t->reason = e->reason;
    return 1;
}

size_t tkt_trace_check(tk_drv_runtime *rt, const char *const *anchors, tk_drv_method *const *methods)
{
    if (!anchors) anchors = current ? current->anchors : NULL;
    tkv_names *names = tkv_names_new();
    chk_user u = { anchors, 0, "" };
    tkv_checker *c = tkv_new(tkt_strategy(rt), names, on_viol, &u);
    pthread_mutex_lock(&ev_mu);
    size_t n = recorded.n;
    tk_event *evs = malloc((n ? n : 1) * sizeof *evs);
    if (n) memcpy(evs, recorded.ev, n * sizeof *evs);
    pthread_mutex_unlock(&ev_mu);
    /* owning slots */
    void **owning[256];
    tk_drv_method *owner[256];
    size_t nown = 0;
    if (methods) {
        for (size_t i = 0; methods[i] && nown < 256; i++) {
            owner[nown] = methods[i];
            owning[nown++] = D->method_slot(methods[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const tk_event *e = &evs[i];
        tkv_event t;
        if (!tkt_to_tkv_event(names, e, &t)) continue;
        for (size_t k = 0; k < nown; k++)
            if (owner[k] == e->method && owning[k] == e->slot) t.slot_kind = TKV_SK_OWNING;
        tkv_feed(c, &t);
    }
    tkv_finish(c);
    free(evs);
    tkv_free(c);
    tkv_names_free(names);
    ck_assert_msg(u.counted == 0, "%s (%zu violation%s of this test's anchors; see the log)", u.first, u.counted,
                  u.counted == 1 ? "" : "s");
    return u.counted;
}

/* ---- time ------------------------------------------------------------------------------- */
uint64_t tkt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tkt_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}
