/* tierkit.h — public API of libtierkit, the tierkit reference runtime.
 *
 * The reference runtime does for virtual and non-virtual methods what
 * CoreCLR does: temporary-entry-point precodes, call-counting stubs, code
 * versions, tiers, the tiering delay, a background worker, slot recording in
 * the prestub and backpatching.  Five published strategies for moving
 * callers between code versions are selectable per runtime instance
 * (SPEC.md "Reference runtime").
 *
 * Value types (type/method definitions, code context, events, counters,
 * address info, method state, TK_TIER_*) are the driver ABI's, from
 * tk_driver.h; the reference's handles are the driver's opaque structs made
 * concrete.  All public symbols are prefixed tk_.
 */
#ifndef TIERKIT_H
#define TIERKIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "tk_driver.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_drv_runtime tk_runtime;
typedef struct tk_drv_type tk_type;
typedef struct tk_drv_method tk_method;
typedef struct tk_drv_object tk_object;

/* ---- configuration ------------------------------------------------------ */

/* A strategy is an index into the runtime's table of designs
 * (reference/strategies/registry.c): the five published designs have the
 * constants below; designs added to the table later (README.md "Adding a
 * strategy") follow them, up to tk_strategy_count(), and are named by
 * tk_strategy_names. */
typedef enum tk_strategy {
    TK_STRATEGY_FORWARDER = 0,    /* CoreCLR before PR #124664               */
    TK_STRATEGY_PRECODE_REUSE,    /* PR #124664, with its defects corrected  */
    TK_STRATEGY_LAZY,             /* PR #125359, with its defect corrected   */
    TK_STRATEGY_ENTRY_CELL,       /* slots always hold the precode           */
    TK_STRATEGY_NOTIER,           /* final code at first call                */
    TK_STRATEGY_COUNT             /* number of the published five           */
} tk_strategy;

typedef enum tk_mode {
    TK_MODE_DETERMINISTIC = 0,    /* manual clock, work runs in tk_drain     */
    TK_MODE_THREADED              /* background worker + CLOCK_MONOTONIC     */
} tk_mode;

/* What a deletion pass (DeleteCallCountingStubsAfter > 0) frees. */
typedef enum tk_stub_deletion {
    TK_STUB_DELETION_ALL = 0,     /* CoreCLR: stop all counting, free every
                                     counting stub and completed info      */
    TK_STUB_DELETION_INACTIVE     /* tierkit extension: only stubs no entry
                                     point leads to; active ones keep counting */
} tk_stub_deletion;

typedef struct tk_config {
    uint32_t call_count_threshold;        /* CallCountThreshold, 1..65535    */
    uint32_t call_counting_delay_ms;      /* CallCountingDelayMs             */
    bool tiered_pgo;                      /* TieredPGO                       */
    bool tiered_compilation;              /* TieredCompilation               */
    uint32_t delete_stubs_after;          /* DeleteCallCountingStubsAfter    */
    tk_strategy strategy;                 /* Strategy                        */
    tk_mode mode;                         /* Mode                            */
    uint32_t compile_cost_us;             /* CompileCostUs                   */
    char trace_path[512];                 /* Trace ("" = off)                */
    uint32_t worker_timeout_ms;           /* BackgroundWorkerTimeoutMs       */
    tk_stub_deletion stub_deletion;       /* CallCountingStubDeletion        */
    /* CoreCLR-compatible configuration semantics (SPEC.md "CoreCLR
     * configuration semantics and the reference"). */
    bool threshold_clamp;                 /* CallCountThresholdClamp: 0 -> 1,
                                             > 65535 -> 65535 as CoreCLR;
                                             off: out of range is an error */
    uint32_t delay_single_proc_multiplier;/* DelaySingleProcMultiplier: the
                                             delay x this on one CPU (10)  */
    bool aggressive_tiering;              /* AggressiveTiering: threshold 1,
                                             delay 0                       */
    uint32_t processor_count;             /* PROCESSOR_COUNT: 0 = the CPUs of
                                             the affinity mask (at create) */
} tk_config;

/* Defaults as CoreCLR release builds (mode: threaded). */
void tk_config_defaults(tk_config *cfg);
/* Sets one key ("CallCountThreshold", ...; CoreCLR names without the TC_
 * prefix).  Returns 0, or -1 with a message naming key, value and the
 * allowed range in err.  CallCountThreshold is checked against the
 * CallCountThresholdClamp set so far: set the clamp first (the driver and
 * tk_config_from_env do). */
int tk_config_set(tk_config *cfg, const char *key, const char *value,
                  char *err, size_t errlen);
/* Applies every TK_<Key> environment variable that is set. */
int tk_config_from_env(tk_config *cfg, char *err, size_t errlen);
/* "Key=Value\n" lines of the configuration; returns length.  For a
 * runtime's (tk_runtime_config) these are the effective values: the
 * threshold and delay after the single-CPU multiplier and AggressiveTiering,
 * PROCESSOR_COUNT the count used. */
size_t tk_config_describe(const tk_config *cfg, char *buf, size_t len);
const char *tk_strategy_name(tk_strategy s);
/* NULL-terminated list of strategy names (every registered design). */
extern const char *const tk_strategy_names[];
/* Number of registered designs (>= TK_STRATEGY_COUNT). */
size_t tk_strategy_count(void);

/* ---- runtime ------------------------------------------------------------ */

tk_runtime *tk_runtime_create(const tk_config *cfg, char *err, size_t errlen);
void tk_runtime_destroy(tk_runtime *rt);
const tk_config *tk_runtime_config(const tk_runtime *rt);

/* ---- types, methods, objects, slots -------------------------------------- */

tk_type *tk_type_define(tk_runtime *rt, const tk_type_def *def, char *err, size_t errlen);
int tk_type_load(tk_runtime *rt, tk_type *t);
int tk_type_unload(tk_runtime *rt, tk_type *t);
uint32_t tk_type_vtable_size(const tk_type *t);
const char *tk_type_name(const tk_type *t);
tk_method *tk_type_virtual_method(const tk_type *t, uint32_t slot);
tk_method *tk_type_nonvirtual_method(const tk_type *t, uint32_t index);
tk_object *tk_object_new(tk_runtime *rt, tk_type *t);
void tk_object_free(tk_runtime *rt, tk_object *o);

void **tk_vtable_slot(tk_type *t, uint32_t slot);
void **tk_interface_slot(tk_type *t, tk_type *iface, uint32_t iface_slot);
void **tk_method_slot(tk_method *m);                 /* the owning slot   */
const char *tk_method_name(const tk_method *m);
uint32_t tk_method_id(const tk_method *m);

/* ---- threads (liburcu QSBR) ---------------------------------------------- */

void tk_thread_register(tk_runtime *rt);
void tk_thread_unregister(tk_runtime *rt);
void tk_safepoint(tk_runtime *rt);
void tk_thread_offline(tk_runtime *rt);
void tk_thread_online(tk_runtime *rt);

/* ---- background work ------------------------------------------------------ */

/* Deterministic mode: advances the manual clock (ms).  Threaded: no-op. */
void tk_clock_advance(tk_runtime *rt, uint64_t ms);
/* Runs (deterministic) or waits for (threaded) all pending background work. */
void tk_drain(tk_runtime *rt);
uint64_t tk_clock_now_ms(tk_runtime *rt);

/* ---- code versioning ------------------------------------------------------ */

int64_t tk_version_request(tk_runtime *rt, tk_method *m);
int tk_version_revert(tk_runtime *rt, tk_method *m);

/* ---- introspection -------------------------------------------------------- */

void tk_method_get_state(tk_runtime *rt, tk_method *m, tk_method_state *out);
void tk_classify_address(tk_runtime *rt, const void *addr, tk_addr_info *out);
const char *tk_addr_class_name(tk_addr_class c);
const char *tk_tier_name(int32_t tier);
/* Fills up to cap counters; returns how many exist (TK_COUNTER_COUNT). */
size_t tk_counters(tk_runtime *rt, tk_counter *out, size_t cap);
/* Value of one counter by name (nonfinal + final); -1 if unknown name. */
int64_t tk_counter_total(tk_runtime *rt, const char *name);
void tk_set_event_sink(tk_runtime *rt, tk_event_fn fn, void *user);
const char *tk_event_name(tk_event_kind k);

/* The driver ABI table (also exported by libtk_ref_driver.so). */
const tk_driver *tk_driver_v1(void);

#ifdef __cplusplus
}
#endif
#endif
