/* conformance/tkt_internal.h — between the runner and the tkt_*.c test support. */
#ifndef TK_TKT_INTERNAL_H
#define TK_TKT_INTERNAL_H
#include "tkt.h"

enum { TKT_ST_PASS, TKT_ST_FAIL, TKT_ST_UNSUPPORTED, TKT_ST_XFAIL, TKT_ST_XPASS, TKT_ST_CRASH, TKT_ST_TIMEOUT,
       TKT_ST_SKIP, TKT_ST_COUNT };

const tkt_test *const *tkt_registry(size_t *n);
void tkt_set_base_config(const char *const *kv, size_t n);
int tkt_run_in_process(const tkt_test *t, char *msg, size_t msglen);

/* SPEC.md anchors, generated at build time. */
extern const char *const tk_spec_anchors[];
extern const char tk_spec_version[];

#endif
