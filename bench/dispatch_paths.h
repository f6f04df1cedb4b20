/* bench/dispatch_paths.h — call paths measured by the stub benchmarks. */
#ifndef TK_BENCH_DISPATCH_PATHS_H
#define TK_BENCH_DISPATCH_PATHS_H
#ifdef __cplusplus
extern "C" {
#endif

/* Paths, named by the stubs a call goes through (the reference's kinds:
 * the temporary entry point and the forwarder are FixupPrecodes). */
enum {
    TK_PATH_DIRECT = 0,          /* direct call of the body                     */
    TK_PATH_FNPTR_TABLE,         /* slot -> compiled function: the limit, a plain
                                    function-pointer table with no runtime entry */
    TK_PATH_SLOT_ENTRY,          /* slot -> emitted entry -> body               */
    TK_PATH_STUBPRECODE,         /* slot -> StubPrecode -> entry -> body        */
    TK_PATH_FIXUPPRECODE,        /* slot -> FixupPrecode -> entry -> body       */
    TK_PATH_TEP_COUNT,           /* slot -> temporary entry point (FixupPrecode)
                                    -> counting stub -> entry (precode-reuse, lazy) */
    TK_PATH_FORWARDER_COUNT,     /* slot -> forwarder (FixupPrecode) -> counting
                                    stub -> entry (forwarder strategy)           */
    TK_PATH_COUNT
};

typedef long (*tk_bench_fn)(long);

extern const char *const tk_bench_path_names[TK_PATH_COUNT];
/* One slot per path (read once per call: "a call through a slot"). */
extern void *volatile tk_bench_slots[TK_PATH_COUNT];

/* Build stubs and entries; returns 0 on success. */
int tk_bench_setup(void);
void tk_bench_teardown(void);
/* Refill the counting cells (keeps the threshold from being reached). */
void tk_bench_refill(void);
/* The body, callable directly (path DIRECT). */
long tk_bench_direct(long x);
/* Run n calls through `path` (C loop used by the instruction counter). */
long tk_bench_run(int path, long n);

#ifdef __cplusplus
}
#endif
#endif
