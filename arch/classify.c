/* arch/classify.c — exact address recognition (SPEC.md `stub.recognition`).
 *
 * An address is classified only if it lies in a registered code range (a
 * stub heap's code page or a code heap's RX view), sits on a slot boundary
 * of that range, lies below the range's allocation high-water mark, its code
 * bytes equal the expected template / entry prologue, and the data page
 * agrees.  Only memory owned by a registered range is read, with the
 * registry read-locked so the range cannot be unmapped meanwhile. */
#include "arch_internal.h"

#include <string.h>

static void *ld(const void *stub, size_t off)
{
    return __atomic_load_n((void *const *)((const char *)stub + tk_stub_page_size() + off),
                           __ATOMIC_ACQUIRE);
}

static int classify_in(const tk__region *r, uintptr_t a, void *arg)
{
    (void)arg;
    if (!r)
        return TK_ADDR_UNKNOWN;
    size_t off = a - r->start;
    if (off % r->slot != 0)
        return TK_ADDR_UNKNOWN;
    size_t idx = off / r->slot;
    if (idx >= r->nslots || idx >= __atomic_load_n(&r->used, __ATOMIC_ACQUIRE))
        return TK_ADDR_UNKNOWN;
    const void *p = (const void *)a;
    if (r->rkind == TK_REGION_ENTRIES)
        return tk__arch_is_entry(p) ? TK_ADDR_EMITTED : TK_ADDR_UNKNOWN;

    size_t len;
    const uint8_t *tpl = tk__arch_template(r->skind, tk_stub_page_size(), &len);
    if (!tpl || len != r->slot || memcmp(p, tpl, len) != 0)
        return TK_ADDR_UNKNOWN;
    void *trap = (void *)tk__freed_tramp;
    switch (r->skind) {
    case TK_STUB_PRECODE:
        if (ld(p, offsetof(tk_precode_data, target)) == trap)
            return TK_ADDR_FREED_STUB;
        return (uintptr_t)ld(p, offsetof(tk_precode_data, type)) == TK_PRECODE_TYPE
                   ? TK_ADDR_PRECODE : TK_ADDR_UNKNOWN;
    case TK_STUB_FIXUP:
        return ld(p, offsetof(tk_fixup_data, fixup_target)) == trap ? TK_ADDR_FREED_STUB
                                                                    : TK_ADDR_FIXUP;
    case TK_STUB_CALLCOUNT: {
        void *t = ld(p, offsetof(tk_callcount_data, on_threshold));
        if (t == trap)
            return TK_ADDR_FREED_STUB;
        return t == (void *)tk__threshold_tramp ? TK_ADDR_CALLCOUNT : TK_ADDR_UNKNOWN;
    }
    default:
        return TK_ADDR_UNKNOWN;
    }
}

tk_addr_kind tk_classify(const void *addr)
{
    if (!addr)
        return TK_ADDR_UNKNOWN;
    if (addr == (const void *)tk__prestub_tramp)
        return TK_ADDR_PRESTUB;
    if (addr == (const void *)tk__threshold_tramp)
        return TK_ADDR_THRESHOLD;
    return (tk_addr_kind)tk__registry_lookup((uintptr_t)addr, classify_in, NULL);
}

static int ctx_in(const tk__region *r, uintptr_t a, void *arg)
{
    const void **out = arg;
    if (classify_in(r, a, NULL) == TK_ADDR_EMITTED)
        *out = tk__arch_entry_ctx((const uint8_t *)a);
    return 0;
}

const void *tk_emitted_ctx(const void *entry)
{
    const void *ctx = NULL;
    if (entry)
        tk__registry_lookup((uintptr_t)entry, ctx_in, &ctx);
    return ctx;
}
