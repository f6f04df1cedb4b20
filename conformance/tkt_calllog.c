/* conformance/tkt_calllog.c — the method body every test method shares,
 * the per-test call log, and calling through slots as JIT code would. */
#include "tkt.h"
#include "tkt_internal.h"

/* ---- call log ----------------------------------------------------------------------------- */
#define LOG_CAP (1u << 16)
#define MAX_IDS 4096
static tkt_call log_buf[LOG_CAP];
static size_t log_n;
static uint64_t per_id[MAX_IDS];

void tkt_log_reset(void)
{
    __atomic_store_n(&log_n, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < MAX_IDS; i++) __atomic_store_n(&per_id[i], 0, __ATOMIC_RELAXED);
}

int64_t tkt_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    int id = ctx ? (int)(intptr_t)ctx->user : -1;
    size_t i = __atomic_fetch_add(&log_n, 1, __ATOMIC_ACQ_REL);
    if (i < LOG_CAP) {
        log_buf[i].id = id;
        log_buf[i].tier = ctx ? ctx->tier : TK_TIER_UNKNOWN;
        log_buf[i].il_version = ctx ? ctx->il_version : 0;
        log_buf[i].arg = a0;
    }
    if (id >= 0 && id < MAX_IDS) __atomic_fetch_add(&per_id[id], 1, __ATOMIC_RELAXED);
    return tkt_expect(id, a0);
}

size_t tkt_log_count(void)
{
    size_t n = __atomic_load_n(&log_n, __ATOMIC_ACQUIRE);
    return n < LOG_CAP ? n : LOG_CAP;
}

tkt_call tkt_log_at(size_t i)
{
    if (i >= tkt_log_count()) tkt_fail("call log has no entry %zu", i);
    return log_buf[i];
}

tkt_call tkt_log_last(void)
{
    size_t n = tkt_log_count();
    if (!n) tkt_fail("no method body ran");
    return log_buf[n - 1];
}

uint64_t tkt_calls_of(int id)
{
    return (id >= 0 && id < MAX_IDS) ? __atomic_load_n(&per_id[id], __ATOMIC_ACQUIRE) : 0;
}

/* The call helpers check with tkt_fail on failure only: every passing
 * ck_assert_* costs Check a write(2) (its "last passed point"), which made
 * tests of 100k calls spend most of their time in the kernel. */
int64_t tkt_call_value(void *entry, void *self, int id, int64_t arg)
{
    if (!entry) tkt_fail("slot value is NULL (calling method id %d)", id);
    tk_entry_fn f = (tk_entry_fn)entry;
    int64_t r = f(self, arg, 0, 0, 0);
    if (r != tkt_expect(id, arg))
        tkt_fail("call through %p with arg %lld returned %lld: expected the body of method id %d", entry,
                 (long long)arg, (long long)r, id);
    return r;
}

int64_t tkt_call_slot(void **slot, void *self, int id, int64_t arg)
{
    if (!slot) tkt_fail("no slot for method id %d", id);
    return tkt_call_value(tkt_load(slot), self, id, arg);
}

tkt_call tkt_call_logged(void **slot, void *self, int id, int64_t arg)
{
    size_t before = tkt_log_count();
    tkt_call_slot(slot, self, id, arg);
    if (tkt_log_count() != before + 1) tkt_fail("one call ran %zu bodies", tkt_log_count() - before);
    tkt_call c = tkt_log_last();
    if (c.id != id || c.arg != arg)
        tkt_fail("call ran method id %d arg %lld, expected id %d arg %lld", c.id,
                  (long long)c.arg, id, (long long)arg);
    return c;
}

