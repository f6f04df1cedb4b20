/* arch/arm64/arch_arm64.c — arm64 back end: template tables for the three
 * supported stub page sizes, trap fill, icache maintenance, method-entry
 * emitter.  STUB_PAGE_SIZE = max(16 KiB, OS page size); anything other than
 * 16/32/64 KiB is a fatal error (`stub.page-size`). */
#include "../arch_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DECL(sz)                                                     \
    extern const uint8_t tk__a64_precode_tpl_##sz[24] TK_HIDDEN;     \
    extern const uint8_t tk__a64_fixup_tpl_##sz[24] TK_HIDDEN;       \
    extern const uint8_t tk__a64_callcount_tpl_##sz[40] TK_HIDDEN;
DECL(16384)
DECL(32768)
DECL(65536)

static const struct {
    size_t page;
    const uint8_t *tpl[TK_STUB_KIND_COUNT];
} g_sets[] = {
    {16384, {NULL, tk__a64_precode_tpl_16384, tk__a64_fixup_tpl_16384, tk__a64_callcount_tpl_16384}},
    {32768, {NULL, tk__a64_precode_tpl_32768, tk__a64_fixup_tpl_32768, tk__a64_callcount_tpl_32768}},
    {65536, {NULL, tk__a64_precode_tpl_65536, tk__a64_fixup_tpl_65536, tk__a64_callcount_tpl_65536}},
};

size_t tk__arch_page_size(void)
{
    long os = sysconf(_SC_PAGESIZE);
    size_t p = os > 16384 ? (size_t)os : 16384;
    for (size_t i = 0; i < sizeof g_sets / sizeof g_sets[0]; i++)
        if (g_sets[i].page == p)
            return p;
    fprintf(stderr, "tierkit: unsupported OS page size %ld (stub templates exist for 16/32/64 KiB)\n",
            os);
    abort();
}

const uint8_t *tk__arch_template(tk_stub_kind kind, size_t page, size_t *len)
{
    if (kind <= TK_STUB_NONE || kind >= TK_STUB_KIND_COUNT)
        return NULL;
    for (size_t i = 0; i < sizeof g_sets / sizeof g_sets[0]; i++) {
        if (g_sets[i].page == page) {
            *len = kind == TK_STUB_CALLCOUNT ? 40 : 24;
            return g_sets[i].tpl[kind];
        }
    }
    return NULL;
}

size_t tk__arch_fixup_offset(void) { return 8; }

#define BRK_F000 0xD43E0000u

void tk__arch_fill_trap(uint8_t *dst, size_t len)
{
    uint32_t w = BRK_F000;
    for (size_t i = 0; i + 4 <= len; i += 4)
        memcpy(dst + i, &w, 4);
}

void tk__arch_flush_icache(void *begin, void *end)
{
    __builtin___clear_cache((char *)begin, (char *)end);
}

tk_stub_kind tk__arch_kind_from_code(const void *stub)
{
    /* low byte of the first instruction: Rt and the low imm19 bits of the
     * first literal load, identical for all three page sizes */
    switch (*(const uint8_t *)stub) {
    case 0x4A: return TK_STUB_PRECODE;     /* ldr x10, target */
    case 0x0B: return TK_STUB_FIXUP;       /* ldr x11, target */
    case 0x09: return TK_STUB_CALLCOUNT;   /* ldr x9,  cell   */
    default: return TK_STUB_NONE;
    }
}

/* entry(a0..a4) -> body(ctx, a0..a4):
 *   0  AA0403E5  mov x5, x4
 *   4  AA0303E4  mov x4, x3
 *   8  AA0203E3  mov x3, x2
 *  12  AA0103E2  mov x2, x1
 *  16  AA0003E1  mov x1, x0
 *  20  58000060  ldr x0, #+12   (ctx literal at 32)
 *  24  58000089  ldr x9, #+16   (body literal at 40)
 *  28  D61F0120  br  x9
 *  32  ctx  (8 bytes)
 *  40  body (8 bytes)
 *  48  brk #0xf000 filler to TK_ENTRY_SLOT
 * Only x9 is clobbered besides the shifted argument registers; x6-x8 and
 * v0-v7 pass through. */
static const uint32_t entry_code[8] = {
    0xAA0403E5, 0xAA0303E4, 0xAA0203E3, 0xAA0103E2,
    0xAA0003E1, 0x58000060, 0x58000089, 0xD61F0120,
};

size_t tk__arch_emit_entry(uint8_t *rw, uintptr_t rx, const void *body, const void *ctx)
{
    (void)rx;
    uint64_t c = (uint64_t)(uintptr_t)ctx, b = (uint64_t)(uintptr_t)body;
    memcpy(rw, entry_code, sizeof entry_code);
    memcpy(rw + 32, &c, 8);
    memcpy(rw + 40, &b, 8);
    return 48;
}

bool tk__arch_is_entry(const uint8_t *code)
{
    return memcmp(code, entry_code, sizeof entry_code) == 0;
}

const void *tk__arch_entry_ctx(const uint8_t *code)
{
    uint64_t c;
    memcpy(&c, code + 32, 8);
    return (const void *)(uintptr_t)c;
}
