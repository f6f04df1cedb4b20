/* conformance/tkv.h — the trace-invariant checker shared by tk-verify (JSON
 * Lines traces) and tk-conform (the in-process event sink).
 *
 * Events are first normalized into tkv_event; tkv_feed() then checks every
 * trace-checkable rule of SPEC.md incrementally and
 * reports each violation with its anchor. */
#ifndef TK_TKV_H
#define TK_TKV_H

#include <stddef.h>
#include <stdint.h>

typedef enum tkv_ev {
    TKV_NONE = 0,
    TKV_TYPE_LOAD, TKV_TYPE_UNLOAD, TKV_SLOT_WRITE, TKV_SLOT_RECORD,
    TKV_PRECODE_RETARGET, TKV_STUB_ALLOC, TKV_STUB_FREE, TKV_LOCK_ACQUIRE,
    TKV_LOCK_RELEASE, TKV_BACKPATCH_BEGIN, TKV_BACKPATCH_END, TKV_PUBLISH,
    TKV_ACTIVATE, TKV_COUNTING_BEGIN, TKV_COUNTING_COMPLETE, TKV_THRESHOLD,
    TKV_PROMOTE, TKV_DELAY_BEGIN, TKV_DELAY_EXTEND, TKV_DELAY_END,
    TKV_SAFEPOINT_SYNC,
    TKV_EV_COUNT
} tkv_ev;

/* Address classes use tk_addr_class values (tk_driver.h). */
enum { TKV_SK_UNKNOWN = 0, TKV_SK_VTABLE, TKV_SK_OWNING, TKV_SK_NONVIRTUAL };
#define TKV_ABSENT (-1000)      /* tier / il_version not present            */

typedef struct tkv_addr {
    int present;
    uint64_t addr;
    int cls;                    /* tk_addr_class                            */
    uint32_t method;            /* 0 = none                                 */
    int tier;                   /* TK_TIER_* or TKV_ABSENT                  */
    int il_version;             /* or TKV_ABSENT                            */
} tkv_addr;

typedef struct tkv_event {
    tkv_ev ev;
    uint64_t seq, thread;
    long line;                  /* trace line number (0: not from a file)  */
    uint32_t method;            /* interned method id, 0 = none             */
    uint64_t slot;
    int slot_kind;              /* TKV_SK_*                                 */
    uint64_t stub;
    int stub_kind;              /* tk_addr_class of the stub                */
    tkv_addr old, nw;
    int tier, from_tier, il_version;
    const char *reason;
    const char *type_name;
} tkv_event;

const char *tkv_ev_name(tkv_ev ev);
tkv_ev tkv_ev_from_name(const char *s);
const char *tkv_cls_name(int cls);
int tkv_cls_from_name(const char *s);        /* -1 if unknown name */
const char *tkv_tier_name(int tier);
int tkv_tier_from_name(const char *s, int *ok);

/* Method interning: ids start at 1. */
typedef struct tkv_names tkv_names;
tkv_names *tkv_names_new(void);
void tkv_names_free(tkv_names *n);
uint32_t tkv_intern_str(tkv_names *n, const char *name);
uint32_t tkv_intern_ptr(tkv_names *n, const void *p, const char *name);
const char *tkv_name(const tkv_names *n, uint32_t id);

typedef void (*tkv_report_fn)(void *user, const char *anchor, const tkv_event *ev,
                              const char *method_name, const char *msg);

typedef struct tkv_checker tkv_checker;
/* strategy may be NULL; "lazy" enables inv.backpatch.lazy-final-only. */
tkv_checker *tkv_new(const char *strategy, tkv_names *names, tkv_report_fn fn, void *user);
void tkv_feed(tkv_checker *c, const tkv_event *ev);
void tkv_finish(tkv_checker *c);
size_t tkv_violations(const tkv_checker *c);
void tkv_free(tkv_checker *c);

/* The anchors tkv checks (NULL-terminated). */
extern const char *const tkv_checked_anchors[];

/* The tk-verify command line (verify_cli.c); exit status as documented there. */
int tk_verify_main(int argc, char **argv);

#endif
