/* workloads/wl_run_internal.h — what the parts of the workload runner
 * share: the runtime-side universe (receivers, sites, methods, handlers),
 * the per-thread worker and the runner, the clock helpers, the two hot call
 * helpers (inline, so the method body's call path is compiled as before),
 * and the functions one part calls in another.  Parts:
 *   wl_run.c       tk_wl_run: runtime creation, the phase sequence, results
 *   wl_calls.c     the method body, requests, latency histogram
 *   wl_universe.c  building the generated universe inside the runtime
 *   wl_measure.c   counters per phase, latency percentiles, time to steady state
 *   wl_converge.c  deterministic warmup convergence (det_converge)
 *   wl_phases.c    threaded workers, receiver rotation, type churn, one phase
 *
 * Calls are made the way JIT code makes them: the caller holds the address
 * of a slot (vtable slot, interface-resolved slot or a method's owning
 * slot), loads the slot's current value and calls the loaded address.  No
 * slot address is cached across a type load, and no slot value is cached at
 * all, so every backpatch is observed by the next call. */
#ifndef TK_WL_RUN_INTERNAL_H
#define TK_WL_RUN_INTERNAL_H
#include "workloads/wl_run.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- runtime-side universe ---------------------------------------------------- */
typedef struct rt_recv { void **slot; void *obj; uint32_t owning; } rt_recv;
typedef struct rt_site { uint32_t n; uint32_t fanout; rt_recv *recv; } rt_site;
/* work_t: work units by tier index (TI_*), work * the workload's tier factor */
enum { TI_T0 = 0, TI_T0I, TI_FINAL, TI_COUNT };
typedef struct rt_method { uint32_t work, n_calls; uint32_t work_t[TI_COUNT]; rt_site **calls; } rt_method;
typedef struct rt_handler { uint32_t n; rt_site **sites; } rt_handler;

#define HIST_BUCKETS 640

typedef struct worker {
    struct runner *R;
    pthread_t th;
    uint64_t rng, sink;
    _Atomic uint64_t requests[WL_P_COUNT];
    _Atomic uint64_t calls[WL_P_COUNT];
    /* body executions per tier index and calls through owning slots, per
     * phase: written by this worker only (relaxed load + store, no locked
     * instruction), read by the sampling thread */
    _Atomic uint64_t tier_calls[WL_P_COUNT][TI_COUNT];
    _Atomic uint64_t owning_calls[WL_P_COUNT];
    uint64_t cur_tier[TI_COUNT], cur_owning;   /* this request, not shared   */
    int recv_mode;                    /* WL_RECV_* for this request          */
    _Atomic uint64_t epoch;
    uint32_t hist[WL_P_COUNT][HIST_BUCKETS];
    char pad[64];
} worker;

typedef struct runner {
    const tk_wl_universe *u;
    const tk_wl_spec *s;
    const tk_driver *d;
    tk_drv_runtime *rt;
    const tk_wl_run_opts *o;
    tk_drv_type **iface_t, **class_t;
    void **obj;                       /* per class (NULL if abstract/unloaded) */
    rt_method *m;
    rt_site *site;
    rt_recv *recv;
    rt_site **call_ptrs, **handler_site_ptrs;
    rt_handler *handler;
    rt_recv factory;                  /* owning slot of the factory method    */
    char **names;
    size_t n_names, cap_names;
    _Atomic int phase;
    _Atomic int late_ready;
    /* receiver rotation and type churn */
    _Atomic int recv_mode;            /* WL_RECV_*                           */
    uint32_t **zcdf;                  /* Zipf CDF per receiver count         */
    uint32_t max_recv;
    _Atomic int pause;                /* churn: workers park while set       */
    _Atomic int parked;
    uint32_t *recv_site;              /* site of each receiver entry         */
    uint32_t *cls_recv_off, *cls_recv; /* receiver entries of each class     */
    uint32_t *churn_out, n_churn_out, churn_cursor;
    uint8_t *unloaded;                /* per class                           */
    uint8_t *churn_cand;              /* per class: a churn candidate        */
    uint64_t churn_unloads, churn_loads, churn_events, rotations;
    double next_churn_ms, next_rotation_ms, t_origin;
    worker main_w;
} runner;

enum { WL_RECV_UNIFORM = 0, WL_RECV_ZIPF, WL_RECV_SINGLE };

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

static inline uint32_t pick(worker *w, uint32_t n)
{
    uint64_t x = w->rng;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    w->rng = x;
    return (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
}

static inline int64_t call_recv(const rt_recv *r, int64_t budget, worker *w, int64_t salt)
{
    tk_entry_fn f = (tk_entry_fn)__atomic_load_n(r->slot, __ATOMIC_ACQUIRE);
    w->cur_owning += r->owning;
    return f(r->obj, budget, (int64_t)(intptr_t)w, salt, 0);
}

int wlr_build(runner *R, int late, char *err, size_t errlen);
const rt_handler *wlr_choose_handler(runner *R, worker *w);
int wlr_churn_step(runner *R, char *err, size_t errlen);
void wlr_close_phase(runner *R, tk_wl_run_result *res, int ph, double dur_ms, uint64_t *pnf,
                        uint64_t *pfi, worker **ws, int nw);
void wlr_converge(runner *R, worker *w, tk_wl_run_result *res);
int wlr_define_class(runner *R, uint32_t c, char *err, size_t errlen);
int64_t wlr_do_request(runner *R, worker *w, const rt_handler *h, int64_t budget);
double wlr_hist_value(unsigned idx);
const char *wlr_keep(runner *R, const char *fmt, ...);
void wlr_latency(tk_wl_run_result *res, worker **ws, int nw);
void wlr_progress(const runner *R, const char *fmt, ...);
void wlr_record(worker *w, int ph, uint64_t ns, int64_t calls);
int wlr_resolve_recv(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen);
void wlr_rotate_to(runner *R, double t_ms);
double wlr_run_phase(runner *R, tk_wl_run_result *res, int ph, double dur_ms, worker **ws, int nw,
                        double t_origin);
void wlr_setup_tables(runner *R);
void wlr_snapshot(runner *R, tk_wl_run_result *res, uint64_t *nf, uint64_t *fi);
int wlr_stand_in(runner *R, uint32_t si, uint32_t ri, char *err, size_t errlen);
void wlr_teardown(runner *R);
int64_t tk_wl_body(const tk_code_ctx *ctx, void *self, int64_t budget, int64_t wp,
                       int64_t salt, int64_t a3);
int64_t tk_wl_factory(const tk_code_ctx *ctx, void *self, int64_t budget, int64_t wp,
                          int64_t salt, int64_t a3);
void *wlr_worker_main(void *arg);

#endif
