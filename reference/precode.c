/* reference/precode.c — temporary entry points and forwarders (both
 * FixupPrecodes, as in CoreCLR 10), stub allocation accounting and address
 * classification. */
#include "rt_internal.h"

#include <sched.h>
#include <stdlib.h>

/* What a stub is to the runtime: the class its address classifies as and
 * the counters and events it is accounted under.  The machine kind does not
 * say it: the temporary entry point and the forwarder are both
 * FixupPrecodes whose token is the method, so the forwarder is told apart
 * by identity (m->forwarder).  One rule for allocation, free, retarget
 * events and classification, so they cannot disagree (SPEC.md "Counters":
 * stubs_allocated_* by role; "Events and trace": every address classified,
 * `inv.observability.classify-exact`). */
static uint32_t role_of(tk_stub_kind k, tk_method *m, const void *stub)
{
    if (k == TK_STUB_CALLCOUNT) return TK_AC_CALLCOUNT_STUB;
    if (m && stub == atomic_load_explicit(&m->forwarder, memory_order_acquire)) return TK_AC_FORWARDER;
    return TK_AC_PRECODE;
}

static int role_ctr(uint32_t role, bool freed)
{
    if (role == TK_AC_CALLCOUNT_STUB) return freed ? C_STUBS_FREED_CALLCOUNT : C_STUBS_ALLOC_CALLCOUNT;
    if (role == TK_AC_FORWARDER) return freed ? C_STUBS_FREED_FORWARDER : C_STUBS_ALLOC_FORWARDER;
    return freed ? C_STUBS_FREED_PRECODE : C_STUBS_ALLOC_PRECODE;
}

static tk_stub_heap *heap_of(tk_runtime *rt, tk_stub_kind k)
{
    return k == TK_STUB_FIXUP ? rt->fixup_heap : rt->cc_heap;
}

static void *heap_alloc(tk_runtime *rt, tk_stub_kind kind, void *token, void *target)
{
    void *s = tk_stub_alloc(heap_of(rt, kind), token, target);
    if (!s) { perror("tierkit: stub allocation"); abort(); }
    return s;
}

/* Counters and the STUB_ALLOC event of a stub that is in place (its role,
 * m->forwarder included, already set).  Inlined into its two callers: out
 * of line it cost about 15 instructions per stub allocation, 3 allocations
 * per tiered method (tk-tierup, cachegrind). */
static inline __attribute__((always_inline))
void account_alloc(tk_runtime *rt, tk_stub_kind kind, void *s, tk_method *m, int32_t tier, uint32_t il)
{
    uint32_t role = role_of(kind, m, s);
    uint64_t bytes = 2 * tk_stub_size(kind);
    ctr_add(rt, role_ctr(role, false), TK_PHASE_FINAL, 1);
    ctr_add(rt, C_LIVE_STUB_BYTES, TK_PHASE_FINAL, bytes);
    if (kind == TK_STUB_CALLCOUNT) ctr_add(rt, C_COUNTING_STUB_BYTES, TK_PHASE_FINAL, bytes);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_STUB_ALLOC; ev.method = m; ev.stub = s; ev.stub_kind = role;
        ev.tier = tier; ev.il_version = il;
        tkr_emit(rt, &ev);
    }
}

void *tkr_stub_alloc(tk_runtime *rt, tk_stub_kind kind, void *token, void *target,
                     tk_method *m, int32_t tier, uint32_t il)
{
    void *s = heap_alloc(rt, kind, token, target);
    account_alloc(rt, kind, s, m, tier, il);
    return s;
}

/* The method's forwarder (strategies/forwarder.c), allocated once.  CoreCLR
 * 10 allocates it with Precode::Allocate(methodDesc->GetPrecodeType(), ...)
 * (callcounting.cpp, CallCountingManager::SetCodeEntryPoint before PR
 * #124664): the method's own precode type, a FixupPrecode for every method
 * the reference models, from the heap its temporary entry point comes from.
 * Like every new FixupPrecode it starts aimed at its fixup entry (the
 * prestub); the caller then retargets it (CoreCLR: SetTargetInterlocked to
 * the counting stub).  Set in m->forwarder before it is accounted and
 * announced, so its STUB_ALLOC event and every later classification say
 * `forwarder`.  Code-version lock held (the only writer). */
void *tkr_forwarder_alloc(tk_runtime *rt, tk_method *m)
{
    void *s = heap_alloc(rt, TK_STUB_FIXUP, m, tk_prestub_entry());
    atomic_store_explicit(&m->forwarder, s, memory_order_release);
    account_alloc(rt, TK_STUB_FIXUP, s, m, TK_TIER_UNKNOWN, 0);
    return s;
}

void tkr_stub_free(tk_runtime *rt, tk_stub_kind kind, void *stub, tk_method *m, int32_t tier, uint32_t il)
{
    uint32_t role = role_of(kind, m, stub);
    if (ev_on(rt)) {
        tk_event ev = {0};
        ev.kind = TK_EV_STUB_FREE; ev.method = m; ev.stub = stub; ev.stub_kind = role;
        ev.tier = tier; ev.il_version = il;
        tkr_emit(rt, &ev);
    }
    tk_stub_free(heap_of(rt, kind), stub);
    ctr_add(rt, role_ctr(role, true), TK_PHASE_FINAL, 1);
    uint64_t bytes = 2 * tk_stub_size(kind);
    ctr_sub(rt, C_LIVE_STUB_BYTES, TK_PHASE_FINAL, bytes);
    if (kind == TK_STUB_CALLCOUNT) ctr_sub(rt, C_COUNTING_STUB_BYTES, TK_PHASE_FINAL, bytes);
}

/* The temporary entry point: one FixupPrecode per method, created on first
 * need and published once with a CAS (CoreCLR PR #101580 style). */
void *tkr_get_tep(tk_method *m)
{
    void *t = atomic_load_explicit(&m->tep, memory_order_acquire);
    if (t) return t;
    tk_runtime *rt = m->rt;
    void *s = tkr_stub_alloc(rt, TK_STUB_FIXUP, m, tk_prestub_entry(), m, TK_TIER_UNKNOWN, 0);
    void *expected = NULL;
    if (!atomic_compare_exchange_strong(&m->tep, &expected, s)) {
        tkr_stub_free(rt, TK_STUB_FIXUP, s, m, TK_TIER_UNKNOWN, 0);
        return expected;
    }
    /* The method's entry point starts at its temporary entry point. */
    void *none = NULL;
    atomic_compare_exchange_strong(&m->ep, &none, s);
    return s;
}

static void emit_retarget(tk_runtime *rt, tk_method *m, void *stub, void *old, void *nw, int phase)
{
    tk_event ev = {0};
    ev.kind = TK_EV_PRECODE_RETARGET; ev.method = m; ev.stub = stub;
    ev.stub_kind = role_of(TK_STUB_FIXUP, m, stub);
    ev.old_value = old; ev.new_value = nw; ev.phase = phase;
    tkr_emit(rt, &ev);
}

/* Retarget a precode/forwarder: one atomic CAS on its data page, no lock
 * (`stub.atomic-retarget`).  Callers serialise writers with the
 * code-version lock, so the CAS only guards against surprises. */
void tkr_precode_set(tk_runtime *rt, tk_method *m, void *stub, void *target, int phase)
{
    void *old = tk_stub_target(stub);
    if (old == target) return;
    if (!tk_stub_cas_target(stub, old, target)) tk_stub_set_target(stub, target);
    ctr_add(rt, C_PRECODE_RETARGETS, phase, 1);
    if (ev_on(rt)) emit_retarget(rt, m, stub, old, target, phase);
}

void tkr_precode_reset(tk_runtime *rt, tk_method *m, void *stub, int phase)
{
    if (tk_precode_points_to_prestub(stub, tk_prestub_entry())) return;
    void *old = tk_stub_target(stub);
    tk_precode_reset(stub, tk_prestub_entry());
    ctr_add(rt, C_PRECODE_RETARGETS, phase, 1);
    if (ev_on(rt)) emit_retarget(rt, m, stub, old, tk_stub_target(stub), phase);
}

/* ---- classification ------------------------------------------------------- */

void tkr_classify(tk_runtime *rt, const void *addr, tk_addr_info *out)
{
    (void)rt;
    out->cls = TK_AC_UNKNOWN; out->method = NULL; out->tier = TK_TIER_UNKNOWN; out->il_version = 0;
    if (!addr) return;
    switch (tk_classify(addr)) {
    case TK_ADDR_PRESTUB:
        out->cls = TK_AC_PRESTUB;
        return;
    case TK_ADDR_FIXUP:
        /* a temporary entry point or a forwarder: the token is the method */
        out->method = tk_stub_token((void *)addr);
        out->cls = role_of(TK_STUB_FIXUP, out->method, addr);
        return;
    case TK_ADDR_CALLCOUNT: {
        tk_cc_info *i = (tk_cc_info *)((char *)tk_stub_token((void *)addr) - offsetof(tk_cc_info, cell));
        out->cls = TK_AC_CALLCOUNT_STUB;
        out->method = i->nv->m; out->tier = i->nv->tier; out->il_version = i->nv->il->id;
        return;
    }
    case TK_ADDR_EMITTED: {
        const tk_code_ctx *c = tk_emitted_ctx(addr);
        out->cls = TK_AC_NATIVE_CODE;
        if (c) { out->method = c->method; out->tier = c->tier; out->il_version = c->il_version; }
        return;
    }
    case TK_ADDR_FREED_STUB:
        out->cls = TK_AC_FREED;
        return;
    default:
        /* TK_ADDR_PRECODE too: the runtime allocates no StubPrecode (its
         * temporary entry points and forwarders are FixupPrecodes), so a
         * live one is none of its stubs */
        break;
    }
    /* A FixupPrecode "pointing to prestub" targets its own fixup entry. */
    size_t off = tk_fixup_entry_offset();
    if ((uintptr_t)addr > off && tk_classify((const char *)addr - off) == TK_ADDR_FIXUP)
        out->cls = TK_AC_PRESTUB;
}

void tk_classify_address(tk_runtime *rt, const void *addr, tk_addr_info *out) { tkr_classify(rt, addr, out); }
