/* arch/x86_64/trampolines.S — prestub, threshold and freed-stub trampolines.
 *
 * Register contract (SPEC.md `stub.scratch-registers-only`, `stub.freed-trap`):
 *   entry:   prestub    token in r10 (from StubPrecode / Fixup fixup entry)
 *            threshold  token in rax (the counter cell, from CallCounting)
 *            freed      token in r10 (the freed stub's token word = its
 *                       own address for precodes; undefined for a freed
 *                       CallCountingStub, which does not load r10)
 *   saves:   rdi rsi rdx rcx r8 r9 -> regs.gpr[0..5], rax -> regs.gpr[6]
 *            (the vararg %al), xmm0-7 (low 128 bits) -> regs.fpr[0..7];
 *            gpr[7], gpr[8] and pad are zeroed.
 *   calls:   handler(token, &regs) with rsp 16-byte aligned (SysV).
 *   exit:    restores all saved registers from regs (so a handler may edit
 *            them), then tail-jumps to the handler's return value through
 *            r11.  Clobbers: r10, r11, flags.  The return address pushed
 *            by the original caller is left in place, so the target
 *            returns straight to the caller.
 */
#define REGS_SIZE 208          /* sizeof(tk_arch_regs) */
#define FPR 80                 /* offsetof(tk_arch_regs, fpr) */

.macro TRAMPOLINE name, handler, tokreg
        .text
        .p2align 4
        .globl  \name
        .hidden \name
        .type   \name, @function
\name:
        .cfi_startproc
        pushq   %rbp                    /* rsp was 8 mod 16 at entry */
        .cfi_def_cfa_offset 16
        .cfi_offset %rbp, -16
        movq    %rsp, %rbp
        .cfi_def_cfa_register %rbp
        subq    $REGS_SIZE, %rsp        /* 208 = 13*16: stays aligned */
        movq    %rdi, 0(%rsp)
        movq    %rsi, 8(%rsp)
        movq    %rdx, 16(%rsp)
        movq    %rcx, 24(%rsp)
        movq    %r8, 32(%rsp)
        movq    %r9, 40(%rsp)
        movq    %rax, 48(%rsp)
        movq    $0, 56(%rsp)
        movq    $0, 64(%rsp)
        movq    $0, 72(%rsp)
        movaps  %xmm0, FPR+0(%rsp)
        movaps  %xmm1, FPR+16(%rsp)
        movaps  %xmm2, FPR+32(%rsp)
        movaps  %xmm3, FPR+48(%rsp)
        movaps  %xmm4, FPR+64(%rsp)
        movaps  %xmm5, FPR+80(%rsp)
        movaps  %xmm6, FPR+96(%rsp)
        movaps  %xmm7, FPR+112(%rsp)
        movq    \tokreg, %rdi
        movq    %rsp, %rsi
        call    *\handler(%rip)
        movq    %rax, %r11
        movq    0(%rsp), %rdi
        movq    8(%rsp), %rsi
        movq    16(%rsp), %rdx
        movq    24(%rsp), %rcx
        movq    32(%rsp), %r8
        movq    40(%rsp), %r9
        movq    48(%rsp), %rax
        movaps  FPR+0(%rsp), %xmm0
        movaps  FPR+16(%rsp), %xmm1
        movaps  FPR+32(%rsp), %xmm2
        movaps  FPR+48(%rsp), %xmm3
        movaps  FPR+64(%rsp), %xmm4
        movaps  FPR+80(%rsp), %xmm5
        movaps  FPR+96(%rsp), %xmm6
        movaps  FPR+112(%rsp), %xmm7
        leave
        .cfi_def_cfa %rsp, 8
        jmp     *%r11
        .cfi_endproc
        .size   \name, . - \name
.endm

        TRAMPOLINE tk__prestub_tramp,   tk__prestub_handler,   %r10
        TRAMPOLINE tk__threshold_tramp, tk__threshold_handler, %rax
        TRAMPOLINE tk__freed_tramp,     tk__freed_handler,     %r10

        .section .note.GNU-stack, "", @progbits
