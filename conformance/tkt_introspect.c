/* conformance/tkt_introspect.c — method state and address classification
 * through the driver, with readable descriptions for messages. */
#include "tkt.h"
#include "tkv.h"

#include <stdio.h>
#include <string.h>

/* ---- introspection ---------------------------------------------------------------------- */
tk_method_state tkt_state(tk_drv_runtime *rt, tk_drv_method *m)
{
    tk_method_state s;
    memset(&s, 0, sizeof s);
    D->method_state(rt, m, &s);
    return s;
}

tk_addr_info tkt_classify(tk_drv_runtime *rt, const void *addr)
{
    tkt_require_caps(TK_CAP_CLASSIFY);
    tk_addr_info i;
    memset(&i, 0, sizeof i);
    D->classify(rt, addr, &i);
    return i;
}

const char *tkt_cls_name(int cls) { return tkv_cls_name(cls); }
const char *tkt_tier_name(int tier) { return tkv_tier_name(tier); }

const char *tkt_describe(tk_drv_runtime *rt, const void *addr, char *buf, size_t len)
{
    tk_addr_info i = tkt_classify(rt, addr);
    const char *mn = i.method ? D->method_name(i.method) : NULL;
    if (i.cls == TK_AC_NATIVE_CODE || i.cls == TK_AC_CALLCOUNT_STUB)
        snprintf(buf, len, "%p (%s %s@%s/il%u)", addr, tkt_cls_name(i.cls), mn ? mn : "?", tkt_tier_name(i.tier),
                 i.il_version);
    else
        snprintf(buf, len, "%p (%s%s%s)", addr, tkt_cls_name(i.cls), mn ? " of " : "", mn ? mn : "");
    return buf;
}

void tkt_tick(tk_drv_runtime *rt, uint64_t ms)
{
    if (ms) D->clock_advance(rt, ms);
    D->drain(rt);
}

