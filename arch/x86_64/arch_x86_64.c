/* arch/x86_64/arch_x86_64.c — x86-64 back end: template table, trap fill,
 * method-entry emitter.  STUB_PAGE_SIZE is 16 KiB on x86-64
 * (`stub.page-size`), a multiple of every x86-64 OS page size. */
#include "../arch_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STUB_PAGE 16384u

extern const uint8_t tk__x86_precode_tpl[24] TK_HIDDEN;
extern const uint8_t tk__x86_fixup_tpl[24] TK_HIDDEN;
extern const uint8_t tk__x86_callcount_tpl[24] TK_HIDDEN;

size_t tk__arch_page_size(void)
{
    long os = sysconf(_SC_PAGESIZE);
    if (os <= 0 || STUB_PAGE % (size_t)os != 0) {
        fprintf(stderr, "tierkit: OS page size %ld does not divide STUB_PAGE_SIZE %u\n", os,
                STUB_PAGE);
        abort();
    }
    return STUB_PAGE;
}

const uint8_t *tk__arch_template(tk_stub_kind kind, size_t page, size_t *len)
{
    if (page != STUB_PAGE)
        return NULL;
    *len = 24;
    switch (kind) {
    case TK_STUB_PRECODE: return tk__x86_precode_tpl;
    case TK_STUB_FIXUP: return tk__x86_fixup_tpl;
    case TK_STUB_CALLCOUNT: return tk__x86_callcount_tpl;
    default: return NULL;
    }
}

size_t tk__arch_fixup_offset(void) { return 6; }

void tk__arch_fill_trap(uint8_t *dst, size_t len) { memset(dst, 0xCC, len); }

void tk__arch_flush_icache(void *begin, void *end)
{
    /* x86-64 keeps instruction fetch coherent with stores; code is only ever
     * made reachable after it is complete. */
    (void)begin;
    (void)end;
}

tk_stub_kind tk__arch_kind_from_code(const void *stub)
{
    switch (*(const uint8_t *)stub) {
    case 0x4C: return TK_STUB_PRECODE;     /* REX.WR  mov r10, [rip+d]  */
    case 0xFF: return TK_STUB_FIXUP;       /* jmp [rip+d]               */
    case 0x48: return TK_STUB_CALLCOUNT;   /* REX.W   mov rax, [rip+d]  */
    default: return TK_STUB_NONE;
    }
}

/* entry(a0..a4) -> body(ctx, a0..a4):
 *   0  4D 89 C1        mov r9, r8
 *   3  49 89 C8        mov r8, rcx
 *   6  48 89 D1        mov rcx, rdx
 *   9  48 89 F2        mov rdx, rsi
 *  12  48 89 FE        mov rsi, rdi
 *  15  48 BF imm64     movabs rdi, ctx
 *  25  49 BB imm64     movabs r11, body
 *  35  41 FF E3        jmp r11
 *  38  CC ...          int3 filler to TK_ENTRY_SLOT
 * Clobbers r11 only besides the shifted argument registers; rax (%al) and
 * xmm0-7 pass through unchanged. */
static const uint8_t entry_prologue[17] = {
    0x4D, 0x89, 0xC1, 0x49, 0x89, 0xC8, 0x48, 0x89, 0xD1,
    0x48, 0x89, 0xF2, 0x48, 0x89, 0xFE, 0x48, 0xBF,
};

size_t tk__arch_emit_entry(uint8_t *rw, uintptr_t rx, const void *body, const void *ctx)
{
    (void)rx;
    uint64_t c = (uint64_t)(uintptr_t)ctx, b = (uint64_t)(uintptr_t)body;
    memcpy(rw, entry_prologue, sizeof entry_prologue);
    memcpy(rw + 17, &c, 8);
    rw[25] = 0x49;
    rw[26] = 0xBB;
    memcpy(rw + 27, &b, 8);
    rw[35] = 0x41;
    rw[36] = 0xFF;
    rw[37] = 0xE3;
    return 38;
}

bool tk__arch_is_entry(const uint8_t *code)
{
    return memcmp(code, entry_prologue, sizeof entry_prologue) == 0 && code[25] == 0x49 &&
           code[26] == 0xBB && code[35] == 0x41 && code[36] == 0xFF && code[37] == 0xE3;
}

const void *tk__arch_entry_ctx(const uint8_t *code)
{
    uint64_t c;
    memcpy(&c, code + 17, 8);
    return (const void *)(uintptr_t)c;
}
