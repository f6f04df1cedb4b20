/* arch/arch.h — the machine layer tierkit's runtime uses without knowing
 * instruction bytes.
 *
 * arch/ knows instructions, pages and register contracts; it knows nothing
 * of methods, tiers or strategies.  A "token" is an opaque pointer the
 * runtime stores in a stub and gets back in a handler.
 *
 * Three stub kinds live in interleaved code/data pages (SPEC.md
 * `stub.page-size`): the code of a stub at address C reads all its
 * mutable state from C + tk_stub_page_size().  Code pages are generated once
 * and never written again (`stub.code-immutable`); every retarget is one
 * aligned 8-byte atomic store or CAS into the data page
 * (`stub.atomic-retarget`).
 */
#ifndef TK_ARCH_H
#define TK_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- stub kinds ------------------------------------------------------- */

typedef enum tk_stub_kind {
    TK_STUB_NONE = 0,
    TK_STUB_PRECODE = 1,    /* StubPrecode: token + target                 */
    TK_STUB_FIXUP = 2,      /* FixupPrecode: target, fixup entry -> prestub */
    TK_STUB_CALLCOUNT = 3,  /* CallCountingStub: 16-bit cell, two targets   */
    TK_STUB_KIND_COUNT
} tk_stub_kind;

/* Data-page layouts (24 bytes each, all fields 8-byte aligned). */
typedef struct tk_precode_data {
    void *token;           /* +0  loaded into r10 / x12 before jumping      */
    void *target;          /* +8  where the stub jumps                      */
    uintptr_t type;        /* +16 pointer-sized type word (recognition)     */
} tk_precode_data;

typedef struct tk_fixup_data {
    void *target;          /* +0  where the stub jumps; self+fixup = prestub */
    void *token;           /* +8  loaded into r10 / x12 by the fixup entry   */
    void *fixup_target;    /* +16 the prestub the fixup entry jumps to       */
} tk_fixup_data;

typedef struct tk_callcount_data {
    uint16_t *cell;        /* +0  countdown cell; also the threshold token  */
    void *target;          /* +8  the method's code                         */
    void *on_threshold;    /* +16 threshold-reached trampoline              */
} tk_callcount_data;

/* Value of tk_precode_data.type for a live StubPrecode: the first code byte
 * of the StubPrecode template, widened to a pointer-sized word so a stray
 * match in the data page is unlikely (SPEC.md `stub.recognition`). */
#if defined(__aarch64__)
#define TK_PRECODE_TYPE ((uintptr_t)0x4A)
#else
#define TK_PRECODE_TYPE ((uintptr_t)0x4C)
#endif

/* STUB_PAGE_SIZE: 16 KiB on x86-64; max(16 KiB, OS page) on arm64, with one
 * template per supported size (16/32/64 KiB).  Constant for the process. */
size_t tk_stub_page_size(void);

/* Code size of one stub of this kind (allocation granularity in a page). */
size_t tk_stub_size(tk_stub_kind kind);

/* The template bytes of a kind, as assembled for the current page size
 * (what SPEC.md's byte tables document; a test compares them). */
const uint8_t *tk_stub_template(tk_stub_kind kind, size_t *len);

/* Offset of FixupPrecode's second ("fixup") entry from the stub start. */
size_t tk_fixup_entry_offset(void);

/* Data page of a stub (code + STUB_PAGE_SIZE). */
static inline void *tk_stub_data(void *stub_code)
{
    return (char *)stub_code + tk_stub_page_size();
}

/* ---- stub heap ---------------------------------------------------------- */

/* One heap per stub kind.  Pages are (code, data) pairs; the data page is
 * filled before the code page is made executable (`stub.init-order`).  Freed
 * stubs go on a free list; their data points every target at the freed-stub
 * trap so a stray call is caught, never silently executed. */
typedef struct tk_stub_heap tk_stub_heap;

/* NULL with errno EINVAL for a kind without a template (TK_STUB_NONE, out
 * of range), ENOMEM when its allocation fails. */
tk_stub_heap *tk_stub_heap_create(tk_stub_kind kind);
void tk_stub_heap_destroy(tk_stub_heap *heap);      /* every group: pool or unmap */

/* Allocation returns the code address of a stub whose data page is already
 * initialised:
 *   PRECODE   token, target = `target`, type = TK_PRECODE_TYPE
 *   FIXUP     token, fixup_target = `target`, then a release store of
 *             target = stub + fixup offset (i.e. "points to prestub")
 *   CALLCOUNT cell = `token`, target = `target`, on_threshold = threshold
 *             trampoline
 * Returns NULL on allocation failure (errno set). */
void *tk_stub_alloc(tk_stub_heap *heap, void *token, void *target);
/* Frees a live stub of `heap`; NULL is ignored.  Anything else — a stub
 * already freed, a slot never handed out, an address that is not a slot
 * start (inside a stub, its data page), another heap's stub, memory no heap
 * owns — prints "tierkit: tk_stub_free of ADDR, not a live stub of this
 * heap" and aborts (SPEC.md `stub.free-refused`): a double free would hand
 * the slot out twice.  When the last live stub of a page group is freed the
 * group leaves the heap (`stub.page-release`): into the process-wide pool of
 * empty groups of its kind, at most TK_STUB_POOL_BYTES, where its slots keep
 * trapping and a heap of the same kind reuses it before mapping a new one;
 * beyond that bound it is unmapped. */
void tk_stub_free(tk_stub_heap *heap, void *stub);

/* Bound of the empty-group pool, per stub kind, in bytes (code + data pages;
 * at least one group). */
#define TK_STUB_POOL_BYTES ((size_t)512 * 1024)

/* Bytes of live (allocated, not freed) stubs, code + data. */
size_t tk_stub_heap_live_bytes(const tk_stub_heap *heap);
/* Bytes of the page groups the heap holds (2 * STUB_PAGE_SIZE each). */
size_t tk_stub_heap_mapped_bytes(tk_stub_heap *heap);
/* Bytes of empty page groups of `kind` pooled in this process. */
size_t tk_stub_pool_bytes(tk_stub_kind kind);

/* ---- retargeting (all on the data page; no icache flush, no mprotect) ----
 * The kind is read from the stub's first code byte.  On an address whose
 * code is no stub kind's, tk_stub_target and tk_stub_token return NULL,
 * tk_stub_cas_target returns false and tk_stub_set_target does nothing;
 * tk_precode_reset and tk_precode_points_to_prestub act on StubPrecode and
 * FixupPrecode only (nothing / false otherwise).  None of them reads or
 * writes such an address's "data page" (SPEC.md `stub.not-a-stub`). */

void *tk_stub_target(void *stub);                   /* acquire load         */
void tk_stub_set_target(void *stub, void *target);  /* release store        */
bool tk_stub_cas_target(void *stub, void *expected, void *desired);
void *tk_stub_token(void *stub);                    /* token / cell          */
/* FixupPrecode: back to "points to prestub" (self + fixup offset);
 * StubPrecode: target = `prestub`. */
void tk_precode_reset(void *stub, void *prestub);
bool tk_precode_points_to_prestub(void *stub, void *prestub);

/* ---- trampolines ------------------------------------------------------ */

/* Saved argument registers, in the order of the calling convention:
 * x86-64 SysV: gpr = rdi rsi rdx rcx r8 r9 (6), fpr = xmm0..xmm7 (low 128 bits)
 * arm64 AAPCS64: gpr = x0..x7 and x8 (indirect result), fpr = q0..q7      */
typedef struct tk_arch_regs {
    uint64_t gpr[9];
    uint64_t pad;
    union { double d; float f; uint64_t u64[2]; } fpr[8];
} tk_arch_regs;

/* A handler gets the token the stub delivered (the precode token for the
 * prestub; the counter cell for the threshold trampoline) and the caller's
 * saved arguments; it returns the address the trampoline tail-jumps to
 * with the arguments restored. */
typedef void *(*tk_trampoline_handler)(void *token, tk_arch_regs *regs);

/* Entry addresses of the assembly trampolines. */
void *tk_prestub_entry(void);
void *tk_threshold_entry(void);
void *tk_freed_stub_entry(void);   /* trap target of freed stubs */

/* Install the C handlers (process-wide; the runtime registers once); NULL
 * installs the default again.  The freed-stub handler gets the stub's token
 * word.  The defaults (what a process starts with) print a line and abort
 * (SPEC.md `stub.default-handlers`): "tierkit: prestub reached ...",
 * "tierkit: call-count threshold reached ...", "tierkit: call through freed
 * stub ...". */
void tk_set_prestub_handler(tk_trampoline_handler h);
void tk_set_threshold_handler(tk_trampoline_handler h);
void tk_set_freed_stub_handler(tk_trampoline_handler h);

/* ---- code emitter ------------------------------------------------------ */

/* An RX code heap (memfd double mapping: written through an RW view,
 * executed from a separate RX view; `stub.wx`).  For each (method, version)
 * the runtime emits a small native entry:
 *     entry(a0, a1, a2, a3, a4)  ==>  tail-call body(ctx, a0, a1, a2, a3, a4)
 * i.e. the entry shifts the integer argument registers up by one and puts
 * `ctx` first, so every code version has its own address and the body
 * learns which version ran.  Floating-point argument registers are left
 * untouched. arm64: icache is flushed after writing. */
typedef struct tk_code_heap tk_code_heap;

tk_code_heap *tk_code_heap_create(void);          /* NULL (errno ENOMEM) on failure */
/* A stale entry of a destroyed heap traps (its chunk is kept filled with
 * trap code for reuse by the next heap, at most 8 chunks process-wide, or
 * unmapped; SPEC.md `stub.code-pool`); tk_classify forgets it. */
void tk_code_heap_destroy(tk_code_heap *heap);
void *tk_emit_entry(tk_code_heap *heap, void *body, const void *ctx);
/* Gives an entry back (no thread may run it any more): its slot traps and
 * is reused by a later tk_emit_entry.  -1 if it is not a live entry of
 * this heap, or (errno ENOMEM) if the free list cannot grow: the entry then
 * stays live and runnable, and may be freed again later. */
int tk_code_free(tk_code_heap *heap, void *entry);
size_t tk_code_heap_used_bytes(const tk_code_heap *heap);

/* ---- recognition ------------------------------------------------------- */

typedef enum tk_addr_kind {
    TK_ADDR_UNKNOWN = 0,
    TK_ADDR_PRECODE,        /* live StubPrecode (start address)            */
    TK_ADDR_FIXUP,          /* live FixupPrecode (start address)           */
    TK_ADDR_CALLCOUNT,      /* live CallCountingStub (start address)       */
    TK_ADDR_FREED_STUB,     /* a stub slot that is on a free list          */
    TK_ADDR_EMITTED,        /* an entry written by tk_emit_entry           */
    TK_ADDR_PRESTUB,        /* tk_prestub_entry()                          */
    TK_ADDR_THRESHOLD,      /* tk_threshold_entry()                        */
} tk_addr_kind;

/* Exact classification: the address must lie in a page owned by a live stub
 * heap (or code heap), sit on a stub boundary, and its first code byte and
 * data page must agree with the heap's kind.  Never reads memory it does
 * not own, never guesses. */
tk_addr_kind tk_classify(const void *addr);

/* For TK_ADDR_EMITTED: the ctx given to tk_emit_entry. */
const void *tk_emitted_ctx(const void *entry);

/* Process-wide check used by tests: scans /proc/self/maps, returns the
 * number of mappings that are both writable and executable (0 expected),
 * writing the first offending line to `line` if non-NULL. */
int tk_wx_violations(char *line, size_t linelen);

#ifdef __cplusplus
}
#endif
#endif
