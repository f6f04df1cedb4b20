/* conformance/tests/fixture.h — small helpers shared by the test files:
 * type definition, method lookup, promotion recipes and slot checks. */
#ifndef TK_CONF_FIXTURE_H
#define TK_CONF_FIXTURE_H

#include "tkt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_DELAY 100
/* The deterministic base configuration; add keys after it. */
#define FX_DET(thr) "Mode=deterministic", "TieredPGO=0", "CallCountingDelayMs=100", "CallCountThreshold=" thr

static inline tk_drv_type *fx_define(tk_drv_runtime *rt, const tk_type_def *def, int load)
{
    char err[256] = "";
    tk_drv_type *t = D->type_define(rt, def, err, sizeof err);
    ck_assert_msg(t != NULL, "type_define(%s) failed: %s", def->name, err);
    if (load) ck_assert_msg(D->type_load(rt, t) == 0, "type_load(%s) failed", def->name);
    return t;
}

/* The interface NAME with n methods, defined and loaded when the driver
 * has interfaces; NULL otherwise, so a test still covers its other paths
 * under a driver without them. */
static inline tk_drv_type *fx_iface_if_supported(tk_drv_runtime *rt, const char *name, uint32_t n,
                                                 const tk_method_def *m)
{
    if (!(D->caps & TK_CAP_INTERFACES)) return NULL;
    tk_type_def idef = { name, NULL, TK_TYPE_INTERFACE, n, m, 0, NULL, 0, NULL, 0, NULL };
    return fx_define(rt, &idef, 1);
}

/* A class with n virtuals (new slots) and no overrides. */
static inline tk_drv_type *fx_class(tk_drv_runtime *rt, const char *name, tk_drv_type *parent, uint32_t nv,
                                    const tk_method_def *v, uint32_t no, const tk_override_def *o)
{
    tk_type_def d;
    memset(&d, 0, sizeof d);
    d.name = name;
    d.parent = parent;
    d.n_virtuals = nv;
    d.virtuals = v;
    d.n_overrides = no;
    d.overrides = o;
    return fx_define(rt, &d, 1);
}

static inline tk_drv_method *fx_vm(tk_drv_type *t, uint32_t slot)
{
    tk_drv_method *m = D->virtual_method(t, slot);
    ck_assert_msg(m != NULL, "virtual_method(slot %u) is NULL", slot);
    return m;
}

static inline void **fx_vslot(tk_drv_type *t, uint32_t slot)
{
    void **s = D->vtable_slot(t, slot);
    ck_assert_msg(s != NULL, "vtable_slot(%u) is NULL", slot);
    return s;
}

static inline tk_drv_object *fx_obj(tk_drv_runtime *rt, tk_drv_type *t)
{
    tk_drv_object *o = D->object_new(rt, t);
    ck_assert_msg(o != NULL, "object_new failed");
    return o;
}

static inline int fx_tier(tk_drv_runtime *rt, tk_drv_method *m) { return tkt_state(rt, m).tier; }

/* Asserts the value in a slot is acceptable for a caller to hold: never a
 * call-counting stub, a freed stub or an unclassified address. */
static inline void fx_check_slot_value(tk_drv_runtime *rt, void **slot, const char *what)
{
    void *v = tkt_load(slot);
    tk_addr_info i = tkt_classify(rt, v);
    char buf[200];
    ck_assert_msg(i.cls != TK_AC_CALLCOUNT_STUB && i.cls != TK_AC_FREED,
                  "inv.slot.no-deletable-stub: %s holds %s", what, tkt_describe(rt, v, buf, sizeof buf));
    ck_assert_msg(i.cls != TK_AC_UNKNOWN, "inv.observability.trace-classified: %s holds unclassified %p", what, v);
}

/* A fresh directory (dir: a "/tmp/...-XXXXXX" template, made in place),
 * its trace file path and the "Trace=PATH" key for tkt_create. */
static inline void fx_trace_file(char *dir, char *path, size_t pathlen, char *kv, size_t kvlen)
{
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(path, pathlen, "%s/trace.jsonl", dir);
    snprintf(kv, kvlen, "Trace=%s", path);
}

/* first call, delay elapses: the method is counting afterwards. */
static inline void fx_start_counting(tk_drv_runtime *rt, void **slot, void *self, int id)
{
    tkt_call_slot(slot, self, id, 0);
    tkt_tick(rt, FX_DELAY);
}

/* n calls through slot then drain. */
static inline void fx_calls(tk_drv_runtime *rt, void **slot, void *self, int id, int n)
{
    for (int i = 0; i < n; i++) tkt_call_slot(slot, self, id, i + 1);
    D->drain(rt);
}

/* Call-counting stubs freed so far (recorded events). */
static inline size_t fx_callcount_frees(void)
{
    size_t n = 0;
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        n += e.kind == TK_EV_STUB_FREE && e.stub_kind == TK_AC_CALLCOUNT_STUB;
    }
    return n;
}

/* The first call-counting stub allocated (recorded events), or NULL. */
static inline void *fx_first_callcount_stub(void)
{
    for (size_t i = 0; i < tkt_events_count(); i++) {
        tk_event e = tkt_event_at(i);
        if (e.kind == TK_EV_STUB_ALLOC && e.stub_kind == TK_AC_CALLCOUNT_STUB) return e.stub;
    }
    return NULL;
}

/* A thread that runs drain() once and says when it is done (drain may wait
 * for safe points of other threads). */
typedef struct { tk_drv_runtime *rt; int done; } fx_drainer;

static inline void *fx_drainer_main(void *p)
{
    fx_drainer *d = p;
    D->drain(d->rt);
    __atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

#endif
