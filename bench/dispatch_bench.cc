// bench/dispatch_bench.cc — Google Benchmark driver for the dispatch paths
// built in dispatch_paths.c.  One iteration = one call; the reported time is
// ns per call.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "dispatch_paths.h"

static void BM_path(benchmark::State &state)
{
    const int path = static_cast<int>(state.range(0));
    long i = 0;
    if (path == TK_PATH_DIRECT) {
        for (auto _ : state) {
            benchmark::DoNotOptimize(tk_bench_direct(i));
            if ((++i & 0x3FFF) == 0)
                tk_bench_refill();
        }
    } else {
        for (auto _ : state) {
            tk_bench_fn f = reinterpret_cast<tk_bench_fn>(tk_bench_slots[path]);
            benchmark::DoNotOptimize(f(i));
            if ((++i & 0x3FFF) == 0)
                tk_bench_refill();
        }
    }
    state.SetLabel(tk_bench_path_names[path]);
    state.counters["calls"] = benchmark::Counter(static_cast<double>(state.iterations()));
}

int main(int argc, char **argv)
{
    if (tk_bench_setup() != 0) {
        std::fprintf(stderr, "tk-bench-stubs: setup failed\n");
        return 1;
    }
    for (int p = 0; p < TK_PATH_COUNT; p++)
        benchmark::RegisterBenchmark(tk_bench_path_names[p], BM_path)->Arg(p);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    tk_bench_teardown();
    return 0;
}
