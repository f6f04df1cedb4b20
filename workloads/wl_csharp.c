/* workloads/wl_csharp.c: the deterministic universe as a C# program, so the
 * same types, virtuals, overrides, interfaces, call sites and handlers run
 * on .NET (SPEC.md "CoreCLR observation", `tk-bench --emit-csharp`).
 *
 * Mapping (wl_run.c's runtime-side universe in C# terms):
 *   class c          Base<c> (root) or C<c> : parent; abstract roots stay abstract
 *   virtual slot s   `public virtual long V<s>(W w, long b, long salt)`
 *                    (override in a class that overrides slot s); slot s is
 *                    CoreCLR vtable slot 4+s of the root's chain (Object has 4)
 *   non-virtual j    `public long N<c>_<j>(...)`; the factory is Base0.Create
 *   interface f      `I<f>` with M<j>; a class maps I<f>.M<j> to its vtable
 *                    slot with an explicit implementation that calls V<slot>
 *                    (C# cannot name an arbitrary virtual as the
 *                    implementation, so interface sites pay one extra call)
 *   site si          static S.S<si>: pick a receiver exactly as wl_calls.c
 *                    call_site() does, call through the site's static type
 *   handler h        static H.H<h>: the request loop of do_request()
 *   body             the work loop of tk_wl_body() with the method's work
 *                    units (times W.mult in cost runs), then its outgoing
 *                    calls with the same budget split.  No tier cost factor:
 *                    on .NET the real JIT decides what a tier costs.
 * Late (burst) classes are first touched by U.BuildLate(), so CoreCLR loads
 * them at the burst, after the early types' methods have tiered. */
#include "workloads/wl_csharp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char tk_wl_cs_runner[];
extern const char tk_wl_cs_probe[];

typedef struct cs_out {
    FILE *f;
    char path[4096], tmp[4200];
} cs_out;

static int cs_open(cs_out *o, const char *dir, const char *name, char *err, size_t errlen)
{
    snprintf(o->path, sizeof o->path, "%s/%s", dir, name);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp%ld", o->path, (long)getpid());
    o->f = fopen(o->tmp, "w");
    if (!o->f) {
        snprintf(err, errlen, "--emit-csharp: cannot write %s: %s", o->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static int cs_close(cs_out *o, int ok, char *err, size_t errlen)
{
    int bad = ferror(o->f);
    if (fclose(o->f)) bad = 1;
    if (ok && !bad && rename(o->tmp, o->path) == 0) return 0;
    if (ok) snprintf(err, errlen, "--emit-csharp: cannot write %s: %s", o->path, strerror(errno));
    unlink(o->tmp);
    return -1;
}

static const char *cls_name(const tk_wl_universe *u, uint32_t c, char buf[32])
{
    snprintf(buf, 32, u->classes[c].parent == WL_NONE ? "Base%u" : "C%u", c);
    return buf;
}

static void p_body(FILE *f, const tk_wl_universe *u, const tk_wl_method *m)
{
    fprintf(f, "        {\n"
               "            ulong x = w.sink; uint n = %uu * w.mult;\n"
               "            for (uint i = 0; i < n; i++) x = x * 6364136223846793005UL + i;\n"
               "            w.sink = x;\n", m->work);
    if (!m->n_calls) {
        fprintf(f, "            return 1;\n        }\n");
        return;
    }
    fprintf(f, "            long used = 1, rem = b - 1, sh, c;\n");
    for (uint32_t i = 0; i < m->n_calls; i++)
        fprintf(f, "            if (rem > 0) { sh = rem / %u; if (sh < 1) sh = 1; c = S.S%u(w, sh, salt); used += c; rem -= c; }\n",
                m->n_calls - i, u->calls[m->first_call + i]);
    fprintf(f, "            return used;\n        }\n");
}

/* Static type of a site's receivers and the member it calls. */
static void site_target(const tk_wl_universe *u, const tk_wl_site *s, char *type, size_t tl,
                        char *member, size_t ml)
{
    char b[32];
    switch (s->kind) {
    case WL_S_VIRT:
        snprintf(type, tl, "%s", cls_name(u, s->target, b));
        snprintf(member, ml, "V%u", s->slot);
        break;
    case WL_S_IFACE:
    case WL_S_FANOUT:
        snprintf(type, tl, "I%u", s->target);
        snprintf(member, ml, "M%u", s->slot);
        break;
    default: {
        const tk_wl_method *m = &u->methods[s->target];
        snprintf(type, tl, "%s", cls_name(u, m->cls, b));
        snprintf(member, ml, "N%u_%u", m->cls, m->index);
    }
    }
}

static void p_class(FILE *f, const tk_wl_universe *u, uint32_t c)
{
    const tk_wl_class *k = &u->classes[c];
    char b[32], pb[32];
    fprintf(f, "public %sclass %s", k->abstract ? "abstract " : "", cls_name(u, c, b));
    int colon = 0;
    if (k->parent != WL_NONE) { fprintf(f, " : %s", cls_name(u, k->parent, pb)); colon = 1; }
    for (uint32_t j = 0; j < k->n_impls; j++) {
        const tk_wl_impl *x = &u->impls[k->first_impl + j];
        if (x->iface_slot == 0) { fprintf(f, "%s I%u", colon ? "," : " :", x->iface); colon = 1; }
    }
    fprintf(f, "\n{\n");
    for (uint32_t j = 0; j < k->n_virtuals; j++) {
        const tk_wl_method *m = &u->methods[k->first_virtual + j];
        if (m->abstract) {
            fprintf(f, "    public abstract long V%u(W w, long b, long salt);\n", m->slot);
            continue;
        }
        fprintf(f, "    public virtual long V%u(W w, long b, long salt)\n", m->slot);
        p_body(f, u, m);
    }
    for (uint32_t j = 0; j < k->n_overrides; j++) {
        const tk_wl_method *m = &u->methods[k->first_override + j];
        fprintf(f, "    public override long V%u(W w, long b, long salt)\n", m->slot);
        p_body(f, u, m);
    }
    for (uint32_t j = 0; j < k->n_nonvirtuals; j++) {
        const tk_wl_method *m = &u->methods[k->first_nonvirtual + j];
        if (m->kind == WL_M_FACTORY) {
            fprintf(f, "    public static long Create(W w) => (long)w.Pick(1u << 30) + 1;\n");
            continue;
        }
        fprintf(f, "    public long N%u_%u(W w, long b, long salt)\n", c, m->index);
        p_body(f, u, m);
    }
    for (uint32_t j = 0; j < k->n_impls; j++) {
        const tk_wl_impl *x = &u->impls[k->first_impl + j];
        fprintf(f, "    long I%u.M%u(W w, long b, long salt) => V%u(w, b, salt);\n", x->iface,
                x->iface_slot, x->vtable_slot);
    }
    fprintf(f, "}\n\n");
}

static void p_site(FILE *f, const tk_wl_universe *u, uint32_t si)
{
    const tk_wl_site *s = &u->sites[si];
    char type[32], mem[32];
    site_target(u, s, type, sizeof type, mem, sizeof mem);
    fprintf(f, "    public static %s[] R%u;\n", type, si);
    fprintf(f, "    public static long S%u(W w, long b, long salt)\n    {\n        var r = R%u;\n", si, si);
    if (s->kind == WL_S_FANOUT)
        fprintf(f, "        long per = b / r.Length, used = 0;\n"
                   "        if (per < 1) per = 1;\n"
                   "        for (int i = 0; i < r.Length && used < b; i++) used += r[i].%s(w, b - used < per ? b - used : per, salt);\n"
                   "        return used;\n    }\n", mem);
    else if (s->n_recv == 1)
        fprintf(f, "        return r[0].%s(w, b, salt);\n    }\n", mem);
    else
        fprintf(f, "        uint i = salt != 0 ? (uint)((ulong)salt %% %uUL) : w.Pick(%uu);\n"
                   "        return r[i].%s(w, b, salt);\n    }\n", s->n_recv, s->n_recv, mem);
}

static void p_site_init(FILE *f, const tk_wl_universe *u, uint32_t si)
{
    const tk_wl_site *s = &u->sites[si];
    char type[32], mem[32];
    site_target(u, s, type, sizeof type, mem, sizeof mem);
    fprintf(f, "        S.R%u = new %s[] {", si, type);
    for (uint32_t q = 0; q < s->n_recv; q++)
        fprintf(f, "%s(%s)O[%u]", q ? ", " : " ", type, u->recv[s->first_recv + q]);
    fprintf(f, " };\n");
}

static void p_u32s(FILE *f, const char *name, const uint32_t *v, uint32_t n)
{
    fprintf(f, "    public static readonly uint[] %s = {", name);
    for (uint32_t i = 0; i < n; i++) fprintf(f, "%s%uu", i ? ", " : " ", v[i]);
    fprintf(f, " };\n");
}

/* Builders in chunks so no generated method is huge. */
#define CS_CHUNK 200

static void p_builders(FILE *f, const tk_wl_universe *u, const char *tag, uint32_t c0, uint32_t c1,
                       uint32_t s0, uint32_t s1)
{
    char b[32];
    uint32_t nchunks = 0;
    for (uint32_t a = c0; a < c1; a += CS_CHUNK) {
        fprintf(f, "    static void %sClasses%u()\n    {\n", tag, nchunks++);
        for (uint32_t c = a; c < c1 && c < a + CS_CHUNK; c++) {
            fprintf(f, "        loaded.Add((\"%s\", typeof(%s)));\n", cls_name(u, c, b), b);
            if (!u->classes[c].abstract) fprintf(f, "        O[%u] = new %s();\n", c, b);
        }
        fprintf(f, "    }\n");
    }
    uint32_t nsc = 0;
    for (uint32_t a = s0; a < s1; a += CS_CHUNK) {
        fprintf(f, "    static void %sSites%u()\n    {\n", tag, nsc++);
        for (uint32_t si = a; si < s1 && si < a + CS_CHUNK; si++) p_site_init(f, u, si);
        fprintf(f, "    }\n");
    }
    fprintf(f, "    public static void Build%s()\n    {\n", tag);
    for (uint32_t i = 0; i < nchunks; i++) fprintf(f, "        %sClasses%u();\n", tag, i);
    for (uint32_t i = 0; i < nsc; i++) fprintf(f, "        %sSites%u();\n", tag, i);
    fprintf(f, "    }\n");
}

static int write_universe(FILE *f, const tk_wl_universe *u)
{
    const tk_wl_spec *s = u->spec;
    char fp[17], b[32];
    tk_wl_fingerprint_hex(u, fp);
    fprintf(f, "// Universe.cs: generated by `tk-bench --emit-csharp` from workload '%s'\n"
               "// (seed %" PRIu64 ", universe fingerprint %s).  Do not edit: regenerate.\n"
               "// %u classes (%u loaded at the burst), %u interfaces, %u methods, %u sites, %u handlers.\n"
               "using System;\nusing System.Collections.Generic;\n\nnamespace TkGen\n{\n",
            s->name, s->seed, fp, u->n_classes, u->n_classes - u->n_early_classes, u->n_interfaces,
            u->n_methods, u->n_sites, u->n_handlers);
    for (uint32_t i = 0; i < u->n_interfaces; i++) {
        fprintf(f, "public interface I%u\n{\n", i);
        for (int64_t j = 0; j < s->interface_methods; j++)
            fprintf(f, "    long M%" PRId64 "(W w, long b, long salt);\n", j);
        fprintf(f, "}\n\n");
    }
    for (uint32_t c = 0; c < u->n_classes; c++) p_class(f, u, c);

    fprintf(f, "public static class S\n{\n");
    for (uint32_t si = 0; si < u->n_sites; si++) p_site(f, u, si);
    fprintf(f, "}\n\npublic static class H\n{\n");
    for (uint32_t h = 0; h < u->n_handlers; h++) {
        const tk_wl_handler *x = &u->handlers[h];
        fprintf(f, "    public static long H%u(W w, long budget, long salt)\n    {\n"
                   "        long rem = budget, calls = 0, used;\n"
                   "        for (uint i = 0; rem > 0; i++)\n        {\n"
                   "            long bb = rem < %" PRId64 " ? rem : %" PRId64 ";\n"
                   "            switch (i %% %uu)\n            {\n",
                h, s->call_tree_budget, s->call_tree_budget, x->n_sites);
        for (uint32_t j = 0; j < x->n_sites; j++)
            fprintf(f, "                case %u: used = S.S%u(w, bb, salt); break;\n", j,
                    u->handler_sites[x->first_site + j]);
        fprintf(f, "                default: used = bb; break;\n            }\n"
                   "            rem -= used;\n            calls += used;\n        }\n"
                   "        return calls;\n    }\n");
    }
    fprintf(f, "}\n\npublic static class U\n{\n");
    fprintf(f, "    public const string Name = \"%s\", Fingerprint = \"%s\";\n", s->name, fp);
    fprintf(f, "    public const ulong Seed = %" PRIu64 "UL;\n", s->seed);
    fprintf(f, "    public const bool Deterministic = %s, DetAllHandlers = %s;\n",
            s->mode == WL_MODE_DETERMINISTIC ? "true" : "false", s->det_all_handlers ? "true" : "false");
    fprintf(f, "    public const int Threads = %" PRId64 ", Handlers = %u, EarlyHandlers = %u;\n",
            s->threads, u->n_handlers, u->n_early_handlers);
    fprintf(f, "    public const long CallsPerRequest = %" PRId64 ";\n", s->calls_per_request);
    fprintf(f, "    public const uint BurstSharePpb = %uu;\n", s->burst_share_ppb);
    fprintf(f, "    public const double WarmupMs = %" PRId64 ", MeasureMs = %" PRId64 ", QuietGapMs = %" PRId64
               ", BurstMs = %" PRId64 ", Measure2Ms = %" PRId64 ", WindowMs = %" PRId64 ";\n",
            s->warmup_ms, s->measure_ms, s->quiet_gap_ms, s->burst_ms, s->measure2_ms, s->window_ms);
    fprintf(f, "    public const long DetRounds = %" PRId64 ", DetRequestsPerRound = %" PRId64
               ", DetMeasureRequests = %" PRId64 ";\n    public const double DetAdvanceMs = %" PRId64 ";\n",
            s->det_rounds, s->det_requests_per_round, s->det_measure_requests, s->det_advance_ms);
    p_u32s(f, "ZipfEarly", u->zipf_early, u->n_early_handlers);
    p_u32s(f, "ZipfLate", u->zipf_late, u->n_handlers - u->n_early_handlers);
    fprintf(f, "    static readonly object[] O = new object[%u];\n", u->n_classes);
    fprintf(f, "    static readonly List<(string, Type)> loaded = new List<(string, Type)>();\n"
               "    public static List<(string, Type)> Loaded() { lock (loaded) return new List<(string, Type)>(loaded); }\n");
    p_builders(f, u, "Early", 0, u->n_early_classes, 0, u->n_early_sites);
    p_builders(f, u, "Late", u->n_early_classes, u->n_classes, u->n_early_sites, u->n_sites);
    fprintf(f, "    public static long Request(W w, int h, long budget)\n    {\n        long salt = 0, calls = 0;\n");
    if (u->factory_method != WL_NONE)
        fprintf(f, "        salt = %s.Create(w);\n        calls++;\n",
                cls_name(u, u->methods[u->factory_method].cls, b));
    fprintf(f, "        switch (h)\n        {\n");
    for (uint32_t h = 0; h < u->n_handlers; h++)
        fprintf(f, "            case %u: calls += H.H%u(w, budget, salt); break;\n", h, h);
    fprintf(f, "            default: throw new ArgumentOutOfRangeException(nameof(h));\n        }\n"
               "        return calls;\n    }\n}\n}\n");
    return 0;
}

static int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    cs_out o;
    if (cs_open(&o, dir, name, err, errlen)) return -1;
    fputs(text, o.f);
    return cs_close(&o, 1, err, errlen);
}

int tk_wl_emit_csharp(const tk_wl_universe *u, const char *dir, char *err, size_t errlen)
{
    const tk_wl_spec *s = u->spec;
    /* What the C# schedule cannot reproduce is refused, not approximated. */
    if (s->rotation_ms > 0 || s->churn_types > 0) {
        snprintf(err, errlen, "--emit-csharp: %s: receiver rotation and type churn (rotation_ms, "
                 "churn_types) are not supported by the C# program", s->path);
        return -1;
    }
    if (s->det_converge > 0) {
        snprintf(err, errlen, "--emit-csharp: %s: det_converge is not supported by the C# program", s->path);
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "--emit-csharp: %s exists and is not a directory", dir);
            return -1;
        }
    } else if (mkdir(dir, 0777)) {
        snprintf(err, errlen, "--emit-csharp: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    const char *proj =
        "<Project Sdk=\"Microsoft.NET.Sdk\">\n"
        "  <!-- generated by tk-bench (emit-csharp); builds offline, no package references -->\n"
        "  <PropertyGroup>\n"
        "    <OutputType>Exe</OutputType>\n"
        "    <TargetFramework>net10.0</TargetFramework>\n"
        "    <AssemblyName>tkgen</AssemblyName>\n"
        "    <RootNamespace>TkGen</RootNamespace>\n"
        "    <AllowUnsafeBlocks>true</AllowUnsafeBlocks>\n"
        "    <ImplicitUsings>disable</ImplicitUsings>\n"
        "    <Nullable>disable</Nullable>\n"
        "    <UseAppHost>false</UseAppHost>\n"
        "    <InvariantGlobalization>true</InvariantGlobalization>\n"
        "    <SatelliteResourceLanguages>en</SatelliteResourceLanguages>\n"
        "    <GenerateDocumentationFile>false</GenerateDocumentationFile>\n"
        "    <Deterministic>true</Deterministic>\n"
        "    <Optimize>true</Optimize>\n"
        "    <NoWarn>CS0162</NoWarn>\n"
        "    <!-- tiering knobs come from DOTNET_* variables at run time -->\n"
        "  </PropertyGroup>\n"
        "</Project>\n";
    cs_out o;
    if (cs_open(&o, dir, "Universe.cs", err, errlen)) return -1;
    write_universe(o.f, u);
    if (cs_close(&o, 1, err, errlen)) return -1;
    if (write_text(dir, "Runner.cs", tk_wl_cs_runner, err, errlen) ||
        write_text(dir, "Probe.cs", tk_wl_cs_probe, err, errlen) ||
        write_text(dir, "tkgen.csproj", proj, err, errlen))
        return -1;
    return 0;
}
