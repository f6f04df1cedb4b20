/* reference/tests/reftest.h — shared helpers of the reference tests. */
#ifndef REFTEST_H
#define REFTEST_H
#include <check.h>
#include "tierkit.h"

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
int64_t counter_phase(tk_runtime *rt, const char *name, int final);
void advance_and_drain(tk_runtime *rt, uint64_t ms);

TCase *tcase_units(void);
TCase *tcase_seed(void);
TCase *tcase_threaded(void);
TCase *tcase_impl(void);
#endif
