/* reference/tests/reftest.h — shared helpers of the reference tests. */
#ifndef REFTEST_H
#define REFTEST_H
#include <check.h>
#include "tierkit.h"

/* Loops over strategies run on every registered design, eager-final
 * included (a defect only eager-final reaches survived tests that looped
 * over the published five).  Tiered-only tests loop i = 0 ..
 * ref_tiered_count() - 1 and run strategy ref_tiered(i): every registered
 * strategy but notier. */
static inline int ref_tiered_count(void) { return (int)tk_strategy_count() - 1; }
static inline int ref_tiered(int i) { return i < TK_STRATEGY_NOTIER ? i : i + 1; }

/* Call through a slot the way JIT code does: load, then call. */
static inline int64_t call_slot(void **slot, void *self, int64_t a0)
{
    tk_entry_fn f = (tk_entry_fn)__atomic_load_n(slot, __ATOMIC_ACQUIRE);
    return f(self, a0, 0, 0, 0);
}

/* A runtime in deterministic mode (rt_new) or in MODE, with the strategy
 * (NULL: the default) and the extra key/value pairs (NULL-terminated). */
tk_runtime *rt_new(const char *strategy, const char *const *extra);
tk_runtime *rt_new_mode(const char *mode, const char *strategy, const char *const *extra);
/* Base { V0 (tag 1), V1 (tag 2) ; nonvirtual N (tag 3) }, loaded, with one
 * object; every method runs `body` (tag = tk_code_ctx.user). */
typedef struct fx { tk_runtime *rt; tk_type *base; tk_object *obj; } fx;
void fx_init_with(fx *f, const char *strategy, const char *const *extra, tk_body_fn body);
void fx_done(fx *f);
int64_t counter_phase(tk_runtime *rt, const char *name, int final);
void advance_and_drain(tk_runtime *rt, uint64_t ms);

TCase *tcase_units(void);
TCase *tcase_seed(void);
TCase *tcase_threaded(void);
TCase *tcase_impl(void);
TCase *tcase_config_env(void);
TCase *tcase_lifetime(void);
TCase *tcase_coreclr_config(void);
TCase *tcase_faults(void);
TCase *tcase_observe(void);
TCase *tcase_rejects(void);
TCase *tcase_counters(void);
TCase *tcase_bookkeeping(void);
TCase *tcase_callcount(void);
TCase *tcase_tiering(void);
#endif
