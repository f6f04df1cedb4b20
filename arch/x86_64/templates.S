/* arch/x86_64/templates.S — stub templates for x86-64 (SPEC.md §Stubs).
 *
 * These bytes are never executed where they are assembled (.rodata): the
 * stub heap copies them into every slot of a code page.  Each load is
 * RIP-relative to "this slot + STUB_PAGE_SIZE + field", i.e. the stub's
 * own data slot in the page that follows (`stub.page-size`); the
 * displacement is the same in every slot because code and data move
 * together.
 *
 * Register contract (`stub.scratch-registers-only`):
 *   StubPrecode     writes r10 (token) only; jumps to data+8.
 *   FixupPrecode    writes nothing on the main path; the fixup entry
 *                   (+6) writes r10 (token) and jumps to data+16.
 *   CallCounting    writes rax (= counter cell address, also the threshold
 *                   token) and the flags; decrements the 16-bit cell without
 *                   lock (racy by design); jumps to data+8 or, when the
 *                   count hits 0, to data+16.
 * rdi rsi rdx rcx r8 r9, xmm0-7, rsp and every callee-saved register are
 * never touched.  Because CallCounting uses rax, %al (the vararg SSE count)
 * does not survive a counting stub; precodes preserve it.
 * Filler after the last instruction is int3 (0xCC), never executed.
 */
#define STUB_PAGE_SIZE 16384

        .section .rodata.tk_templates, "a"
        .balign 8

        .globl  tk__x86_precode_tpl
        .hidden tk__x86_precode_tpl
tk__x86_precode_tpl:
.Lsp:
        movq    .Lsp+STUB_PAGE_SIZE+0(%rip), %r10     /* token  */
        jmp     *.Lsp+STUB_PAGE_SIZE+8(%rip)          /* target */
        .fill   24 - (. - .Lsp), 1, 0xCC

        .globl  tk__x86_fixup_tpl
        .hidden tk__x86_fixup_tpl
tk__x86_fixup_tpl:
.Lfx:
        jmp     *.Lfx+STUB_PAGE_SIZE+0(%rip)          /* target */
.Lfx_fixup:                                           /* +6: fixup entry */
        movq    .Lfx+STUB_PAGE_SIZE+8(%rip), %r10     /* token  */
        jmp     *.Lfx+STUB_PAGE_SIZE+16(%rip)         /* fixup_target (prestub) */
        .fill   24 - (. - .Lfx), 1, 0xCC

        .globl  tk__x86_callcount_tpl
        .hidden tk__x86_callcount_tpl
tk__x86_callcount_tpl:
.Lcc:
        movq    .Lcc+STUB_PAGE_SIZE+0(%rip), %rax     /* cell address */
        decw    (%rax)
        je      .Lcc_thr
        jmp     *.Lcc+STUB_PAGE_SIZE+8(%rip)          /* target */
.Lcc_thr:
        jmp     *.Lcc+STUB_PAGE_SIZE+16(%rip)         /* on_threshold */
        .fill   24 - (. - .Lcc), 1, 0xCC

        .section .note.GNU-stack, "", @progbits
