/* workloads/wl_run.h — running a generated universe through a tk_driver. */
#ifndef TK_WL_RUN_H
#define TK_WL_RUN_H

#include "conformance/tk_driver.h"
#include "workloads/wl.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { WL_P_STARTUP = 0, WL_P_WARMUP, WL_P_MEASURE, WL_P_QUIET, WL_P_BURST, WL_P_MEASURE2,
       WL_P_COUNT, WL_P_STOP = WL_P_COUNT };
extern const char *const tk_wl_phase_names[WL_P_COUNT];

#define WL_MAX_COUNTERS 128
#define WL_MAX_WINDOWS 4096

typedef struct tk_wl_run_opts {
    const tk_driver *drv;
    const char *strategy;             /* NULL: no Strategy key               */
    const char *const *extra_config;  /* --config K=V (NULL-terminated)      */
    const char *trace_path;           /* NULL: no trace                      */
    int threads;
    int deterministic;
    int64_t calls;                    /* --calls N for the measured phase; -1 */
    int progress;                     /* progress lines on stderr            */
    const char *label;                /* progress prefix                     */
} tk_wl_run_opts;

typedef struct tk_wl_phase_result {
    int present;
    double duration_ms;
    uint64_t requests, calls;
    double requests_per_s, calls_per_s;
    double p50_us, p99_us, max_us;    /* request latency                     */
    /* counter deltas over the phase, indexed like tk_wl_run_result.counter_name */
    /* signed: a gauge (live bytes, methods at a tier) can go down in a phase */
    int64_t delta_nonfinal[WL_MAX_COUNTERS], delta_final[WL_MAX_COUNTERS];
    /* body executions by the tier that ran them (Tier0, Tier0Instrumented,
     * final = Tier1/Optimized) and calls made through owning slots */
    uint64_t calls_tier0, calls_tier0instr, calls_final, owning_slot_calls;
} tk_wl_phase_result;

typedef struct tk_wl_run_result {
    char error[1024];
    char config_text[8192];           /* describe_config                     */
    double startup_ms, first_request_us;
    tk_wl_phase_result phase[WL_P_COUNT];
    double tts_ms, tts_after_burst_ms;/* time to steady state, -1: never     */
    /* why it may be never: the full windows considered (from the start of
     * warmup / of the burst to the end of the measured window), and the
     * one whose rate was closest to the measured mean (signed deviation in
     * percent of the mean, and its start from the start of warmup/burst;
     * -1 windows: no window) */
    uint32_t tts_windows, tts_after_burst_windows;
    double tts_closest_pct, tts_closest_ms, tts_after_burst_closest_pct, tts_after_burst_closest_ms;
    double window_ms;
    uint32_t n_windows;
    double window_rps[WL_MAX_WINDOWS];
    double window_start_ms[WL_MAX_WINDOWS];
    uint8_t window_phase[WL_MAX_WINDOWS];
    uint32_t n_counters;
    char *counter_name[WL_MAX_COUNTERS];
    uint64_t counter_nonfinal[WL_MAX_COUNTERS], counter_final[WL_MAX_COUNTERS];
    uint32_t counter_split[WL_MAX_COUNTERS];
    int64_t measured_calls;           /* deterministic measured phase        */
    /* deterministic warmup convergence (det_converge > 0): rounds run,
     * distinct methods reached through the sites' receivers, those whose
     * last call still ran non-final code, calls made; -1: not run */
    int64_t converge_rounds, converge_methods, converge_not_final, converge_calls;
    double ns_per_call;               /* -1 when not measured                */
    uint64_t types_defined, objects;
    /* receiver rotation and type churn */
    uint64_t rotations, churn_events, churn_unloads, churn_loads, churn_candidates;
    int64_t leaked_recorded_slots;    /* -1: the driver exposes no counter   */
    char leak_counter[64];            /* its name, "" if none                */
    int threads, deterministic;
} tk_wl_run_result;

/* Time to steady state over the sampled windows: the end of the first
 * window starting in [from_ms, to_ms) whose rate is within tol (0.02) of
 * `mean`, in ms after from_ms; -1 if none.  *n_out: windows considered;
 * *closest_pct / *closest_ms: signed deviation (percent of mean) and start
 * (ms after from_ms) of the window closest to the mean (-1 ms if none). */
double tk_wl_steady_time(const double *start_ms, const double *rps, uint32_t n, double window_ms,
                         double from_ms, double to_ms, double mean, double tol, uint32_t *n_out,
                         double *closest_pct, double *closest_ms);

/* Runs the whole schedule for one strategy.  0 on success; -1 with
 * res->error set.  The runtime is created and destroyed inside. */
int tk_wl_run(const tk_wl_universe *u, const tk_wl_run_opts *o, tk_wl_run_result *res);
void tk_wl_run_result_free(tk_wl_run_result *res);

/* dlopen + ABI checks; NULL and a message on failure. */
const tk_driver *tk_wl_load_driver(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
