/* conformance/tkt.h — what conformance tests see: the registration macro,
 * the loaded driver, runtime creation with the runner's configuration, the
 * per-test call log, the event recorder and the in-process trace checker.
 *
 * Tests use Check's ck_assert_* for assertions and nothing but the driver
 * table to reach the implementation. */
#ifndef TK_TKT_H
#define TK_TKT_H

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>

#include "tk_driver.h"

#define TKT_MAX_ANCHORS 12

typedef struct tkt_test {
    const char *name;
    const char *file;
    const char *anchors[TKT_MAX_ANCHORS + 1];   /* NULL-terminated         */
    void (*fn)(void);
    unsigned flags;
} tkt_test;

#define TKT_THREADED 0x1u      /* uses real threads (not only deterministic) */
#define TKT_SLOW     0x2u      /* runs for a bounded but noticeable time     */

void tkt_register(const tkt_test *t);

/* TK_TEST(name, "inv.a", "inv.b", ...) { body }  — registers test `name`
 * checking the named anchors.  TK_TEST_F adds flags. */
#define TK_TEST_F(name, flags_, ...)                                           \
    static void name##_fn(void);                                              \
    static const tkt_test name##_def = { #name, __FILE__, { __VA_ARGS__, NULL }, \
                                         name##_fn, flags_ };                 \
    __attribute__((constructor)) static void name##_reg(void) { tkt_register(&name##_def); } \
    static void name##_fn(void)
#define TK_TEST(name, ...) TK_TEST_F(name, 0u, __VA_ARGS__)

/* ---- the driver and configuration -------------------------------------- */

extern const tk_driver *D;              /* the implementation under test   */

/* Ends the test as UNSUPPORTED (never returns). */
__attribute__((noreturn, format(printf, 1, 2))) void tkt_unsupported(const char *fmt, ...);
/* Ends the test as FAIL with a message (never returns). */
__attribute__((noreturn, format(printf, 1, 2))) void tkt_fail(const char *fmt, ...);
void tkt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void tkt_require_caps(uint64_t caps);   /* UNSUPPORTED unless all present  */

/* Creates a runtime from the test's own keys ("K=V", NULL-terminated)
 * merged with the runner's --config keys (the test's keys win).  A rejected
 * Strategy the driver does not list -> UNSUPPORTED; other errors -> FAIL. */
tk_drv_runtime *tkt_create_v(const char *const *keys);
#define tkt_create(...) tkt_create_v((const char *const[]){ __VA_ARGS__, NULL })
/* The same merge, but a rejected configuration is a result, not a failure:
 * NULL with create()'s message in err (for tests of what must be rejected). */
tk_drv_runtime *tkt_try_create_v(const char *const *keys, char *err, size_t errlen);
#define tkt_try_create(err, errlen, ...) tkt_try_create_v((const char *const[]){ __VA_ARGS__, NULL }, (err), (errlen))
/* Whether the driver lists `key` among its optional configuration keys
 * (tk_driver.config_keys); the second form ends the test as UNSUPPORTED
 * when it does not. */
int tkt_has_config_key(const char *key);
void tkt_require_config_key(const char *key);
void tkt_destroy(tk_drv_runtime *rt);

/* The strategy the runtime runs (from describe_config, else the merged
 * configuration, else "default"). */
const char *tkt_strategy(tk_drv_runtime *rt);
/* The value of a key in describe_config's output (static buffer) or NULL. */
const char *tkt_config_value(tk_drv_runtime *rt, const char *key);
/* UNSUPPORTED when the runtime does not tier (Strategy=notier,
 * TieredCompilation=0). */
/* Whether the runtime tiers at all (not Strategy=notier, not
 * TieredCompilation=0 in its effective configuration). */
int tkt_tiers(tk_drv_runtime *rt);

/* Converts a driver event into the trace checker's record (tkv.h); returns 0
 * for event kinds the checker does not use.  Names are interned in `names`. */
struct tkv_names;
struct tkv_event;
int tkt_to_tkv_event(struct tkv_names *names, const tk_event *e, struct tkv_event *out);
void tkt_require_tiering(tk_drv_runtime *rt);
/* 1 for strategies that backpatch slots to final code (forwarder,
 * precode-reuse, lazy, notier, eager-final: `inv.slot.final-direct`
 * applies); 0 for entry-cell and unknown designs. */
int tkt_backpatches_slots(tk_drv_runtime *rt);
/* Runner-provided base strategy (--config Strategy=...) or NULL. */
const char *tkt_base_config(const char *key);

/* ---- method bodies and the call log ------------------------------------- */

/* Every test method uses tkt_body; its user pointer is TKT_ID(id).  The body
 * returns tkt_expect(id, a0) and logs the call. */
#define TKT_ID(id) ((void *)(intptr_t)(id))
int64_t tkt_body(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3);
static inline int64_t tkt_expect(int id, int64_t a0) { return (int64_t)id * 1000003 + a0 * 7 + 1; }
#define TKT_M(name_, id_) { (name_), tkt_body, TKT_ID(id_), 0u }
#define TKT_M_FLAGS(name_, id_, fl_) { (name_), tkt_body, TKT_ID(id_), (fl_) }

typedef struct tkt_call {
    int id;
    int32_t tier;
    uint32_t il_version;
    int64_t arg;
} tkt_call;

void tkt_log_reset(void);
size_t tkt_log_count(void);
tkt_call tkt_log_at(size_t i);
tkt_call tkt_log_last(void);          /* fails the test if the log is empty */
/* Calls per method id since the last reset (threads: exact, atomic). */
uint64_t tkt_calls_of(int id);

/* Loads *slot (acquire) and calls it; checks the right body ran. */
int64_t tkt_call_slot(void **slot, void *self, int id, int64_t arg);
/* Same, returns the log entry of the call. */
tkt_call tkt_call_logged(void **slot, void *self, int id, int64_t arg);
static inline void *tkt_load(void **slot) { return __atomic_load_n(slot, __ATOMIC_ACQUIRE); }
/* Calls a previously loaded value. */
int64_t tkt_call_value(void *entry, void *self, int id, int64_t arg);

/* ---- introspection helpers ----------------------------------------------------- */
tk_method_state tkt_state(tk_drv_runtime *rt, tk_drv_method *m);
tk_addr_info tkt_classify(tk_drv_runtime *rt, const void *addr);
const char *tkt_cls_name(int cls);
const char *tkt_tier_name(int tier);
/* Describes an address ("precode of Foo", "native Foo@tier1/il0"). */
const char *tkt_describe(tk_drv_runtime *rt, const void *addr, char *buf, size_t len);
/* advance the manual clock by ms then drain */
void tkt_tick(tk_drv_runtime *rt, uint64_t ms);

/* ---- events ------------------------------------------------------------------------ */
typedef struct tkt_events {
    tk_event *ev;
    size_t n, cap;
} tkt_events;

/* Installs a recording sink (requires TK_CAP_EVENTS, else UNSUPPORTED). */
void tkt_events_start(tk_drv_runtime *rt);
void tkt_events_stop(tk_drv_runtime *rt);
/* Snapshot access (copy under the recorder's lock). */
size_t tkt_events_count(void);
tk_event tkt_event_at(size_t i);
void tkt_events_clear(void);
/* Runs the trace checker over the recorded events; fails the test on any
 * violation of one of `anchors` (NULL: the current test's anchors).  The
 * owning slots of `methods` (NULL-terminated, may be NULL) are marked so
 * inv.backpatch.owning-slot-last can be checked. Returns violations. */
size_t tkt_trace_check(tk_drv_runtime *rt, const char *const *anchors, tk_drv_method *const *methods);

/* ---- threads -------------------------------------------------------------------------- */
/* Monotonic milliseconds. */
uint64_t tkt_now_ms(void);
void tkt_sleep_ms(unsigned ms);

/* The test being run (for messages). */
const tkt_test *tkt_current(void);

#endif
