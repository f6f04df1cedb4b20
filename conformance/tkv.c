/* conformance/tkv.c — incremental checker of the trace-checkable invariants
 * (SPEC.md, "Trace:" lines).  See tkv.h. */
#include "tkv.h"
#include "tk_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

const char *const tkv_checked_anchors[] = {
    "inv.counting.final-tier-not-counted",
    "inv.counting.threshold-once",
    "inv.slot.no-deletable-stub",
    "inv.slot.inherit-temporary-entry",
    "inv.backpatch.record-under-lock",
    "inv.backpatch.owning-slot-last",
    "inv.backpatch.lazy-final-only",
    "inv.precode.no-stale-target",
    "inv.tiering.promotion-after-threshold",
    "inv.tiering.monotonic",
    "inv.reclaim.wait-safepoint",
    "inv.reclaim.unpublish-before-free",
    "inv.observability.trace-classified",
    NULL
};

/* ---- names ---------------------------------------------------------------- */

static const char *const ev_names[TKV_EV_COUNT] = {
    [TKV_NONE] = "?",
    [TKV_TYPE_LOAD] = "type_load", [TKV_TYPE_UNLOAD] = "type_unload",
    [TKV_SLOT_WRITE] = "slot_write", [TKV_SLOT_RECORD] = "slot_record",
    [TKV_PRECODE_RETARGET] = "precode_retarget", [TKV_STUB_ALLOC] = "stub_alloc",
    [TKV_STUB_FREE] = "stub_free", [TKV_LOCK_ACQUIRE] = "lock_acquire",
    [TKV_LOCK_RELEASE] = "lock_release", [TKV_BACKPATCH_BEGIN] = "backpatch_begin",
    [TKV_BACKPATCH_END] = "backpatch_end", [TKV_PUBLISH] = "publish",
    [TKV_ACTIVATE] = "activate", [TKV_COUNTING_BEGIN] = "counting_begin",
    [TKV_COUNTING_COMPLETE] = "counting_complete", [TKV_THRESHOLD] = "threshold",
    [TKV_PROMOTE] = "promote", [TKV_DELAY_BEGIN] = "delay_begin",
    [TKV_DELAY_EXTEND] = "delay_extend", [TKV_DELAY_END] = "delay_end",
    [TKV_SAFEPOINT_SYNC] = "safepoint_sync",
};

const char *tkv_ev_name(tkv_ev ev) { return (ev > 0 && ev < TKV_EV_COUNT) ? ev_names[ev] : "?"; }

tkv_ev tkv_ev_from_name(const char *s)
{
    for (int i = 1; i < TKV_EV_COUNT; i++)
        if (!strcmp(ev_names[i], s)) return (tkv_ev)i;
    return TKV_NONE;
}

static const char *const cls_names[] = {
    [TK_AC_UNKNOWN] = "unknown", [TK_AC_PRESTUB] = "prestub", [TK_AC_PRECODE] = "precode",
    [TK_AC_FORWARDER] = "forwarder", [TK_AC_CALLCOUNT_STUB] = "callcount",
    [TK_AC_NATIVE_CODE] = "native", [TK_AC_FREED] = "freed",
};

const char *tkv_cls_name(int cls)
{
    return (cls >= 0 && cls <= TK_AC_FREED) ? cls_names[cls] : "?";
}

int tkv_cls_from_name(const char *s)
{
    for (int i = 0; i <= TK_AC_FREED; i++)
        if (!strcmp(cls_names[i], s)) return i;
    return -1;
}

const char *tkv_tier_name(int tier)
{
    switch (tier) {
    case TK_TIER_0: return "tier0";
    case TK_TIER_1: return "tier1";
    case TK_TIER_OPTIMIZED: return "optimized";
    case TK_TIER_0_INSTRUMENTED: return "tier0-instrumented";
    case TK_TIER_UNKNOWN: return "unknown";
    default: return "?";
    }
}

int tkv_tier_from_name(const char *s, int *ok)
{
    *ok = 1;
    if (!strcmp(s, "tier0")) return TK_TIER_0;
    if (!strcmp(s, "tier1")) return TK_TIER_1;
    if (!strcmp(s, "optimized")) return TK_TIER_OPTIMIZED;
    if (!strcmp(s, "tier0-instrumented")) return TK_TIER_0_INSTRUMENTED;
    if (!strcmp(s, "unknown")) return TK_TIER_UNKNOWN;
    *ok = 0;
    return TKV_ABSENT;
}

static int rank(int tier)
{
    switch (tier) {
    case TK_TIER_0: return 0;
    case TK_TIER_0_INSTRUMENTED: return 1;
    case TK_TIER_1: case TK_TIER_OPTIMIZED: return 2;
    default: return -1;
    }
}

/* ---- a small u64 -> u64 hash map (key 0 is reserved) --------------------- */

typedef struct { uint64_t *k, *v; size_t cap, n; } map;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

static void map_put(map *m, uint64_t k, uint64_t v);

static void map_grow(map *m)
{
    map old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->n = 0;
    m->k = calloc(m->cap, sizeof *m->k);
    m->v = calloc(m->cap, sizeof *m->v);
    if (!m->k || !m->v) { fprintf(stderr, "tkv: out of memory\n"); abort(); }
    for (size_t i = 0; i < old.cap; i++)
        if (old.k[i]) map_put(m, old.k[i], old.v[i]);
    free(old.k);
    free(old.v);
}

static uint64_t *map_slot(map *m, uint64_t k, int create)
{
    if (!k) k = 0x9e3779b97f4a7c15ULL;
    if (create && (m->n + 1) * 2 > m->cap) map_grow(m);
    if (!m->cap) return NULL;
    size_t i = mix(k) & (m->cap - 1);
    while (m->k[i]) {
        if (m->k[i] == k) return &m->v[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (!create) return NULL;
    m->k[i] = k;
    m->v[i] = 0;
    m->n++;
    return &m->v[i];
}

static void map_put(map *m, uint64_t k, uint64_t v) { *map_slot(m, k, 1) = v; }
static uint64_t map_get(map *m, uint64_t k) { uint64_t *p = map_slot(m, k, 0); return p ? *p : 0; }
static void map_free(map *m) { free(m->k); free(m->v); memset(m, 0, sizeof *m); }

/* ---- names ------------------------------------------------------------------ */

struct tkv_names {
    map by_key;             /* hash(name) or pointer -> id */
    char **names;
    size_t n, cap;
};

tkv_names *tkv_names_new(void) { return calloc(1, sizeof(tkv_names)); }

void tkv_names_free(tkv_names *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) free(n->names[i]);
    free(n->names);
    map_free(&n->by_key);
    free(n);
}

static uint32_t add_name(tkv_names *n, uint64_t key, const char *name)
{
    uint64_t id = map_get(&n->by_key, key);
    if (id) return (uint32_t)id;
    if (n->n == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 64;
        n->names = realloc(n->names, n->cap * sizeof *n->names);
        if (!n->names) abort();
    }
    n->names[n->n++] = strdup(name ? name : "?");
    map_put(&n->by_key, key, n->n);
    return (uint32_t)n->n;
}

uint32_t tkv_intern_str(tkv_names *n, const char *name)
{
    if (!name) return 0;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h |= 1ULL << 63;              /* never collides with a pointer key        */
    /* resolve (unlikely) hash collisions by probing a salted key */
    for (;;) {
        uint64_t id = map_get(&n->by_key, h);
        if (!id || !strcmp(n->names[id - 1], name)) return add_name(n, h, name);
        h = mix(h) | (1ULL << 63);
    }
}

uint32_t tkv_intern_ptr(tkv_names *n, const void *p, const char *name)
{
    if (!p) return 0;
    return add_name(n, (uint64_t)(uintptr_t)p, name);
}

const char *tkv_name(const tkv_names *n, uint32_t id)
{
    return (n && id && id <= n->n) ? n->names[id - 1] : "-";
}

/* ---- checker -------------------------------------------------------------------- */

typedef struct {
    int live, callcount, ever_published;
    uint64_t refs, unpub_seq, alloc_seq;
} stubrec;

struct tkv_checker {
    int lazy;
    tkv_names *names;
    tkv_report_fn fn;
    void *user;
    size_t violations;
    map lockdepth;      /* thread+1 -> depth                               */
    map pass;           /* thread+1 -> method | owning<<32 | 1<<40          */
    map active_il;      /* method -> il+1                                  */
    map pub_rank;       /* key(method, il, 0) -> rank+1                     */
    map thresholds;     /* key(method, il, tier) -> count                   */
    map promotes;       /* key(method, il, from) -> count                   */
    map loc;            /* location -> value address                       */
    map stubidx;        /* stub address -> index+1 in stubs                 */
    stubrec *stubs;
    size_t nstubs, capstubs;
    uint64_t last_sync_seq;
};

static uint64_t key3(uint32_t m, int il, int tier)
{
    return ((uint64_t)m << 24) | ((uint64_t)(il & 0xffff) << 8) | (uint64_t)(tier & 0xff);
}

tkv_checker *tkv_new(const char *strategy, tkv_names *names, tkv_report_fn fn, void *user)
{
    tkv_checker *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->lazy = strategy && !strcmp(strategy, "lazy");
    c->names = names;
    c->fn = fn;
    c->user = user;
    return c;
}

static void viol(tkv_checker *c, const char *anchor, const tkv_event *ev, uint32_t method, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->violations++;
    if (c->fn) c->fn(c->user, anchor, ev, tkv_name(c->names, method ? method : ev->method), msg);
}

static stubrec *stub_get(tkv_checker *c, uint64_t addr, int create)
{
    uint64_t i = map_get(&c->stubidx, addr);
    if (i) return &c->stubs[i - 1];
    if (!create) return NULL;
    if (c->nstubs == c->capstubs) {
        c->capstubs = c->capstubs ? c->capstubs * 2 : 64;
        c->stubs = realloc(c->stubs, c->capstubs * sizeof *c->stubs);
        if (!c->stubs) abort();
    }
    stubrec *s = &c->stubs[c->nstubs++];
    memset(s, 0, sizeof *s);
    map_put(&c->stubidx, addr, c->nstubs);
    return s;
}

/* A store of `val` (classified as `cls`) into location `lockey`. */
static void location_store(tkv_checker *c, const tkv_event *ev, uint64_t lockey, uint64_t val, int cls,
                           const char *what)
{
    uint64_t oldv = map_get(&c->loc, lockey);
    if (!oldv && ev->old.present) oldv = ev->old.addr;
    if (oldv && oldv != val) {
        stubrec *o = stub_get(c, oldv, 0);
        if (o && o->callcount && o->refs) {
            o->refs--;
            o->unpub_seq = ev->seq;
        }
    }
    stubrec *s = stub_get(c, val, cls == TK_AC_CALLCOUNT_STUB);
    if (s && cls == TK_AC_CALLCOUNT_STUB && !s->callcount) { s->callcount = 1; s->live = 1; }
    if (s && s->callcount) {
        if (!s->live)
            viol(c, "inv.reclaim.unpublish-before-free", ev, 0,
                 "%s stores 0x%llx, a call-counting stub that was already freed", what,
                 (unsigned long long)val);
        if (oldv != val) s->refs++;
        s->ever_published = 1;
    }
    map_put(&c->loc, lockey, val);
}

static int needs_method(int cls)
{
    return cls == TK_AC_PRECODE || cls == TK_AC_FORWARDER || cls == TK_AC_CALLCOUNT_STUB || cls == TK_AC_NATIVE_CODE;
}

static void check_classified(tkv_checker *c, const tkv_event *ev, const tkv_addr *a, const char *field)
{
    if (!a->present) return;
    if (a->cls == TK_AC_UNKNOWN)
        viol(c, "inv.observability.trace-classified", ev, 0, "%s.%s 0x%llx is classified 'unknown'",
             tkv_ev_name(ev->ev), field, (unsigned long long)a->addr);
    else if (needs_method(a->cls) && !a->method)
        viol(c, "inv.observability.trace-classified", ev, 0, "%s.%s (%s) names no method",
             tkv_ev_name(ev->ev), field, tkv_cls_name(a->cls));
    else if ((a->cls == TK_AC_CALLCOUNT_STUB || a->cls == TK_AC_NATIVE_CODE) &&
             (a->tier == TKV_ABSENT || a->il_version == TKV_ABSENT))
        viol(c, "inv.observability.trace-classified", ev, 0, "%s.%s (%s) lacks tier or il_version",
             tkv_ev_name(ev->ev), field, tkv_cls_name(a->cls));
}

static void check_stale(tkv_checker *c, const tkv_event *ev, const char *what)
{
    const tkv_addr *a = &ev->nw;
    if (!a->present || (a->cls != TK_AC_NATIVE_CODE && a->cls != TK_AC_CALLCOUNT_STUB)) return;
    if (a->il_version == TKV_ABSENT) return;
    uint32_t m = a->method ? a->method : ev->method;
    if (!m) return;
    uint64_t act = map_get(&c->active_il, m);
    int active = act ? (int)(act - 1) : 0;
    if (a->il_version != active)
        viol(c, "inv.precode.no-stale-target", ev, m,
             "%s stores %s code of IL version %d while IL version %d is active", what,
             tkv_cls_name(a->cls), a->il_version, active);
}

void tkv_feed(tkv_checker *c, const tkv_event *ev)
{
    uint64_t tkey = ev->thread + 1;
    switch (ev->ev) {
    case TKV_LOCK_ACQUIRE:
        map_put(&c->lockdepth, tkey, map_get(&c->lockdepth, tkey) + 1);
        break;
    case TKV_LOCK_RELEASE: {
        uint64_t d = map_get(&c->lockdepth, tkey);
        map_put(&c->lockdepth, tkey, d ? d - 1 : 0);
        break;
    }
    case TKV_SLOT_RECORD:
        if (!map_get(&c->lockdepth, tkey))
            viol(c, "inv.backpatch.record-under-lock", ev, 0,
                 "slot 0x%llx recorded while thread %llu does not hold the slot-backpatch lock",
                 (unsigned long long)ev->slot, (unsigned long long)ev->thread);
        break;
    case TKV_SLOT_WRITE: {
        const char *r = ev->reason ? ev->reason : "";
        int nwcls = ev->nw.present ? ev->nw.cls : TK_AC_UNKNOWN;
        check_classified(c, ev, &ev->nw, "new");
        stubrec *s = ev->nw.present ? stub_get(c, ev->nw.addr, 0) : NULL;
        if (nwcls == TK_AC_CALLCOUNT_STUB || nwcls == TK_AC_FREED || (s && s->callcount))
            viol(c, "inv.slot.no-deletable-stub", ev, 0,
                 "slot 0x%llx (%s) now holds 0x%llx, a %s", (unsigned long long)ev->slot, r,
                 (unsigned long long)ev->nw.addr,
                 nwcls == TK_AC_FREED ? "freed stub" : "call-counting stub");
        if (!strcmp(r, "init")) {
            if (!(nwcls == TK_AC_PRESTUB ||
                  (nwcls == TK_AC_PRECODE && (!ev->nw.method || !ev->method || ev->nw.method == ev->method))))
                viol(c, "inv.slot.inherit-temporary-entry", ev, 0,
                     "slot 0x%llx initialized to %s%s%s, not the method's temporary entry point",
                     (unsigned long long)ev->slot, tkv_cls_name(nwcls),
                     ev->nw.method ? " of " : "", ev->nw.method ? tkv_name(c->names, ev->nw.method) : "");
        }
        if ((!strcmp(r, "discover") || !strcmp(r, "backpatch") || !strcmp(r, "reset")) &&
            !map_get(&c->lockdepth, tkey))
            viol(c, "inv.backpatch.record-under-lock", ev, 0,
                 "slot 0x%llx written (%s) while thread %llu does not hold the slot-backpatch lock",
                 (unsigned long long)ev->slot, r, (unsigned long long)ev->thread);
        if (c->lazy && (!strcmp(r, "discover") || !strcmp(r, "backpatch")) && nwcls == TK_AC_NATIVE_CODE &&
            ev->nw.tier != TKV_ABSENT && !TK_TIER_IS_FINAL(ev->nw.tier))
            viol(c, "inv.backpatch.lazy-final-only", ev, 0,
                 "slot 0x%llx patched (%s) to non-final %s code", (unsigned long long)ev->slot, r,
                 tkv_tier_name(ev->nw.tier));
        uint64_t p = map_get(&c->pass, tkey);
        if ((p >> 40) & 1 && (uint32_t)p == ev->method) {
            if (ev->slot_kind == TKV_SK_OWNING) {
                map_put(&c->pass, tkey, p | (1ULL << 32));
            } else if ((p >> 32) & 1) {
                viol(c, "inv.backpatch.owning-slot-last", ev, 0,
                     "slot 0x%llx patched after the owning slot in the same backpatch pass",
                     (unsigned long long)ev->slot);
            }
        }
        check_stale(c, ev, "slot_write");
        if (ev->nw.present) location_store(c, ev, ev->slot, ev->nw.addr, nwcls, "slot_write");
        break;
    }
    case TKV_PRECODE_RETARGET: {
        int nwcls = ev->nw.present ? ev->nw.cls : TK_AC_UNKNOWN;
        check_classified(c, ev, &ev->nw, "new");
        if (nwcls == TK_AC_FREED)
            viol(c, "inv.precode.no-stale-target", ev, 0, "precode 0x%llx retargeted to a freed stub",
                 (unsigned long long)ev->stub);
        check_stale(c, ev, "precode_retarget");
        if (ev->nw.present)
            location_store(c, ev, ev->stub | (1ULL << 63), ev->nw.addr, nwcls, "precode_retarget");
        break;
    }
    case TKV_STUB_ALLOC:
        if (ev->stub_kind == TK_AC_CALLCOUNT_STUB) {
            stubrec *s = stub_get(c, ev->stub, 1);
            memset(s, 0, sizeof *s);
            s->live = 1;
            s->callcount = 1;
            s->alloc_seq = ev->seq;
            if (ev->tier != TKV_ABSENT && TK_TIER_IS_FINAL(ev->tier))
                viol(c, "inv.counting.final-tier-not-counted", ev, 0,
                     "call-counting stub allocated for %s code", tkv_tier_name(ev->tier));
        }
        break;
    case TKV_STUB_FREE: {
        stubrec *s = stub_get(c, ev->stub, ev->stub_kind == TK_AC_CALLCOUNT_STUB);
        if (!s) break;
        if (ev->stub_kind == TK_AC_CALLCOUNT_STUB) s->callcount = 1;
        if (!s->callcount) break;
        if (s->refs)
            viol(c, "inv.reclaim.unpublish-before-free", ev, 0,
                 "call-counting stub 0x%llx freed while %llu slot(s)/precode(s) still target it",
                 (unsigned long long)ev->stub, (unsigned long long)s->refs);
        else if (s->ever_published && c->last_sync_seq < s->unpub_seq)
            viol(c, "inv.reclaim.wait-safepoint", ev, 0,
                 "call-counting stub 0x%llx freed without a safepoint_sync since it left the call path "
                 "(seq %llu)", (unsigned long long)ev->stub, (unsigned long long)s->unpub_seq);
        s->live = 0;
        break;
    }
    case TKV_SAFEPOINT_SYNC:
        c->last_sync_seq = ev->seq;
        break;
    case TKV_BACKPATCH_BEGIN:
        map_put(&c->pass, tkey, (uint64_t)ev->method | (1ULL << 40));
        if (c->lazy && ev->nw.present && ev->nw.cls == TK_AC_NATIVE_CODE && ev->nw.tier != TKV_ABSENT &&
            !TK_TIER_IS_FINAL(ev->nw.tier))
            viol(c, "inv.backpatch.lazy-final-only", ev, 0, "backpatch pass to non-final %s code",
                 tkv_tier_name(ev->nw.tier));
        break;
    case TKV_BACKPATCH_END:
        map_put(&c->pass, tkey, 0);
        break;
    case TKV_ACTIVATE:
        if (ev->method && ev->il_version != TKV_ABSENT)
            map_put(&c->active_il, ev->method, (uint64_t)ev->il_version + 1);
        break;
    case TKV_PUBLISH: {
        if (!ev->method || ev->tier == TKV_ABSENT) break;
        int il = ev->il_version == TKV_ABSENT ? 0 : ev->il_version;
        uint64_t k = key3(ev->method, il, 0);
        uint64_t prev = map_get(&c->pub_rank, k);
        int r = rank(ev->tier);
        if (r >= 0) {
            if (prev && r < (int)prev - 1)
                viol(c, "inv.tiering.monotonic", ev, 0, "IL version %d published at %s after a higher tier",
                     il, tkv_tier_name(ev->tier));
            if (!prev || r > (int)prev - 1) map_put(&c->pub_rank, k, (uint64_t)r + 1);
        }
        break;
    }
    case TKV_COUNTING_BEGIN:
    case TKV_THRESHOLD:
        if (ev->tier != TKV_ABSENT && TK_TIER_IS_FINAL(ev->tier))
            viol(c, "inv.counting.final-tier-not-counted", ev, 0, "%s for %s code", tkv_ev_name(ev->ev),
                 tkv_tier_name(ev->tier));
        if (ev->ev == TKV_THRESHOLD && ev->method) {
            int il = ev->il_version == TKV_ABSENT ? 0 : ev->il_version;
            uint64_t k = key3(ev->method, il, ev->tier);
            map_put(&c->thresholds, k, map_get(&c->thresholds, k) + 1);
        }
        break;
    case TKV_PROMOTE: {
        if (!ev->method) break;
        int il = ev->il_version == TKV_ABSENT ? 0 : ev->il_version;
        if (ev->from_tier != TKV_ABSENT && ev->tier != TKV_ABSENT && rank(ev->tier) <= rank(ev->from_tier))
            viol(c, "inv.tiering.monotonic", ev, 0, "promotion from %s to %s does not go up",
                 tkv_tier_name(ev->from_tier), tkv_tier_name(ev->tier));
        if (ev->from_tier != TKV_ABSENT && !TK_TIER_IS_FINAL(ev->from_tier) &&
            !map_get(&c->thresholds, key3(ev->method, il, ev->from_tier)))
            viol(c, "inv.tiering.promotion-after-threshold", ev, 0,
                 "promoted from %s (IL version %d) before that version reached its threshold",
                 tkv_tier_name(ev->from_tier), il);
        uint64_t k = key3(ev->method, il, ev->from_tier);
        uint64_t n = map_get(&c->promotes, k) + 1;
        map_put(&c->promotes, k, n);
        if (n == 2)
            viol(c, "inv.counting.threshold-once", ev, 0, "IL version %d promoted from %s a second time", il,
                 tkv_tier_name(ev->from_tier));
        break;
    }
    default:
        break;
    }
}

void tkv_finish(tkv_checker *c) { (void)c; }

size_t tkv_violations(const tkv_checker *c) { return c->violations; }

void tkv_free(tkv_checker *c)
{
    if (!c) return;
    map_free(&c->lockdepth); map_free(&c->pass); map_free(&c->active_il); map_free(&c->pub_rank);
    map_free(&c->thresholds); map_free(&c->promotes); map_free(&c->loc); map_free(&c->stubidx);
    free(c->stubs);
    free(c);
}
