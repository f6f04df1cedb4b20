/* reference/examples/seed_counters.c — tk-seed-counters: runs the seed
 * scenario (PR #125359: abstract base, derived types, factory, hot loops,
 * TieredPGO on) under all five strategies in deterministic mode and prints
 * the counters table (non-final / final phase per strategy). */
#include "seed_scenario.h"
#include "cli/numarg.h"
#include "cli/outfile.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tk-seed-counters [THRESHOLD]\n"
               "Runs the seed scenario (PR #125359: abstract base, derived types, factory,\n"
               "hot loops, TieredPGO on) under every strategy in deterministic mode and\n"
               "prints the counters (non-final/final phase per strategy).\n"
               "  THRESHOLD   CallCountThreshold, a decimal integer in [1, 65535] (default 30)\n"
               "TK_* environment variables configure the runtime as elsewhere.\n"
               "Exit status: 0 ok, 1 the scenario failed or the output cannot be written,\n"
               "2 bad arguments or configuration.\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "tk-seed-counters: unexpected argument '%s'\n", argv[argc > 2 ? 2 : 1]);
        usage(stderr);
        return 2;
    }
    const char *threshold = argc > 1 ? argv[1] : "30";
    {
        uint64_t v;
        char why[160];
        if (tk_arg_u64(threshold, 1, 65535, &v, why, sizeof why)) {
            fprintf(stderr, "tk-seed-counters: THRESHOLD '%s': %s\n", threshold, why);
            return 2;
        }
    }
    tk_counter tab[TK_STRATEGY_COUNT][64];
    size_t n = 0;
    int status = 0;
    for (int s = 0; s < TK_STRATEGY_COUNT; s++) {
        tk_config cfg;
        char err[1024];   /* an unknown key's message lists every key */
        tk_config_defaults(&cfg);
        if (tk_config_from_env(&cfg, err, sizeof err) ||
            tk_config_set(&cfg, "Mode", "deterministic", err, sizeof err) ||
            tk_config_set(&cfg, "Strategy", tk_strategy_names[s], err, sizeof err) ||
            tk_config_set(&cfg, "CallCountThreshold", threshold, err, sizeof err)) {
            fprintf(stderr, "tk-seed-counters: %s\n", err);
            return 2;
        }
        tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
        if (!rt) { fprintf(stderr, "tk-seed-counters: %s\n", err); return 2; }
        seed_run run;
        if (seed_execute(&run, rt) || run.wrong) { fprintf(stderr, "seed scenario failed (%s)\n", tk_strategy_names[s]); status = 1; }
        n = tk_counters(rt, tab[s], 64);
        seed_teardown(&run);
        tk_runtime_destroy(rt);
    }
    printf("seed scenario (PR #125359 shape), CallCountThreshold=%s, TieredPGO=1; cells: nonfinal/final\n\n", threshold);
    printf("%-34s", "counter");
    for (int s = 0; s < TK_STRATEGY_COUNT; s++) printf(" %17s", tk_strategy_names[s]);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        printf("%-34s", tab[0][i].name);
        for (int s = 0; s < TK_STRATEGY_COUNT; s++) {
            char cell[48];
            if (tab[s][i].split)
                snprintf(cell, sizeof cell, "%llu/%llu", (unsigned long long)tab[s][i].nonfinal,
                         (unsigned long long)tab[s][i].final);
            else
                snprintf(cell, sizeof cell, "%llu", (unsigned long long)tab[s][i].final);
            printf(" %17s", cell);
        }
        printf("\n");
    }
    if (tk_out_stdout_check("tk-seed-counters")) status = 1;
    return status;
}
