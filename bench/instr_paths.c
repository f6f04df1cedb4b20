/* bench/instr_paths.c — tiny driver for instruction counting.
 * usage: tk-instr-paths PATH-NAME N
 * Sets up every path, then makes N calls through PATH-NAME (N = 0 gives the
 * baseline: identical setup, no calls).  `make bench-instr` runs it under
 * valgrind and reports (Ir(N) - Ir(0)) / N per path. */
#include "dispatch_paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int p = 0; p < TK_PATH_COUNT; p++)
            printf("%s\n", tk_bench_path_names[p]);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH N | --list\n", argv[0]);
        return 2;
    }
    int path = -1;
    for (int p = 0; p < TK_PATH_COUNT; p++)
        if (strcmp(argv[1], tk_bench_path_names[p]) == 0)
            path = p;
    if (path < 0) {
        fprintf(stderr, "unknown path %s\n", argv[1]);
        return 2;
    }
    long n = atol(argv[2]);
    if (tk_bench_setup() != 0)
        return 1;
    long acc = tk_bench_run(path, n);
    tk_bench_teardown();
    printf("%s %ld %ld\n", argv[1], n, acc);
    return 0;
}
