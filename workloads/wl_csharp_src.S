/* workloads/wl_csharp_src.S: the fixed C# sources of `tk-bench --emit-csharp`
 * (workloads/csharp/*.cs), embedded NUL-terminated so the generator writes a
 * complete project without knowing where the tree is.  build.mk makes this
 * object depend on the .cs files (the assembler does not report .incbin). */
        .section .rodata
        .globl  tk_wl_cs_runner
        .hidden tk_wl_cs_runner
tk_wl_cs_runner:
        .incbin "workloads/csharp/Runner.cs"
        .byte   0
        .globl  tk_wl_cs_probe
        .hidden tk_wl_cs_probe
tk_wl_cs_probe:
        .incbin "workloads/csharp/Probe.cs"
        .byte   0
        .section .note.GNU-stack, "", @progbits
