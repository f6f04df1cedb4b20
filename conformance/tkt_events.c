/* conformance/tkt_events.c — the event recorder, the driver-event to
 * checker-record conversion and the in-process trace check. */
#include "tkt.h"
#include "tkv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (!anchors) anchors = tkt_current() ? tkt_current()->anchors : NULL;
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

