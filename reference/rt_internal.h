/* reference/rt_internal.h — private data model of the reference runtime.
 *
 * Lock order everywhere (SPEC `impl.lock-order`): backpatch lock ->
 * code-version lock -> tiering lock -> object lists -> code heap -> events
 * (checked at run time, see tkr_lock).  No lock is held across
 * synchronize_rcu() or thread creation (checked: tkr_check_no_locks).
 */
#ifndef TK_RT_INTERNAL_H
#define TK_RT_INTERNAL_H

#include "tierkit.h"
#include "arch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>   /* realloc, abort: tkr_grow */

#define TK_HIDDEN __attribute__((visibility("hidden")))

/* ---- counters ------------------------------------------------------------ */
enum {
    C_TRY_BACKPATCH, C_BACKPATCH_SLOTS, C_SLOT_WRITES, C_SLOT_DISCOVERIES,
    C_EP_OSCILLATIONS, C_LOCK_ACQ, C_LOCK_CONTENDED, C_LOCK_HOLD_NS,
    C_PRECODE_RETARGETS,
    C_STUBS_ALLOC_PRECODE, C_STUBS_ALLOC_FORWARDER, C_STUBS_ALLOC_CALLCOUNT,
    C_STUBS_FREED_PRECODE, C_STUBS_FREED_FORWARDER, C_STUBS_FREED_CALLCOUNT,
    C_LIVE_STUB_BYTES,
    C_CALLS_COUNTED, C_THRESHOLD_HITS,
    C_PROMO_T0_T0I, C_PROMO_T0_T1, C_PROMO_T0I_T1,
    C_METHODS_T0, C_METHODS_T0I, C_METHODS_T1, C_METHODS_OPT,
    C_COMPILES, C_COMPILE_COST_US, C_STUB_DELETIONS,
    C_COUNTING_STUB_BYTES, C_COUNTING_INFO_BYTES, C_METHODS_COUNTED,
    TK_COUNTER_COUNT
};

/* ---- code versions (CoreCLR code-versioning design) ------------------------------------------- */
typedef struct tk_cc_info tk_cc_info;
typedef struct tk_native_version {
    struct tk_drv_method *m;
    struct tk_il_version *il;
    int32_t tier;
    _Atomic(void *) code;          /* emitted entry, NULL until compiled     */
    tk_code_ctx ctx;               /* what the body learns                   */
    tk_cc_info *info;              /* call-counting info (non-final tiers)   */
    bool counting_done;            /* counting completed; its info may be gone */
    struct tk_native_version *next;
} tk_native_version;

typedef struct tk_il_version {
    uint32_t id;
    tk_native_version *active;     /* active native version (may be uncompiled) */
    tk_native_version *versions;   /* all native versions of this IL version */
    struct tk_il_version *next;
} tk_il_version;

/* ---- call counting -------------------------------------------------------- */
enum { CC_NOT_ACTIVE = 0, CC_MAY_BE_ACTIVE, CC_PENDING_COMPLETION, CC_COMPLETE };

/* 24 bytes, one malloc chunk of 32 (the counting bookkeeping of
 * `counting_info_bytes`): no list links; the runtime finds infos through
 * its methods' native versions (nv->info) and queues pending ones in an
 * array.  The runtime is nv->m->rt. */
struct tk_cc_info {
    uint16_t cell;                 /* countdown; the stub's token            */
    uint16_t initial;              /* value the cell started at              */
    uint8_t stage;                 /* CC_*                                   */
    tk_native_version *nv;
    void *stub;                    /* NULL once deleted                      */
};

/* ---- slots ---------------------------------------------------------------- */

/* A recorded slot of method m is always &type->vtable[m->vslot] (the
 * prestub records only vtable slots that hold m); type->slot_rec[m->vslot]
 * is 1 + the record's index in m->slots, so a duplicate is found and a
 * type's records are dropped at unload in O(1) per slot, without walking
 * other methods or types (both were linear scans: quadratic under type
 * churn).  Records are removed by swap-with-last, so their order in
 * m->slots is not stable (a backpatch pass does not depend on it). */
typedef struct tk_slot_rec {
    void **slot;
    struct tk_drv_type *type;      /* type whose vtable holds it             */
} tk_slot_rec;

/* ---- methods ------------------------------------------------------------- */
struct tk_drv_method {
    struct tk_drv_runtime *rt;
    uint32_t id;
    char *name;
    tk_body_fn body;
    void *user;
    uint32_t flags;
    struct tk_drv_type *decl;      /* declaring type                         */
    bool is_virtual;
    uint32_t vslot;                /* vtable slot (virtuals)                 */
    void *own_slot;                /* owning slot storage for non-virtuals   */
    bool dead;                     /* declaring type unloaded (set under the code-version
                                      lock, atomically: lifetime.c reads it under the
                                      tiering lock)                          */
    bool was_counted;              /* counting began once (methods_counted)  */

    _Atomic(void *) tep;           /* temporary entry point (FixupPrecode)   */
    _Atomic(void *) forwarder;     /* forwarder, a FixupPrecode of its own
                                      (strategies/forwarder.c); set once under
                                      the code-version lock, read lock-free by
                                      address classification (precode.c)     */

    /* Entry-point state, changed under the code-version lock; read by
     * DoBackpatch under the backpatch lock. */
    _Atomic(void *) ep;            /* the entry point slots agree with       */
    void *ep_prev;                 /* value before the last change           */
    _Atomic int published;         /* separate 'published' flag (§5.4 fix)  */
    tk_cc_info *counting;          /* info whose stub is in the call path    */
    tk_native_version *pub_nv;     /* version last announced by `publish`    */
    uint64_t delay_gen;            /* window it is recorded in (0: none; tier lock) */

    tk_slot_rec *slots;            /* recorded slots (backpatch lock)        */
    uint32_t n_slots, cap_slots;

    tk_il_version *ils;            /* IL versions; ils = default (0)         */
    tk_il_version *active_il;
    uint32_t next_il;
    _Atomic uint64_t compiles;
    /* rt->methods: the methods of loaded and never-loaded types (a type's
     * unload unlinks its methods; they are freed with it, lifetime.c) */
    struct tk_drv_method *next_all, *prev_all;
};

/* ---- types --------------------------------------------------------------- */
struct tk_drv_type {
    struct tk_drv_runtime *rt;
    char *name;
    struct tk_drv_type *parent;
    uint32_t flags;
    uint32_t n_vt;                 /* vtable size (parent's + new)           */
    struct tk_drv_method **vt_methods;
    void **vtable;                 /* NULL while not loaded                  */
    uint32_t n_nv;
    struct tk_drv_method **nv_methods;
    uint32_t n_impls;
    tk_iface_impl_def *impls;
    bool loaded, unloaded;
    uint32_t n_loaded_children;    /* loaded, not unloaded children (obj lists lock) */
    uint32_t *slot_rec;            /* per vtable slot: 1 + record index in the slot's
                                      method's `slots`, 0 = not recorded (backpatch lock) */
    /* Lifetime after unload (lifetime.c; object lists lock): the struct and
     * its methods' structs stay while a child type's struct names it as
     * parent (n_child_structs) and while it is in the runtime's quarantine
     * of recently unloaded types (so a stale handle reads "unloaded"). */
    uint32_t n_child_structs;
    bool evicted;                  /* left the quarantine                    */
    struct tk_drv_type *grave_next;    /* graveyard / quarantine link        */
    struct tk_drv_type *next_all, *prev_all;
};

struct tk_drv_object { struct tk_drv_type *type; void *pad; };

/* ---- the runtime ------------------------------------------------------------ */
struct tk_strategy_ops;
struct tk_drv_runtime {
    tk_config cfg;
    const struct tk_strategy_ops *strat;   /* the design (reference/strategy.h) */
    tk_stub_heap *fixup_heap, *cc_heap;
    tk_code_heap *code_heap;

    pthread_mutex_t bp_lock;       /* slot-backpatch lock                    */
    pthread_mutex_t cv_lock;       /* code-version lock                      */
    pthread_mutex_t tier_lock;     /* tiering lock (queues, delay, worker)   */
    pthread_cond_t tier_cv;        /* worker wakeup                          */
    pthread_cond_t idle_cv;        /* drain waiters                          */
    pthread_mutex_t obj_mtx;       /* type/method lists                      */

    struct tk_drv_type *types;
    struct tk_drv_method *methods;
    _Atomic uint32_t next_method_id;

    /* tiering (tier_lock) */
    bool delay_active;
    uint64_t delay_deadline_ms;
    uint64_t delay_gen;            /* number of the current/last window      */
    struct tk_drv_method **delay_list;
    uint32_t n_delay, cap_delay;
    tk_cc_info **pending;          /* completion queue (tiering lock)        */
    uint32_t n_pending, cap_pending;
    tk_native_version **opt_queue;             /* versions to compile       */
    uint32_t n_opt, cap_opt;
    uint32_t completed_since_delete;
    /* Type reclamation (lifetime.c).  bg_batches: background steps under
     * way (run_once), which hold methods, versions and infos outside any
     * lock; an unloaded type whose safe point has passed waits in the
     * graveyard while one runs, and the last to finish frees it (tiering
     * lock).  quarantine: unloaded types whose metadata is freed but whose
     * structs are kept a while, oldest first (object lists lock). */
    uint32_t bg_batches;
    struct tk_drv_type *graveyard;
    struct tk_drv_type *quar_head, *quar_tail;
    uint32_t n_quar;
    /* The background worker (threaded mode) is created on demand and exits
     * after BackgroundWorkerTimeoutMs of idleness (CoreCLR's ".NET Tiered
     * JIT" thread).  worker_running: a worker exists or its creation has
     * been claimed; it goes false only when the worker decides to exit,
     * under the tiering lock with no work queued, so a producer that queues
     * work under the same lock either is seen by the worker or sees
     * worker_running == false and claims a new worker (no lost wake-up).
     * worker_start_pending: a claimed creation not yet taken up; the
     * claimant (or any thread) creates the thread after dropping every lock
     * (tkr_worker_ensure).  worker: the handle of the worker that last
     * started (each worker records itself and joins its predecessor, so
     * destroy joins only this one); worker_joinable: it is set. */
    bool worker_busy, worker_stop, worker_running;
    _Atomic bool worker_start_pending;
    pthread_t worker;
    bool worker_joinable;


    /* Internal instrumentation for the reference's own tests (not counters
     * of the driver ABI).  dbg_unload_rec_visits: slot records examined by
     * type unloads; dbg_batches_abandoned: background batches cut short
     * because a tiering delay began (tiering.c); dbg_item_hook, when set,
     * runs before each item of a background optimize batch, with no lock
     * held (tests use it to start a delay in the middle of a batch). */
    _Atomic uint64_t dbg_unload_rec_visits;
    _Atomic uint64_t dbg_batches_abandoned;
    /* dbg_worker_starts / dbg_worker_exits: background workers that began
     * running / that exited (idle timeout or runtime destroy). */
    _Atomic uint64_t dbg_worker_starts;
    _Atomic uint64_t dbg_worker_exits;
    void (*dbg_item_hook)(struct tk_drv_runtime *rt, uint32_t index, void *user);
    void *dbg_item_hook_user;
    /* dbg_worker_yields: time slices after which a background batch yielded
     * the CPU; dbg_yield_hook, when set, runs at each yield (tests advance
     * the manual clock there to model a long sleep), with
     * dbg_item_hook_user. */
    _Atomic uint64_t dbg_worker_yields;
    void (*dbg_yield_hook)(struct tk_drv_runtime *rt, void *user);
    /* The background work's current time slice in ms (CoreCLR
     * DoBackgroundWork's workDurationTicks): between the processor count
     * (at least 1) and 50 ms; touched only by the thread running the
     * background work. */
    uint32_t work_slice_ms;

    _Atomic uint64_t now_ms;       /* deterministic clock                    */

    _Atomic uint64_t ctr[TK_COUNTER_COUNT][2];

    /* events */
    pthread_mutex_t ev_mtx;
    tk_event_fn sink;
    void *sink_user;
    FILE *trace;
    int trace_errno;               /* first failed trace write (EIO if unknown); under ev_mtx */
    _Atomic int ev_on;
    uint64_t ev_seq;
};

/* ---- helpers shared between files ------------------------------------------ */
TK_HIDDEN extern const char *const tkr_counter_names[TK_COUNTER_COUNT];
TK_HIDDEN extern const uint8_t tkr_counter_split[TK_COUNTER_COUNT];

static inline void ctr_add(struct tk_drv_runtime *rt, int c, int phase, uint64_t v)
{
    atomic_fetch_add_explicit(&rt->ctr[c][phase], v, memory_order_relaxed);
}
static inline void ctr_sub(struct tk_drv_runtime *rt, int c, int phase, uint64_t v)
{
    atomic_fetch_sub_explicit(&rt->ctr[c][phase], v, memory_order_relaxed);
}
static inline int phase_of_tier(int32_t tier) { return TK_TIER_IS_FINAL(tier) ? TK_PHASE_FINAL : TK_PHASE_NONFINAL; }

/* config.c */
/* Derives the effective threshold, delay and processor count (CoreCLR
 * EEConfig::sync); tk_runtime_create applies it to the runtime's copy. */
TK_HIDDEN void tkr_config_effective(tk_config *c);
/* Whether a key must be applied before the others (the threshold clamp). */
TK_HIDDEN int tkr_config_key_first(const char *key);

/* runtime.c */
/* Lock ranks (SPEC `impl.lock-order`): a thread may only take a lock whose
 * rank is higher than every runtime lock it already holds.  Every
 * acquisition goes through tkr_lock()/tkr_bp_lock(), which, in builds with
 * TK_LOCK_RANK_CHECK (libtierkit.a that the reference tests link, the
 * sanitizer builds), check the rank against a per-thread mask of held
 * locks; a violation is counted in tkr_lock_order_violations (the
 * reference tests assert it stays 0) and reported once on stderr.  The
 * driver library (benchmarks, conformance) is built without it. */
enum { TKR_LK_BP = 0, TKR_LK_CV, TKR_LK_TIER, TKR_LK_OBJ, TKR_LK_CODE, TKR_LK_EV };
#ifdef TK_LOCK_RANK_CHECK
TK_HIDDEN extern _Atomic uint64_t tkr_lock_order_violations;
TK_HIDDEN void tkr_lock(pthread_mutex_t *mu, int rank);
TK_HIDDEN void tkr_unlock(pthread_mutex_t *mu, int rank);
TK_HIDDEN uint32_t tkr_locks_held(void);
/* Counts a violation unless this thread holds no runtime lock; called
 * right before thread creation and synchronize_rcu(). */
TK_HIDDEN void tkr_check_no_locks(const char *what);
#else
/* Release build: a plain mutex operation (the rank is documentation). */
static inline void tkr_lock(pthread_mutex_t *mu, int rank) { (void)rank; pthread_mutex_lock(mu); }
static inline void tkr_unlock(pthread_mutex_t *mu, int rank) { (void)rank; pthread_mutex_unlock(mu); }
static inline void tkr_check_no_locks(const char *what) { (void)what; }
#endif
/* Offline/online for a blocking wait: returns true if this call took a
 * registered, online thread offline (pass it to tkr_end_offline). */
TK_HIDDEN bool tkr_begin_offline(void);
TK_HIDDEN void tkr_end_offline(bool was_online);
TK_HIDDEN uint64_t tkr_now_ms(struct tk_drv_runtime *rt);
TK_HIDDEN uint64_t tkr_mono_ns(void);   /* CLOCK_MONOTONIC in ns, whatever the mode */
/* Every growable array of the runtime (queues, slot lists, deletion and
 * reclaim batches): make room for `need` elements of `elem` bytes,
 * doubling from `first`, so appends are amortised O(1).  Returns the
 * (possibly moved) array.  The runtime has no way back from a half-made
 * transition, so running out of memory for its bookkeeping aborts.  Inline:
 * a method's first slot record grows from nothing on the tier-up path, and
 * an out-of-line call there cost 12 instructions per method (notier, 1k
 * methods, cachegrind). */
static inline void *tkr_grow(void *v, uint32_t *cap, uint32_t need, size_t elem, uint32_t first)
{
    uint64_t nc = *cap ? *cap : first;
    while (nc < need) nc *= 2;
    if (nc > UINT32_MAX) nc = UINT32_MAX;   /* need <= UINT32_MAX still fits */
    void *nv = realloc(v, (size_t)nc * elem);
    if (!nv) abort();
    *cap = (uint32_t)nc;
    return nv;
}
static inline void *tkr_reserve(void *v, uint32_t *cap, uint32_t need, size_t elem, uint32_t first)
{
    return need <= *cap ? v : tkr_grow(v, cap, need, elem, first);
}
TK_HIDDEN uint32_t tkr_thread_id(void);
TK_HIDDEN void tkr_bp_lock(struct tk_drv_runtime *rt, int phase, uint64_t *t0);
TK_HIDDEN void tkr_bp_unlock(struct tk_drv_runtime *rt, int phase, uint64_t t0);
TK_HIDDEN bool tkr_thread_registered(void);

/* trace.c */
TK_HIDDEN void tkr_emit(struct tk_drv_runtime *rt, tk_event *ev);
TK_HIDDEN int tkr_trace_open(struct tk_drv_runtime *rt);
TK_HIDDEN void tkr_trace_close(struct tk_drv_runtime *rt);
static inline bool ev_on(struct tk_drv_runtime *rt) { return atomic_load_explicit(&rt->ev_on, memory_order_relaxed) != 0; }
TK_HIDDEN void tkr_ev_simple(struct tk_drv_runtime *rt, tk_event_kind k, struct tk_drv_method *m,
                             int32_t tier, uint32_t il, const char *reason);

/* precode.c */
TK_HIDDEN void *tkr_get_tep(struct tk_drv_method *m);
TK_HIDDEN void tkr_precode_set(struct tk_drv_runtime *rt, struct tk_drv_method *m, void *stub,
                               void *target, int phase);
TK_HIDDEN void tkr_precode_reset(struct tk_drv_runtime *rt, struct tk_drv_method *m, void *stub, int phase);
TK_HIDDEN void *tkr_stub_alloc(struct tk_drv_runtime *rt, tk_stub_kind kind, void *token, void *target,
                               struct tk_drv_method *m, int32_t tier, uint32_t il);
TK_HIDDEN void *tkr_forwarder_alloc(struct tk_drv_runtime *rt, struct tk_drv_method *m);
TK_HIDDEN void tkr_stub_free(struct tk_drv_runtime *rt, tk_stub_kind kind, void *stub,
                             struct tk_drv_method *m, int32_t tier, uint32_t il);

/* backpatch.c */
TK_HIDDEN void **tkr_owning_slot(struct tk_drv_method *m);
TK_HIDDEN void tkr_slot_write(struct tk_drv_runtime *rt, struct tk_drv_method *m, void **slot,
                              tk_slot_kind sk, void *val, int phase, const char *reason, bool count);
TK_HIDDEN void tkr_backpatch(struct tk_drv_runtime *rt, struct tk_drv_method *m, void *ep,
                             int phase, const char *reason);
TK_HIDDEN void tkr_record_slot(struct tk_drv_runtime *rt, struct tk_drv_method *m, void **slot,
                               struct tk_drv_type *t, void *ep, int phase);
TK_HIDDEN void tkr_forget_type_slots(struct tk_drv_runtime *rt, struct tk_drv_type *t);

/* codeversion.c */
TK_HIDDEN int32_t tkr_first_tier(struct tk_drv_runtime *rt, struct tk_drv_method *m);
TK_HIDDEN tk_native_version *tkr_nv_new(struct tk_drv_method *m, tk_il_version *il, int32_t tier);
TK_HIDDEN void *tkr_compile(struct tk_drv_runtime *rt, tk_native_version *nv);
TK_HIDDEN bool tkr_il_has_final(tk_il_version *il);

/* tiering.c */
TK_HIDDEN void tkr_set_code_entry_point(struct tk_drv_runtime *rt, struct tk_drv_method *m,
                                        tk_native_version *nv, bool first_call);
TK_HIDDEN void tkr_publish_native(struct tk_drv_runtime *rt, struct tk_drv_method *m, tk_native_version *nv);
TK_HIDDEN void tkr_announce_publish(struct tk_drv_runtime *rt, struct tk_drv_method *m, tk_native_version *nv);
TK_HIDDEN bool tkr_set_code_entry_point_called(struct tk_drv_runtime *rt, struct tk_drv_method *m,
                                               tk_native_version *nv);
TK_HIDDEN void tkr_reset_entry_point(struct tk_drv_runtime *rt, struct tk_drv_method *m);
TK_HIDDEN void tkr_run_background(struct tk_drv_runtime *rt);
/* Work was queued (delay begun, completion, compile): wakes the worker or,
 * if none is running (threaded mode), claims its creation.  Tiering lock
 * held.  The caller calls tkr_worker_ensure after dropping every lock. */
TK_HIDDEN void tkr_work_queued_locked(struct tk_drv_runtime *rt);
/* Creates a claimed worker, if any.  No lock held. */
TK_HIDDEN void tkr_worker_ensure(struct tk_drv_runtime *rt);
TK_HIDDEN void tkr_worker_stop(struct tk_drv_runtime *rt);
/* The background work's time slice back to its minimum (runtime creation,
 * each new worker thread, as CoreCLR's BackgroundWorkerStart). */
TK_HIDDEN void tkr_work_slice_reset(struct tk_drv_runtime *rt);

/* callcount.c */
TK_HIDDEN void tkr_install_counting(struct tk_drv_runtime *rt, struct tk_drv_method *m, tk_native_version *nv);
TK_HIDDEN bool tkr_count_prestub_call(struct tk_drv_runtime *rt, struct tk_drv_method *m, tk_native_version *nv);
TK_HIDDEN void *tkr_threshold_handler(void *token, tk_arch_regs *regs);
TK_HIDDEN void tkr_complete_counting(struct tk_drv_runtime *rt);
TK_HIDDEN void tkr_stop_counting(struct tk_drv_runtime *rt, struct tk_drv_method *m);
TK_HIDDEN void tkr_maybe_delete_stubs(struct tk_drv_runtime *rt);
TK_HIDDEN void tkr_free_infos(struct tk_drv_runtime *rt);

/* lifetime.c */
/* Unloaded types whose structs (and their methods') are kept, newest. */
#define TKR_QUARANTINE_TYPES 64
/* Background step begins / ends (tiering.c run_once); no lock held. */
TK_HIDDEN void tkr_bg_enter(struct tk_drv_runtime *rt);
TK_HIDDEN void tkr_bg_exit(struct tk_drv_runtime *rt);
/* Code-version and object-list locks held: m leaves rt->methods. */
TK_HIDDEN void tkr_method_unlink_locked(struct tk_drv_runtime *rt, struct tk_drv_method *m);
/* An unloaded type, after every mutator passed a safe point: its methods'
 * versions, infos, code and slot records are freed as soon as no
 * background step is under way; its structs after the quarantine.  No
 * lock held. */
TK_HIDDEN void tkr_type_retire(struct tk_drv_runtime *rt, struct tk_drv_type *t);
/* Runtime destroy: every type and method struct. */
TK_HIDDEN void tkr_free_all_types(struct tk_drv_runtime *rt);
TK_HIDDEN void tkr_info_free(struct tk_drv_runtime *rt, tk_cc_info *i);

/* prestub.c */
TK_HIDDEN void *tkr_prestub_handler(void *token, tk_arch_regs *regs);

/* classify */
TK_HIDDEN void tkr_classify(struct tk_drv_runtime *rt, const void *addr, tk_addr_info *out);

#endif
