/* workloads/wl_csharp.h: a generated universe as a C# project
 * (`tk-bench --emit-csharp DIR`; SPEC.md "CoreCLR observation"). */
#ifndef TK_WL_CSHARP_H
#define TK_WL_CSHARP_H

#include "workloads/wl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes DIR/tkgen.csproj, DIR/Universe.cs, DIR/Runner.cs and DIR/Probe.cs
 * (DIR is created if missing; each file is written to a temporary name and
 * renamed, so a failed run leaves no half-written file).  Returns 0, or -1
 * with a message naming the problem (a workload key the C# program cannot
 * express, or the path and errno). */
int tk_wl_emit_csharp(const tk_wl_universe *u, const char *dir, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
