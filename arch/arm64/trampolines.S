/* arch/arm64/trampolines.S — prestub, threshold and freed-stub trampolines.
 *
 * Register contract (SPEC.md `stub.scratch-registers-only`, `stub.freed-trap`):
 *   entry:   prestub    token in x12 (StubPrecode / Fixup fixup entry)
 *            threshold  token in x9  (the counter cell, from CallCounting)
 *            freed      token in x12 (the freed stub's own address for
 *                       precodes; undefined for a freed CallCountingStub,
 *                       which does not load x12)
 *            lr = the original caller's return address (stubs branch, never
 *            link), so the final target returns straight to the caller.
 *   saves:   x0-x7 -> regs.gpr[0..7], x8 (indirect result) -> regs.gpr[8],
 *            q0-q7 -> regs.fpr[0..7]; sp stays 16-byte aligned throughout.
 *   calls:   handler(token, &regs) (AAPCS64).
 *   exit:    restores x0-x8 and q0-q7 from regs (a handler may edit them),
 *            restores fp/lr, branches to the handler's return value through
 *            x9.  Clobbers: x9-x17 (as any call would), NZCV.
 */
#define REGS_SIZE 208          /* sizeof(tk_arch_regs) */
#define FPR 80                 /* offsetof(tk_arch_regs, fpr) */

.macro TRAMPOLINE name, handler, tokreg
        .text
        .p2align 4
        .globl  \name
        .hidden \name
        .type   \name, %function
\name:
        .cfi_startproc
        stp     x29, x30, [sp, #-16]!
        .cfi_def_cfa_offset 16
        .cfi_offset x29, -16
        .cfi_offset x30, -8
        mov     x29, sp
        sub     sp, sp, #REGS_SIZE      /* 208 = 13*16 */
        stp     x0, x1, [sp, #0]
        stp     x2, x3, [sp, #16]
        stp     x4, x5, [sp, #32]
        stp     x6, x7, [sp, #48]
        stp     x8, xzr, [sp, #64]
        stp     q0, q1, [sp, #FPR+0]
        stp     q2, q3, [sp, #FPR+32]
        stp     q4, q5, [sp, #FPR+64]
        stp     q6, q7, [sp, #FPR+96]
        mov     x0, \tokreg
        mov     x1, sp
        adrp    x16, \handler
        ldr     x16, [x16, #:lo12:\handler]
        blr     x16
        mov     x9, x0
        ldp     q0, q1, [sp, #FPR+0]
        ldp     q2, q3, [sp, #FPR+32]
        ldp     q4, q5, [sp, #FPR+64]
        ldp     q6, q7, [sp, #FPR+96]
        ldp     x0, x1, [sp, #0]
        ldp     x2, x3, [sp, #16]
        ldp     x4, x5, [sp, #32]
        ldp     x6, x7, [sp, #48]
        ldr     x8, [sp, #64]
        add     sp, sp, #REGS_SIZE
        ldp     x29, x30, [sp], #16
        .cfi_def_cfa_offset 0
        .cfi_restore x29
        .cfi_restore x30
        br      x9
        .cfi_endproc
        .size   \name, . - \name
.endm

        TRAMPOLINE tk__prestub_tramp,   tk__prestub_handler,   x12
        TRAMPOLINE tk__threshold_tramp, tk__threshold_handler, x9
        TRAMPOLINE tk__freed_tramp,     tk__freed_handler,     x12

        .section .note.GNU-stack, "", @progbits
