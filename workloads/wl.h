/* workloads/wl.h — workload definitions (.wl files), the deterministic
 * universe generator and the runner used by tk-bench.
 *
 * Three layers, each usable without the next:
 *   wl_parse.c  text -> tk_wl_spec (validated; errors name file, line, key)
 *   wl_gen.c    tk_wl_spec + seed -> tk_wl_universe (pure data, no runtime;
 *               identical on every architecture; fingerprinted)
 *   wl_run.c    tk_wl_universe -> types/objects in a tk_driver runtime, then
 *               requests on real threads or in deterministic mode (parts:
 *               wl_run_internal.h)
 * The file format and every key are documented in SPEC.md "Workloads".
 */
#ifndef TK_WL_H
#define TK_WL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WL_MAX_DEPTH 16
#define WL_MAX_BUCKETS 16
#define WL_MAX_CONFIG 32
#define WL_NAME_MAX 64

typedef struct tk_wl_range { int64_t lo, hi; } tk_wl_range;

/* A discrete distribution over integer ranges: "1:0.7, 2-4:0.18, 5-16:0.12".
 * Probabilities are stored exactly as parts per billion so that generation
 * never depends on floating-point rounding differences between machines. */
typedef struct tk_wl_dist {
    uint32_t n;
    tk_wl_range label[WL_MAX_BUCKETS];
    uint32_t ppb[WL_MAX_BUCKETS];     /* sums to 1e9 after validation        */
} tk_wl_dist;

typedef enum tk_wl_mode { WL_MODE_THREADED = 0, WL_MODE_DETERMINISTIC = 1 } tk_wl_mode;

typedef struct tk_wl_spec {
    char name[WL_NAME_MAX];
    char description[256];
    char path[512];                   /* file it was loaded from             */
    uint64_t seed;
    tk_wl_mode mode;

    /* universe */
    int64_t classes, interfaces, interface_methods;
    int64_t root_virtuals, derived_virtuals, nonvirtuals_per_type;
    tk_wl_dist depth;
    uint32_t inherited_share_ppb;     /* inherited slots NOT overridden      */
    uint32_t interface_share_ppb;     /* classes implementing an interface   */
    tk_wl_range interfaces_per_class;
    int abstract_roots;               /* depth-1 classes abstract            */
    int factory;                      /* requests start with a factory call  */

    /* call graph */
    int64_t sites;
    tk_wl_dist site_polymorphism;
    uint32_t direct_call_share_ppb;
    uint32_t interface_call_share_ppb;
    tk_wl_range calls_per_method;
    tk_wl_range body_work;
    int64_t fanout_interfaces;
    tk_wl_range fanout_receivers;
    tk_wl_range fanout_per_handler;
    int64_t handlers, handler_sites;
    uint32_t handler_zipf_ppb;        /* Zipf exponent s, stored as s * 1e9  */
    int64_t calls_per_request, call_tree_budget;

    /* tier-dependent body cost: work units are multiplied by the factor of
     * the tier that runs the body (ctx->tier), stored as factor * 1e9 */
    uint64_t tier0_cost_ppb, tier0i_cost_ppb, tier1_cost_ppb;

    /* receiver-sequence rotation (threaded: every rotation_ms; deterministic:
     * every round): phase A uniform, B Zipf(receiver_zipf), C single type */
    int64_t rotation_ms;
    uint32_t receiver_zipf_ppb;
    /* type churn: every churn_ms unload churn_types implementing leaf types
     * and load fresh copies of the ones unloaded the previous time */
    int64_t churn_ms, churn_types;

    /* threads and phases (threaded mode), milliseconds */
    int64_t threads;
    int64_t warmup_ms, measure_ms, quiet_gap_ms, burst_ms, measure2_ms, window_ms;
    int64_t burst_handlers, burst_classes;
    uint32_t burst_share_ppb;

    /* deterministic mode schedule */
    int64_t det_rounds, det_requests_per_round, det_advance_ms, det_measure_requests;
    int det_all_handlers;             /* det_warmup = all-handlers            */
    int64_t det_converge;             /* max convergence rounds after warmup (0: off) */

    /* tiering config overrides ("config.Key = value") */
    uint32_t n_config;
    char config_key[WL_MAX_CONFIG][48];
    char config_val[WL_MAX_CONFIG][128];
} tk_wl_spec;

/* Parse and validate.  On error returns -1 and writes one message of the
 * form "FILE:LINE: key 'K': problem" (or "FILE: ..." for whole-file
 * problems) into err.  `text` variant: `path` is used only in messages. */
int tk_wl_parse_file(const char *path, tk_wl_spec *out, char *err, size_t errlen);
int tk_wl_parse_text(const char *path, const char *text, tk_wl_spec *out, char *err,
                  size_t errlen);
/* The same with overrides ("KEY=VALUE", NULL-terminated, tk-bench --set):
 * each replaces the file's value of a workload key (or sets a key the file
 * leaves at its default) and is validated exactly like a file line; a
 * problem is reported as "FILE: --set: key 'KEY': PROBLEM".  Cross-key
 * checks see the overridden values.  `config.NAME` keys cannot be
 * overridden (tk-bench --config sets runtime configuration). */
int tk_wl_parse_file_ex(const char *path, const char *const *overrides, tk_wl_spec *out, char *err,
                     size_t errlen);
int tk_wl_parse_text_ex(const char *path, const char *text, const char *const *overrides,
                     tk_wl_spec *out, char *err, size_t errlen);

/* Apply --scale (sizes and durations) and --quick (durations x 0.25). */
void tk_wl_spec_scale(tk_wl_spec *s, double scale, int quick);
/* Multiply durations only (what --scale and --quick do to durations). */
void tk_wl_spec_scale_time(tk_wl_spec *s, double d);

/* Integer parts-per-billion helpers */
#define WL_PPB 1000000000u

/* ---- generated universe --------------------------------------------------- */

enum { WL_M_VIRTUAL = 1, WL_M_OVERRIDE, WL_M_NONVIRTUAL, WL_M_FACTORY };
enum { WL_S_VIRT = 1, WL_S_IFACE, WL_S_DIRECT, WL_S_FANOUT };
#define WL_NONE UINT32_MAX

typedef struct tk_wl_method {
    uint32_t cls;                     /* owning class                         */
    uint8_t kind;                     /* WL_M_*                               */
    uint8_t abstract;                 /* no body                              */
    uint8_t late;                     /* owned by a burst class               */
    uint32_t slot;                    /* vtable slot (virtual / override)     */
    uint32_t index;                   /* among the class's virtuals/overrides/nonvirtuals */
    uint32_t work;                    /* work units of the body               */
    uint32_t n_calls, first_call;     /* outgoing sites: u->calls[first..]    */
} tk_wl_method;

typedef struct tk_wl_class {
    uint32_t parent;                  /* WL_NONE for a root                   */
    uint32_t depth;                   /* 1 = root                             */
    uint32_t vt_size;                 /* parent's slots + new virtuals        */
    uint32_t first_virtual, n_virtuals;       /* methods[] ranges             */
    uint32_t first_override, n_overrides;
    uint32_t first_nonvirtual, n_nonvirtuals;
    uint32_t first_impl, n_impls;     /* u->impls[]                           */
    uint32_t slot_base;               /* u->slot_impl[slot_base + s]          */
    uint32_t dfs_begin, dfs_end;      /* subtree = dfs order [begin, end)     */
    uint32_t concrete_in_subtree;
    uint8_t abstract, late;
} tk_wl_class;

typedef struct tk_wl_impl { uint32_t iface, iface_slot, vtable_slot; } tk_wl_impl;

typedef struct tk_wl_site {
    uint8_t kind;                     /* WL_S_*                               */
    uint8_t late;
    uint32_t target;                  /* class (VIRT), interface (IFACE/FANOUT), method (DIRECT) */
    uint32_t slot;                    /* vtable slot or interface slot        */
    uint32_t n_recv, first_recv;      /* receiver classes: u->recv[]          */
} tk_wl_site;

typedef struct tk_wl_handler {
    uint32_t n_sites, first_site;     /* u->handler_sites[]                   */
    uint8_t late;
} tk_wl_handler;

typedef struct tk_wl_universe {
    const tk_wl_spec *spec;
    uint32_t n_classes, n_early_classes, n_interfaces;
    tk_wl_class *classes;                /* parents precede children; early first */
    uint32_t n_methods;
    tk_wl_method *methods;
    uint32_t *slot_impl;              /* method implementing each class slot  */
    uint32_t n_slot_impl;
    uint32_t n_impls;
    tk_wl_impl *impls;
    uint32_t *iface_implementers_count;
    uint32_t n_sites, n_early_sites;  /* late sites follow early ones         */
    tk_wl_site *sites;
    uint32_t n_recv;
    uint32_t *recv;
    uint32_t n_calls;
    uint32_t *calls;                  /* site indices                         */
    uint32_t n_handlers, n_early_handlers;
    tk_wl_handler *handlers;
    uint32_t n_handler_sites;
    uint32_t *handler_sites;
    uint32_t factory_method;          /* WL_NONE unless spec->factory         */
    uint32_t *dfs;                    /* class ids in DFS order               */
    /* Zipf CDF over early handlers and over late handlers (ppb, cumulative) */
    uint32_t *zipf_early, *zipf_late;
    /* churn candidates: concrete early leaf classes such that every site
     * keeps at least one receiver that is not a candidate (ascending ids) */
    uint32_t n_churn;
    uint32_t *churn;
    /* receivers (site, receiver pairs) whose call goes through the owning
     * slot of the method it reaches (the declaring type's own vtable slot,
     * or a non-virtual method's slot); u->recv_owning[i] for u->recv[i] */
    uint8_t *recv_owning;
    uint32_t n_recv_owning;

    /* statistics */
    uint32_t n_virtual, n_override, n_nonvirtual, n_abstract;
    uint32_t n_inherited_slots, n_inherited_not_overridden;
    uint32_t site_kind_count[5];
    uint32_t poly_hist[5];            /* receivers: 1, 2-4, 5-16, 17-64, >64  */
    uint64_t fingerprint;
} tk_wl_universe;

/* Generate from a validated spec (deterministic: same spec and seed give the
 * same universe, on any architecture).  Returns 0, or -1 with a message. */
int tk_wl_generate(const tk_wl_spec *spec, tk_wl_universe *u, char *err, size_t errlen);
void tk_wl_universe_free(tk_wl_universe *u);
/* Cumulative Zipf(s) distribution over n ranks in parts per billion
 * (deterministic, no libm; malloc'd, NULL for n = 0). */
uint32_t *tk_wl_zipf_cdf(uint32_t n, uint32_t s_ppb);
/* "%016llx" of the fingerprint */
void tk_wl_fingerprint_hex(const tk_wl_universe *u, char out[17]);

/* ---- PRNG (splitmix64 seeding xoshiro256**) ------------------------------- */
typedef struct tk_wl_rng { uint64_t s[4]; } tk_wl_rng;
void tk_wl_rng_seed(tk_wl_rng *r, uint64_t seed, uint64_t stream);
uint64_t tk_wl_rng_next(tk_wl_rng *r);
uint32_t tk_wl_rng_below(tk_wl_rng *r, uint32_t n);   /* uniform in [0, n)        */
uint32_t tk_wl_rng_ppb(tk_wl_rng *r);                 /* uniform in [0, 1e9)      */
int64_t tk_wl_rng_range(tk_wl_rng *r, tk_wl_range rg);
int64_t tk_wl_dist_sample(tk_wl_rng *r, const tk_wl_dist *d);

#ifdef __cplusplus
}
#endif
#endif
