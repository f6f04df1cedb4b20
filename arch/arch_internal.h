/* arch/arch_internal.h — shared between the portable C files of libtkarch and
 * the per-architecture back ends.  Everything here is hidden: libtkarch.a is
 * linked into several shared objects and each keeps its own private copy. */
#ifndef TK_ARCH_INTERNAL_H
#define TK_ARCH_INTERNAL_H

#include "arch.h"
#include <pthread.h>

#define TK_HIDDEN __attribute__((visibility("hidden")))

/* ---- per-architecture back end (arch/<arch>/arch_<arch>.c) -------------- */

/* Compute STUB_PAGE_SIZE once (aborts on an unsupported OS page size). */
TK_HIDDEN size_t tk__arch_page_size(void);
/* Template of `kind` for page size `page`; NULL if none. */
TK_HIDDEN const uint8_t *tk__arch_template(tk_stub_kind kind, size_t page, size_t *len);
TK_HIDDEN size_t tk__arch_fixup_offset(void);
/* Fill `len` bytes (a multiple of the instruction size) with trapping code. */
TK_HIDDEN void tk__arch_fill_trap(uint8_t *dst, size_t len);
/* Instruction-cache maintenance after writing code at [begin, end). */
TK_HIDDEN void tk__arch_flush_icache(void *begin, void *end);
/* Which stub kind a code address holds, judged from its first code byte
 * (callers guarantee it is a stub start).  TK_STUB_NONE if no match. */
TK_HIDDEN tk_stub_kind tk__arch_kind_from_code(const void *stub);

/* Method entries written by tk_emit_entry: fixed-size slots. */
#define TK_ENTRY_SLOT 64
/* Write an entry at `rw` that will execute at `rx`; returns bytes used. */
TK_HIDDEN size_t tk__arch_emit_entry(uint8_t *rw, uintptr_t rx, const void *body, const void *ctx);
/* True if `code` (an entry-slot start) holds an emitted entry. */
TK_HIDDEN bool tk__arch_is_entry(const uint8_t *code);
/* The ctx baked into an emitted entry. */
TK_HIDDEN const void *tk__arch_entry_ctx(const uint8_t *code);

/* ---- trampolines (arch/<arch>/trampolines.S) --------------------------- */
TK_HIDDEN void tk__prestub_tramp(void);
TK_HIDDEN void tk__threshold_tramp(void);
TK_HIDDEN void tk__freed_tramp(void);

/* Handler pointers the trampolines load (arch/trampoline.c). */
TK_HIDDEN extern tk_trampoline_handler tk__prestub_handler;
TK_HIDDEN extern tk_trampoline_handler tk__threshold_handler;
TK_HIDDEN extern tk_trampoline_handler tk__freed_handler;

/* Writable 16-bit cell a freed CallCountingStub decrements harmlessly. */
TK_HIDDEN extern uint16_t tk__freed_cell;

/* ---- region registry (arch/stubheap.c) --------------------------------- */

typedef enum tk__region_kind {
    TK_REGION_STUBS = 1,     /* code page of a stub heap                     */
    TK_REGION_ENTRIES = 2,   /* RX view of a code-heap chunk                 */
} tk__region_kind;

typedef struct tk__region {
    uintptr_t start;         /* first code byte                              */
    size_t len;              /* bytes of code range                          */
    int rkind;               /* tk__region_kind                              */
    tk_stub_kind skind;      /* stub kind for TK_REGION_STUBS                */
    size_t slot;             /* slot size                                    */
    size_t nslots;           /* capacity                                     */
    size_t used;             /* slots handed out so far (atomic)             */
} tk__region;

TK_HIDDEN int tk__registry_add(tk__region *r);
TK_HIDDEN void tk__registry_remove(tk__region *r);
/* Calls fn(region, arg) with the registry read-locked; region is NULL if the
 * address lies in no registered range.  Returns fn's result. */
TK_HIDDEN int tk__registry_lookup(uintptr_t addr, int (*fn)(const tk__region *, uintptr_t, void *),
                                  void *arg);

#endif
