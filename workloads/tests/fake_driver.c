/* workloads/tests/fake_driver.c — a minimal tk_driver (ABI v1) without
 * tiering: plain function-pointer vtables whose slots hold, from type load
 * on, a per-method thunk that calls the body at TK_TIER_OPTIMIZED.
 *
 * It is the development stand-in for the reference runtime and a test
 * fixture for tk-bench and the harness (build/lib/libtk_fake_driver.so).
 * It accepts the reference strategy names (all behave the same), both modes
 * (clock and drain are no-ops), and reports the reference counter names,
 * all zero except methods_at_optimized and slot_writes (type-load writes).
 *
 * Entry points must be distinct addresses per method with the caller-side
 * signature, and plain C cannot make closures, so each method gets an entry
 * emitted by arch/ (tk_emit_entry): a driver implementation may use the
 * machine layer; the workloads themselves never do. */
#include "conformance/tk_driver.h"
#include "arch/arch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tk_drv_method {
    tk_drv_type *type;
    tk_method_def def;
    tk_code_ctx ctx;                 /* what the entry hands to the body       */
    char name[200];
    void *owning_slot;
    void *entry;
    int has_body;
    tk_drv_method *next_alloc;       /* runtime-wide list, for destroy         */
};

typedef struct fake_impl { tk_drv_type *iface; uint32_t iface_slot, vtable_slot; } fake_impl;

struct tk_drv_type {
    tk_drv_runtime *rt;
    char name[96];
    tk_drv_type *parent;
    uint32_t flags, vt_size, n_methods, n_impls;
    tk_drv_method **vmethods;        /* per slot                               */
    void **vtable;
    tk_drv_method **methods;         /* non-virtual                            */
    fake_impl *impls;
    int loaded;
    tk_drv_type *next_alloc;
};

typedef struct tk_drv_object { tk_drv_type *type; } fake_object;

struct tk_drv_runtime {
    pthread_mutex_t lock;
    char strategy[32];
    int deterministic;
    char config[1024];
    uint64_t methods, slot_writes;
    tk_drv_method *all_methods;
    tk_drv_type *all_types;
    tk_code_heap *code;
};


/* ---- entries ------------------------------------------------------------------
 * Each method with a body gets its own native entry from the arch layer's
 * code heap (W^X: written through an RW view, run from an RX view):
 * entry(self, a0..a3) tail-calls body(&m->ctx, self, a0..a3). */
static int64_t abstract_called(void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    fprintf(stderr, "fake driver: abstract method called\n");
    abort();
}

/* ---- runtime -------------------------------------------------------------- */
static const char *const k_strategies[] = {"forwarder", "precode-reuse", "lazy", "entry-cell",
                                           "notier", NULL};
static const char *const k_keys[] = {"Strategy", "CallCountThreshold", "CallCountingDelayMs",
                                     "TieredPGO", "TieredCompilation",
                                     "DeleteCallCountingStubsAfter", "Mode", "CompileCostUs",
                                     "Trace", "BackgroundWorkerTimeoutMs", NULL};

static void fake_destroy(tk_drv_runtime *rt);

static tk_drv_runtime *fake_create(const char *const *config, char *err, size_t errlen)
{
    tk_drv_runtime *rt = calloc(1, sizeof *rt);
    if (!rt || !(rt->code = tk_code_heap_create())) {
        snprintf(err, errlen, "fake driver: cannot create the code heap");
        free(rt);
        return NULL;
    }
    pthread_mutex_init(&rt->lock, NULL);
    strcpy(rt->strategy, "forwarder");
    for (size_t i = 0; config && config[i]; i++) {
        const char *eq = strchr(config[i], '=');
        if (!eq) {
            snprintf(err, errlen, "config entry '%s' is not Key=Value", config[i]);
            fake_destroy(rt);
            return NULL;
        }
        size_t kl = (size_t)(eq - config[i]);
        int known = 0;
        for (size_t k = 0; k_keys[k]; k++)
            if (strlen(k_keys[k]) == kl && !strncmp(k_keys[k], config[i], kl)) known = 1;
        if (!known) {
            snprintf(err, errlen, "unknown config key '%.*s'", (int)kl, config[i]);
            fake_destroy(rt);
            return NULL;
        }
        if (!strncmp(config[i], "Strategy=", 9)) {
            int ok = 0;
            for (size_t k = 0; k_strategies[k]; k++) ok |= !strcmp(k_strategies[k], eq + 1);
            if (!ok) {
                snprintf(err, errlen, "config key 'Strategy': unknown strategy '%s'", eq + 1);
                fake_destroy(rt);
                return NULL;
            }
            snprintf(rt->strategy, sizeof rt->strategy, "%s", eq + 1);
            /* test hook: one strategy fails to start, the others run (tk-bench
             * must still report those; cli/tests/cli-tests.sh) */
            const char *fail = getenv("TKFAKE_FAIL_STRATEGY");
            if (fail && !strcmp(fail, eq + 1)) {
                snprintf(err, errlen, "fake driver: strategy '%s' fails (TKFAKE_FAIL_STRATEGY)", fail);
                fake_destroy(rt);
                return NULL;
            }
        }
        /* Values are checked as the reference checks them (SPEC.md
         * `inv.abi.reject-cleanly`): Mode is one of two words, the other
         * keys but Strategy and Trace take unsigned integers. */
        const char *v = eq + 1, *canon = v;   /* described as: true/false as 1/0 */
        int bad = 0;
        if (!strncmp(config[i], "Mode=", 5)) bad = strcmp(v, "deterministic") && strcmp(v, "threaded");
        else if (strncmp(config[i], "Strategy=", 9) && strncmp(config[i], "Trace=", 6)) {
            /* SPEC.md "Configuration keys": the allowed range of each */
            static const struct { const char *key; unsigned long lo, hi; } range[] = {
                {"CallCountThreshold", 1, 65535}, {"CallCountingDelayMs", 0, 3600000},
                {"TieredPGO", 0, 1}, {"TieredCompilation", 0, 1},
                {"DeleteCallCountingStubsAfter", 0, 1000000000}, {"CompileCostUs", 0, 10000000},
                {"BackgroundWorkerTimeoutMs", 1, 3600000}};
            int boolean = !strncmp(config[i], "TieredPGO=", 10) || !strncmp(config[i], "TieredCompilation=", 18);
            if (boolean && (!strcmp(v, "true") || !strcmp(v, "false"))) v = canon = v[0] == 't' ? "1" : "0";
            bad = !*v || strlen(v) > 10 || strspn(v, "0123456789") != strlen(v);
            unsigned long n = bad ? 0 : strtoul(v, NULL, 10);
            for (size_t r = 0; !bad && r < sizeof range / sizeof range[0]; r++)
                if (strlen(range[r].key) == kl && !strncmp(range[r].key, config[i], kl))
                    bad = n < range[r].lo || n > range[r].hi;
            v = eq + 1;
        }
        if (bad) {
            snprintf(err, errlen, "config key '%.*s': bad value '%s'", (int)kl, config[i], v);
            fake_destroy(rt);
            return NULL;
        }
        if (!strcmp(config[i], "Mode=deterministic")) rt->deterministic = 1;
        size_t used = strlen(rt->config);
        /* TieredCompilation is described as its effective 0 (fake_describe) */
        if (strncmp(config[i], "Strategy=", 9) && strncmp(config[i], "Mode=", 5) &&
            strncmp(config[i], "TieredCompilation=", 18))
            snprintf(rt->config + used, sizeof rt->config - used, "%.*s=%s\n", (int)kl, config[i], canon);
    }
    return rt;
}

static void fake_destroy(tk_drv_runtime *rt)
{
    for (tk_drv_method *m = rt->all_methods, *n; m; m = n) {
        n = m->next_alloc;
        free(m);
    }
    for (tk_drv_type *t = rt->all_types, *n; t; t = n) {
        n = t->next_alloc;
        free(t->vmethods); free(t->vtable); free(t->methods); free(t->impls);
        free(t);
    }
    tk_code_heap_destroy(rt->code);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

static size_t fake_describe(tk_drv_runtime *rt, char *buf, size_t len)
{
    /* TieredCompilation=0: this runtime never tiers, whatever the strategy
     * name, so tiering tests report UNSUPPORTED against it. */
    int n = snprintf(buf, len, "Strategy=%s\nMode=%s\nTieredCompilation=0\n%s", rt->strategy,
                     rt->deterministic ? "deterministic" : "threaded", rt->config);
    return n < 0 ? 0 : (size_t)n;
}

static tk_drv_method *new_method(tk_drv_runtime *rt, tk_drv_type *t, const tk_method_def *d,
                                 char *err, size_t errlen)
{
    tk_drv_method *m = calloc(1, sizeof *m);
    m->type = t;
    m->def = *d;
    snprintf(m->name, sizeof m->name, "%s::%s", t->name, d->name ? d->name : "?");
    m->def.name = m->name;
    if (d->body) {
        m->has_body = 1;
        m->ctx = (tk_code_ctx){m, TK_TIER_OPTIMIZED, 0, d->user};
        m->entry = tk_emit_entry(rt->code, (void *)d->body, &m->ctx);
        if (!m->entry) {
            snprintf(err, errlen, "fake driver: cannot emit a method entry (code heap)");
            free(m);
            return NULL;
        }
    } else {
        m->entry = (void *)abstract_called;
    }
    m->owning_slot = m->entry;
    m->next_alloc = rt->all_methods;
    rt->all_methods = m;
    rt->methods++;
    return m;
}

static tk_drv_type *fake_type_define(tk_drv_runtime *rt, const tk_type_def *def, char *err,
                                     size_t errlen)
{
    const char *why = NULL;
    if ((def->n_virtuals && !def->virtuals) || (def->n_overrides && !def->overrides) ||
        (def->n_methods && !def->methods) || (def->n_impls && !def->impls))
        why = "a count without its array";
    else if (def->parent && (def->parent->flags & TK_TYPE_INTERFACE))
        why = "its parent is an interface";
    else if ((def->flags & TK_TYPE_INTERFACE) && (def->n_methods || def->n_overrides || def->n_impls))
        why = "an interface only declares virtuals";
    for (uint32_t i = 0; !why && i < def->n_methods; i++)
        if (!def->methods[i].body) why = "a non-virtual method without a body";
    if (why) {
        snprintf(err, errlen, "type %s: %s", def->name ? def->name : "?", why);
        return NULL;
    }
    pthread_mutex_lock(&rt->lock);
    tk_drv_type *t = calloc(1, sizeof *t);
    t->rt = rt;
    snprintf(t->name, sizeof t->name, "%s", def->name ? def->name : "?");
    t->parent = def->parent;
    t->flags = def->flags;
    uint32_t pvt = def->parent ? def->parent->vt_size : 0;
    t->vt_size = pvt + def->n_virtuals;
    t->vmethods = calloc(t->vt_size + 1, sizeof *t->vmethods);
    t->vtable = calloc(t->vt_size + 1, sizeof *t->vtable);
    for (uint32_t s = 0; s < pvt; s++) t->vmethods[s] = def->parent->vmethods[s];
    for (uint32_t i = 0; i < def->n_overrides; i++) {
        const tk_override_def *o = &def->overrides[i];
        if (o->slot >= pvt) {
            snprintf(err, errlen, "type %s: override of slot %u beyond parent's %u slots", t->name,
                     o->slot, pvt);
            goto bad;
        }
        if (!(t->vmethods[o->slot] = new_method(rt, t, &o->method, err, errlen))) goto bad;
    }
    for (uint32_t i = 0; i < def->n_virtuals; i++)
        if (!(t->vmethods[pvt + i] = new_method(rt, t, &def->virtuals[i], err, errlen))) goto bad;
    t->n_methods = def->n_methods;
    t->methods = calloc(def->n_methods + 1, sizeof *t->methods);
    for (uint32_t i = 0; i < def->n_methods; i++)
        if (!(t->methods[i] = new_method(rt, t, &def->methods[i], err, errlen))) goto bad;
    t->n_impls = def->n_impls;
    t->impls = calloc(def->n_impls + 1, sizeof *t->impls);
    for (uint32_t i = 0; i < def->n_impls; i++) {
        const tk_iface_impl_def *x = &def->impls[i];
        if (x->vtable_slot >= t->vt_size || !x->iface || !(x->iface->flags & TK_TYPE_INTERFACE)) {
            snprintf(err, errlen, "type %s: bad interface implementation %u", t->name, i);
            goto bad;
        }
        t->impls[i] = (fake_impl){x->iface, x->iface_slot, x->vtable_slot};
    }
    t->next_alloc = rt->all_types;
    rt->all_types = t;
    pthread_mutex_unlock(&rt->lock);
    return t;
bad:
    free(t->vmethods); free(t->vtable); free(t->methods); free(t->impls); free(t);
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

static int fake_type_load(tk_drv_runtime *rt, tk_drv_type *t)
{
    if (t->loaded || (t->parent && !t->parent->loaded)) return -1;
    for (uint32_t s = 0; s < t->vt_size; s++) {
        __atomic_store_n(&t->vtable[s], t->vmethods[s]->entry, __ATOMIC_RELEASE);
        __atomic_fetch_add(&rt->slot_writes, 1, __ATOMIC_RELAXED);
    }
    t->loaded = 1;
    return 0;
}

static int fake_type_unload(tk_drv_runtime *rt, tk_drv_type *t)
{
    if (!t->loaded) return -1;
    for (tk_drv_type *c = rt->all_types; c; c = c->next_alloc)
        if (c->parent == t && c->loaded) return -1;
    t->loaded = 0;
    return 0;
}
static uint32_t fake_vtable_size(tk_drv_type *t) { return t->vt_size; }
static tk_drv_method *fake_virtual_method(tk_drv_type *t, uint32_t s)
{
    return s < t->vt_size ? t->vmethods[s] : NULL;
}
static tk_drv_method *fake_nonvirtual_method(tk_drv_type *t, uint32_t i)
{
    return i < t->n_methods ? t->methods[i] : NULL;
}
static tk_drv_object *fake_object_new(tk_drv_runtime *rt, tk_drv_type *t)
{
    if (t->flags & (TK_TYPE_INTERFACE | TK_TYPE_ABSTRACT)) return NULL;
    fake_object *o = calloc(1, sizeof *o);
    o->type = t;
    return o;
}
static void fake_object_free(tk_drv_runtime *rt, tk_drv_object *o) { free(o); }
static void **fake_vtable_slot(tk_drv_type *t, uint32_t s) { return s < t->vt_size ? &t->vtable[s] : NULL; }
static void **fake_interface_slot(tk_drv_type *t, tk_drv_type *iface, uint32_t islot)
{
    for (tk_drv_type *x = t; x; x = x->parent)
        for (uint32_t i = 0; i < x->n_impls; i++)
            if (x->impls[i].iface == iface && x->impls[i].iface_slot == islot)
                return &t->vtable[x->impls[i].vtable_slot];
    return NULL;
}
static void **fake_method_slot(tk_drv_method *m) { return &m->owning_slot; }
static void fake_noop(tk_drv_runtime *rt) {}
static void fake_clock_advance(tk_drv_runtime *rt, uint64_t ms) {}
static int64_t fake_version_request(tk_drv_runtime *rt, tk_drv_method *m) { return -1; }
static int fake_version_revert(tk_drv_runtime *rt, tk_drv_method *m) { return -1; }
static void fake_method_state(tk_drv_runtime *rt, tk_drv_method *m, tk_method_state *out)
{
    memset(out, 0, sizeof *out);
    out->tier = m->has_body ? TK_TIER_OPTIMIZED : TK_TIER_UNKNOWN;
    out->published = m->has_body;
    out->compiles = m->has_body;
}
static const char *fake_method_name(tk_drv_method *m) { return m->name; }
static void fake_classify(tk_drv_runtime *rt, const void *addr, tk_addr_info *out)
{
    memset(out, 0, sizeof *out);
}

static size_t fake_counters(tk_drv_runtime *rt, tk_counter *out, size_t cap)
{
    static const char *const names[] = {
        "try_backpatch_calls", "backpatch_slots_calls", "slot_writes", "slot_discoveries",
        "entry_point_oscillations", "backpatch_lock_acquisitions", "backpatch_lock_contended",
        "backpatch_lock_hold_ns", "precode_retargets", "stubs_allocated_callcount",
        "stubs_freed_callcount", "live_stub_bytes", "calls_counted", "threshold_hits",
        "promotions_tier1", "methods_at_optimized"};
    size_t n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i].name = names[i];
        out[i].nonfinal = 0;
        out[i].final = 0;
        out[i].split = 1;
        if (!strcmp(names[i], "methods_at_optimized")) {
            out[i].final = rt->methods;
            out[i].split = 0;
        }
        if (!strcmp(names[i], "slot_writes"))
            out[i].final = __atomic_load_n(&rt->slot_writes, __ATOMIC_RELAXED);
    }
    return n;
}
static void fake_set_event_sink(tk_drv_runtime *rt, tk_event_fn fn, void *user) {}

static const tk_driver k_driver = {
    .abi_version = TK_DRIVER_ABI_VERSION,
    .size = sizeof(tk_driver),
    .name = "tierkit-fake",
    .version = "1",
    .caps = TK_CAP_DETERMINISTIC | TK_CAP_THREADED | TK_CAP_INTERFACES | TK_CAP_COUNTERS,
    .strategies = k_strategies,
    .create = fake_create,
    .destroy = fake_destroy,
    .describe_config = fake_describe,
    .type_define = fake_type_define,
    .type_load = fake_type_load,
    .type_unload = fake_type_unload,
    .vtable_size = fake_vtable_size,
    .virtual_method = fake_virtual_method,
    .nonvirtual_method = fake_nonvirtual_method,
    .object_new = fake_object_new,
    .object_free = fake_object_free,
    .vtable_slot = fake_vtable_slot,
    .interface_slot = fake_interface_slot,
    .method_slot = fake_method_slot,
    .thread_attach = fake_noop,
    .thread_detach = fake_noop,
#ifndef TK_FAKE_NULL_SAFEPOINT   /* the NULL-entry fixture (workloads/build.mk) */
    .safepoint = fake_noop,
#endif
    .thread_offline = fake_noop,
    .thread_online = fake_noop,
    .clock_advance = fake_clock_advance,
    .drain = fake_noop,
    .version_request = fake_version_request,
    .version_revert = fake_version_revert,
    .method_state = fake_method_state,
    .method_name = fake_method_name,
    .classify = fake_classify,
    .counters = fake_counters,
    .set_event_sink = fake_set_event_sink,
};

__attribute__((visibility("default"))) const tk_driver *tk_driver_v1(void) { return &k_driver; }
