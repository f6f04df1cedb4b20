/* arch/arm64/templates.S — stub templates for arm64 (SPEC.md §Stubs).
 *
 * One copy of each template per supported STUB_PAGE_SIZE (16, 32, 64 KiB);
 * the back end picks the set matching max(16 KiB, OS page size) at startup
 * (`stub.page-size`).  Only the imm19 of the literal loads differs between
 * the sizes.  The bytes are never executed where assembled (.rodata); the
 * stub heap copies them into every slot of a code page, and each
 * `ldr Xt, <literal>` then reads the stub's own slot in the data page at
 * code + STUB_PAGE_SIZE.
 *
 * Register contract (`stub.scratch-registers-only`): stubs write only
 * x9-x12 (and NZCV in CallCounting); x0-x8, sp, lr, x13+ and v0-v31 are
 * never touched.
 *   StubPrecode     x10 = target, x12 = token; br x10.
 *   FixupPrecode    x11 = target; br x11.  Fixup entry (+8): dmb ishld
 *                   (orders the loads after the caller's load of target,
 *                   `stub.fixup-prefill`), x12 = token, x11 = fixup_target
 *                   (prestub); br x11.
 *   CallCounting    x9 = cell address, w10 = *cell - 1 stored back (plain
 *                   ldrh/subs/strh, racy by design); if zero: x10 =
 *                   on_threshold, br x10 with x9 = cell (the threshold
 *                   token); else x9 = target, br x9.
 * Padding is brk #0xf000.
 */
.macro STUB_TEMPLATES page
        .section .rodata.tk_templates, "a"
        .balign 8
        .globl  tk__a64_precode_tpl_\page
        .hidden tk__a64_precode_tpl_\page
tk__a64_precode_tpl_\page:
1:      ldr     x10, 1b + \page + 8          /* target */
        ldr     x12, 1b + \page + 0          /* token  */
        br      x10
        brk     #0xf000
        brk     #0xf000
        brk     #0xf000

        .globl  tk__a64_fixup_tpl_\page
        .hidden tk__a64_fixup_tpl_\page
tk__a64_fixup_tpl_\page:
2:      ldr     x11, 2b + \page + 0          /* target */
        br      x11
        dmb     ishld                        /* +8: fixup entry */
        ldr     x12, 2b + \page + 8          /* token  */
        ldr     x11, 2b + \page + 16         /* fixup_target (prestub) */
        br      x11

        .globl  tk__a64_callcount_tpl_\page
        .hidden tk__a64_callcount_tpl_\page
tk__a64_callcount_tpl_\page:
3:      ldr     x9, 3b + \page + 0           /* cell address */
        ldrh    w10, [x9]
        subs    w10, w10, #1
        strh    w10, [x9]
        b.eq    4f
        ldr     x9, 3b + \page + 8           /* target */
        br      x9
4:      ldr     x10, 3b + \page + 16         /* on_threshold */
        br      x10
        brk     #0xf000
.endm

        STUB_TEMPLATES 16384
        STUB_TEMPLATES 32768
        STUB_TEMPLATES 65536

        .section .note.GNU-stack, "", @progbits
