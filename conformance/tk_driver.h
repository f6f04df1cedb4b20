/* conformance/tk_driver.h — the tierkit driver ABI, version 1.
 *
 * A runtime that wants to be validated by the conformance suite (tk-conform)
 * or benchmarked by tk-bench exports, from a shared library, one function:
 *
 *     const tk_driver *tk_driver_v1(void);
 *
 * returning a table of function pointers plus capability flags.  Tests and
 * workloads use nothing else: they never see the implementation's types.
 * Features an implementation lacks are declared by clearing a capability
 * flag; tests that need them report UNSUPPORTED, never FAIL.
 *
 * Calling model ("as JIT code would"): a caller gets the address of a slot
 * (a vtable slot, an interface-resolved vtable slot, or a method's owning
 * slot), loads the slot value, and calls the loaded address with the C
 * signature tk_entry_fn — possibly much later (the arm64 hazard,
 * SPEC.md `inv.slot.no-deletable-stub`).  Instance methods receive the
 * object as their first argument; the implementation may use it (and only
 * it) to find the dispatching type, as CoreCLR's prestub does.
 *
 * Versioning of this header: additions go at the END of struct tk_driver
 * and are announced by a larger `size` field (test with TK_DRIVER_HAS); a
 * change that breaks layout bumps TK_DRIVER_ABI_VERSION and the entry point
 * name (tk_driver_v2).  Additions so far: fp_arg_regs (floating-point
 * argument bodies, TK_METHOD_FP_ARGS); config_keys (optional configuration
 * keys with CoreCLR's semantics).
 */
#ifndef TK_DRIVER_H
#define TK_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TK_DRIVER_ABI_VERSION 1

/* Opaque handles, owned by the implementation. */
typedef struct tk_drv_runtime tk_drv_runtime;
typedef struct tk_drv_type tk_drv_type;
typedef struct tk_drv_method tk_drv_method;
typedef struct tk_drv_object tk_drv_object;

/* ---- tiers (values as CoreCLR's NativeCodeVersion::OptimizationTier) ---- */
enum {
    TK_TIER_0 = 0,
    TK_TIER_1 = 1,                 /* final */
    TK_TIER_OPTIMIZED = 3,         /* final */
    TK_TIER_0_INSTRUMENTED = 4,
    TK_TIER_UNKNOWN = -1           /* not yet compiled / not published     */
};
#define TK_TIER_IS_FINAL(t) ((t) == TK_TIER_1 || (t) == TK_TIER_OPTIMIZED)

/* ---- method bodies ------------------------------------------------------ */

/* What a body learns about the code version that is running it. */
typedef struct tk_code_ctx {
    tk_drv_method *method;
    int32_t tier;                  /* TK_TIER_*                              */
    uint32_t il_version;           /* 0 = default IL version                 */
    void *user;                    /* the method definition's `user`         */
} tk_code_ctx;

/* A body is plain C.  Its native entry (what slots end up holding) has the
 * caller-side signature tk_entry_fn: self/first argument plus four more. */
typedef int64_t (*tk_body_fn)(const tk_code_ctx *ctx, void *self, int64_t a0,
                              int64_t a1, int64_t a2, int64_t a3);
typedef int64_t (*tk_entry_fn)(void *self, int64_t a0, int64_t a1, int64_t a2,
                               int64_t a3);

/* ---- types ---------------------------------------------------------------- */

typedef struct tk_method_def {
    const char *name;              /* for traces and messages                */
    tk_body_fn body;               /* NULL: abstract (slot never called)     */
    void *user;                    /* handed back in tk_code_ctx.user        */
    uint32_t flags;                /* TK_METHOD_*                            */
} tk_method_def;

#define TK_METHOD_NOT_TIERED   0x1u /* compiled straight at Optimized        */
/* The body takes floating-point arguments: `body` is a tk_fp_body_fn cast
 * to tk_body_fn, and callers call entry points as tk_fp_entry_fn.  Only for
 * drivers whose fp_arg_regs (below) is non-zero. */
#define TK_METHOD_FP_ARGS      0x2u

/* Floating-point argument registers (xmm0-7 on SysV x86-64, v0-v7 on
 * AAPCS64) reach the body unchanged through every entry point a slot can
 * hold: precodes, call-counting stubs, trampolines and native entries
 * (`inv.semantics.arguments-preserved`). */
typedef double (*tk_fp_body_fn)(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2,
                                 int64_t a3, double f0, double f1, double f2, double f3, double f4, double f5,
                                 double f6, double f7);
typedef double (*tk_fp_entry_fn)(void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3, double f0,
                                 double f1, double f2, double f3, double f4, double f5, double f6, double f7);

typedef struct tk_override_def {
    uint32_t slot;                 /* parent vtable slot being overridden    */
    tk_method_def method;
} tk_override_def;

typedef struct tk_iface_impl_def {
    tk_drv_type *iface;            /* an interface type                      */
    uint32_t iface_slot;           /* index among the interface's methods    */
    uint32_t vtable_slot;          /* slot of this type implementing it      */
} tk_iface_impl_def;

#define TK_TYPE_INTERFACE  0x1u    /* only declares (abstract) virtuals      */
#define TK_TYPE_ABSTRACT   0x2u

/* A class: its vtable is the parent's slots followed by `n_virtuals` new
 * ones.  Inherited slots that are not overridden are NOT copied from the
 * parent's current values (`inv.slot.inherit-temporary-entry`). */
typedef struct tk_type_def {
    const char *name;
    tk_drv_type *parent;           /* NULL for a root class / interface      */
    uint32_t flags;                /* TK_TYPE_*                              */
    uint32_t n_virtuals;
    const tk_method_def *virtuals;
    uint32_t n_overrides;
    const tk_override_def *overrides;
    uint32_t n_methods;            /* non-virtual methods (each owns a slot) */
    const tk_method_def *methods;
    uint32_t n_impls;
    const tk_iface_impl_def *impls;
} tk_type_def;

/* ---- addresses ------------------------------------------------------------ */

typedef enum tk_addr_class {
    TK_AC_UNKNOWN = 0,
    TK_AC_PRESTUB,                 /* the prestub (or a precode aimed at it) */
    TK_AC_PRECODE,                 /* the method's temporary entry precode   */
    TK_AC_FORWARDER,               /* a per-method forwarder precode         */
    TK_AC_CALLCOUNT_STUB,          /* a live call-counting stub              */
    TK_AC_NATIVE_CODE,             /* native code of method@tier/version     */
    TK_AC_FREED,                   /* a freed (deleted) stub                 */
} tk_addr_class;

typedef struct tk_addr_info {
    tk_addr_class cls;
    tk_drv_method *method;         /* NULL for UNKNOWN/PRESTUB/FREED         */
    int32_t tier;                  /* NATIVE_CODE, CALLCOUNT_STUB            */
    uint32_t il_version;           /* NATIVE_CODE, CALLCOUNT_STUB            */
} tk_addr_info;

typedef struct tk_method_state {
    int32_t tier;                  /* tier of the active native version      */
    uint32_t il_version;           /* active IL version                      */
    uint32_t published;            /* 1 once an entry point has been set     */
    uint32_t counting;             /* 1 while a call-counting stub is active */
    uint64_t compiles;             /* native versions compiled so far        */
} tk_method_state;

/* ---- events (also what TK_Trace writes as JSON Lines) ------------------ */

typedef enum tk_event_kind {
    TK_EV_SLOT_WRITE = 1,          /* slot, old, new, reason                 */
    TK_EV_SLOT_RECORD,             /* prestub recorded slot (new = value)    */
    TK_EV_PRECODE_RETARGET,        /* stub = precode, old, new               */
    TK_EV_STUB_ALLOC,              /* stub, stub_kind                        */
    TK_EV_STUB_FREE,               /* stub, stub_kind                        */
    TK_EV_VERSION_PUBLISH,         /* method, tier, il_version, new = code   */
    TK_EV_VERSION_ACTIVATE,        /* method, il_version                     */
    TK_EV_LOCK_ACQUIRE,            /* the slot-backpatch lock                */
    TK_EV_LOCK_RELEASE,
    TK_EV_BACKPATCH_BEGIN,         /* method, new = entry point              */
    TK_EV_BACKPATCH_END,
    TK_EV_THRESHOLD,               /* method, tier, il_version               */
    TK_EV_PROMOTE,                 /* method, tier (new), old tier in aux    */
    TK_EV_COUNTING_BEGIN,          /* method, tier                           */
    TK_EV_COUNTING_COMPLETE,       /* method, tier                           */
    TK_EV_DELAY_BEGIN,
    TK_EV_DELAY_EXTEND,
    TK_EV_DELAY_END,
    TK_EV_SAFEPOINT_SYNC,          /* all mutators passed a safe point       */
    TK_EV_TYPE_LOAD,
    TK_EV_TYPE_UNLOAD,
    TK_EV_KIND_COUNT
} tk_event_kind;

/* Which phase an event belongs to (SPEC.md "Counters"): final iff the
 * entry point being published or installed is final-tier code. */
typedef enum tk_phase { TK_PHASE_NONFINAL = 0, TK_PHASE_FINAL = 1 } tk_phase;

/* The kind of a slot in slot events. */
typedef enum tk_slot_kind {
    TK_SLOT_VTABLE = 0,            /* a vtable slot of some type             */
    TK_SLOT_OWNING = 1,            /* the declaring type's own vtable slot   */
    TK_SLOT_NONVIRTUAL = 2         /* a non-virtual method's own slot        */
} tk_slot_kind;

typedef struct tk_event {
    tk_event_kind kind;
    uint64_t seq;                  /* global order                           */
    uint64_t thread;               /* small thread id                        */
    tk_drv_method *method;
    tk_drv_type *type;
    void **slot;
    void *stub;
    uint32_t stub_kind;            /* tk_addr_class of `stub`                */
    void *old_value;
    void *new_value;
    tk_addr_info old_info, new_info;
    int32_t tier;
    uint32_t il_version;
    int64_t aux;                   /* promote: the tier before               */
    const char *reason;            /* short static string, may be NULL       */
    tk_phase phase;                /* slot, retarget and backpatch events    */
    tk_slot_kind slot_kind;        /* slot events                            */
} tk_event;

typedef void (*tk_event_fn)(void *user, const tk_event *ev);

/* ---- counters --------------------------------------------------------------
 * Each counter has a value for the non-final-tier phase and the final-tier
 * phase (SPEC.md "Counters" defines which phase an increment belongs to);
 * counters with no phase put everything in `final` and set `split` = 0. */
typedef struct tk_counter {
    const char *name;
    uint64_t nonfinal;
    uint64_t final;
    uint32_t split;
} tk_counter;

/* ---- capabilities --------------------------------------------------------- */
#define TK_CAP_DETERMINISTIC   (1u << 0)  /* manual clock + drain            */
#define TK_CAP_THREADED        (1u << 1)  /* real background worker          */
#define TK_CAP_INTERFACES      (1u << 2)
#define TK_CAP_TYPE_UNLOAD     (1u << 3)
#define TK_CAP_VERSIONING      (1u << 4)  /* request/revert IL versions      */
#define TK_CAP_STUB_DELETION   (1u << 5)  /* DeleteCallCountingStubsAfter    */
#define TK_CAP_CLASSIFY        (1u << 6)
#define TK_CAP_EVENTS          (1u << 7)
#define TK_CAP_COUNTERS        (1u << 8)
#define TK_CAP_PGO             (1u << 9)  /* Tier0Instrumented               */
#define TK_CAP_TRACE_FILE      (1u << 10) /* Trace=path config key           */

/* ---- the table ------------------------------------------------------------ */
typedef struct tk_driver {
    uint32_t abi_version;          /* TK_DRIVER_ABI_VERSION                  */
    uint32_t size;                 /* sizeof(tk_driver) the library built    */
    const char *name;              /* e.g. "tierkit-reference"               */
    const char *version;           /* implementation version string          */
    uint64_t caps;                 /* TK_CAP_*                               */
    /* NULL-terminated list of strategy names the implementation accepts in
     * the "Strategy" config key (may be {NULL} if it has a single design). */
    const char *const *strategies;

    /* Runtime lifetime.  `config` is a NULL-terminated array of "Key=Value"
     * strings; standard keys: Strategy, CallCountThreshold,
     * CallCountingDelayMs, TieredPGO, TieredCompilation,
     * DeleteCallCountingStubsAfter, Mode (deterministic|threaded),
     * CompileCostUs, Trace (path), BackgroundWorkerTimeoutMs; optional
     * keys: those listed in `config_keys` (below).  Unknown keys and bad
     * values: NULL return and a message in err. */
    tk_drv_runtime *(*create)(const char *const *config, char *err, size_t errlen);
    void (*destroy)(tk_drv_runtime *rt);
    /* Effective configuration as "Key=Value" lines into buf; returns length. */
    size_t (*describe_config)(tk_drv_runtime *rt, char *buf, size_t len);

    /* Types. define() validates and creates an unloaded type; load() builds
     * its vtable (every slot at the method's temporary entry point).  */
    tk_drv_type *(*type_define)(tk_drv_runtime *rt, const tk_type_def *def,
                                char *err, size_t errlen);
    int (*type_load)(tk_drv_runtime *rt, tk_drv_type *t);
    int (*type_unload)(tk_drv_runtime *rt, tk_drv_type *t);
    uint32_t (*vtable_size)(tk_drv_type *t);
    tk_drv_method *(*virtual_method)(tk_drv_type *t, uint32_t slot);
    tk_drv_method *(*nonvirtual_method)(tk_drv_type *t, uint32_t index);
    tk_drv_object *(*object_new)(tk_drv_runtime *rt, tk_drv_type *t);
    void (*object_free)(tk_drv_runtime *rt, tk_drv_object *o);

    /* Slot addresses for calls (valid while the type is loaded). */
    void **(*vtable_slot)(tk_drv_type *t, uint32_t slot);
    void **(*interface_slot)(tk_drv_type *t, tk_drv_type *iface, uint32_t iface_slot);
    void **(*method_slot)(tk_drv_method *m);   /* owning slot */

    /* Threads: every thread that calls through slots attaches first and
     * passes safe points; a thread about to block goes offline. */
    void (*thread_attach)(tk_drv_runtime *rt);
    void (*thread_detach)(tk_drv_runtime *rt);
    void (*safepoint)(tk_drv_runtime *rt);
    void (*thread_offline)(tk_drv_runtime *rt);
    void (*thread_online)(tk_drv_runtime *rt);

    /* Deterministic mode: advance the manual clock, then run all pending
     * background work (delay expiry, completions, compiles, deletions) on
     * the calling thread until idle.  In threaded mode drain() waits until
     * the background worker is idle. */
    void (*clock_advance)(tk_drv_runtime *rt, uint64_t ms);
    void (*drain)(tk_drv_runtime *rt);

    /* Code versioning (ReJIT-like). request returns the new IL version
     * (> 0), made active; revert makes the default version active again. */
    int64_t (*version_request)(tk_drv_runtime *rt, tk_drv_method *m);
    int (*version_revert)(tk_drv_runtime *rt, tk_drv_method *m);

    /* Introspection. */
    void (*method_state)(tk_drv_runtime *rt, tk_drv_method *m, tk_method_state *out);
    const char *(*method_name)(tk_drv_method *m);
    void (*classify)(tk_drv_runtime *rt, const void *addr, tk_addr_info *out);
    /* Fills up to cap counters, returns how many exist. */
    size_t (*counters)(tk_drv_runtime *rt, tk_counter *out, size_t cap);
    void (*set_event_sink)(tk_drv_runtime *rt, tk_event_fn fn, void *user);

    /* ---- additions within ABI version 1 (present when `size` covers them,
     * see TK_DRIVER_HAS); a driver built against an older header has a
     * smaller `size` and callers treat the field as 0. ---- */

    /* Number of floating-point argument registers an entry point passes to
     * a TK_METHOD_FP_ARGS body unchanged (8 on x86-64 and arm64); 0: such
     * bodies are not supported. */
    uint32_t fp_arg_regs;

    /* Optional configuration keys create() accepts besides the standard
     * ones, NULL-terminated; NULL (or a table without the field): none.
     * Listing a key promises the semantics SPEC.md "Optional configuration
     * keys" gives it (CoreCLR's: CallCountThresholdClamp,
     * DelaySingleProcMultiplier, PROCESSOR_COUNT, AggressiveTiering); the
     * tests of a key the driver does not list report UNSUPPORTED. */
    const char *const *config_keys;
} tk_driver;

/* Whether driver table d (of d->size bytes) has the field `f`. */
#define TK_DRIVER_HAS(d, f) ((d)->size >= offsetof(tk_driver, f) + sizeof((d)->f))

typedef const tk_driver *(*tk_driver_entry_fn)(void);
#define TK_DRIVER_ENTRY_SYMBOL "tk_driver_v1"

#ifdef __cplusplus
}
#endif
#endif
