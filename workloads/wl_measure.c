/* workloads/wl_measure.c — what a phase measured: counters per phase, latency
 * percentiles, and the time to steady state.
 * (wl_run_internal.h lists the parts.) */
#include "workloads/wl_run_internal.h"

/* ---- counters ------------------------------------------------------------------- */
void wlr_snapshot(runner *R, tk_wl_run_result *res, uint64_t *nf, uint64_t *fi)
{
    tk_counter c[WL_MAX_COUNTERS];
    memset(c, 0, sizeof c);
    size_t n = R->d->counters ? R->d->counters(R->rt, c, WL_MAX_COUNTERS) : 0;
    if (n > WL_MAX_COUNTERS) n = WL_MAX_COUNTERS;
    if (res->n_counters == 0) {
        for (size_t i = 0; i < n; i++) {
            res->counter_name[i] = strdup(c[i].name ? c[i].name : "?");
            res->counter_split[i] = c[i].split;
        }
        res->n_counters = (uint32_t)n;
    }
    for (size_t i = 0; i < res->n_counters; i++) {
        /* match by name: implementations may add counters lazily */
        size_t j = i < n && c[i].name && !strcmp(c[i].name, res->counter_name[i]) ? i : n;
        if (j == n)
            for (size_t k = 0; k < n; k++)
                if (c[k].name && !strcmp(c[k].name, res->counter_name[i])) { j = k; break; }
        nf[i] = j < n ? c[j].nonfinal : 0;
        fi[i] = j < n ? c[j].final : 0;
    }
}

void wlr_close_phase(runner *R, tk_wl_run_result *res, int ph, double dur_ms, uint64_t *pnf,
                        uint64_t *pfi, worker **ws, int nw)
{
    uint64_t nf[WL_MAX_COUNTERS], fi[WL_MAX_COUNTERS];
    wlr_snapshot(R, res, nf, fi);
    tk_wl_phase_result *p = &res->phase[ph];
    p->present = 1;
    p->duration_ms = dur_ms;
    for (uint32_t i = 0; i < res->n_counters; i++) {
        p->delta_nonfinal[i] = (int64_t)(nf[i] - pnf[i]);
        p->delta_final[i] = (int64_t)(fi[i] - pfi[i]);
        pnf[i] = nf[i];
        pfi[i] = fi[i];
    }
    uint64_t hist[HIST_BUCKETS] = {0};
    for (int i = 0; i < nw; i++) {
        p->requests += atomic_load(&ws[i]->requests[ph]);
        p->calls += atomic_load(&ws[i]->calls[ph]);
        p->calls_tier0 += atomic_load_explicit(&ws[i]->tier_calls[ph][TI_T0], memory_order_relaxed);
        p->calls_tier0instr += atomic_load_explicit(&ws[i]->tier_calls[ph][TI_T0I], memory_order_relaxed);
        p->calls_final += atomic_load_explicit(&ws[i]->tier_calls[ph][TI_FINAL], memory_order_relaxed);
        p->owning_slot_calls += atomic_load_explicit(&ws[i]->owning_calls[ph], memory_order_relaxed);
    }
    (void)hist;
    p->requests_per_s = dur_ms > 0 ? (double)p->requests * 1000.0 / dur_ms : 0;
    p->calls_per_s = dur_ms > 0 ? (double)p->calls * 1000.0 / dur_ms : 0;
}

/* Latency percentiles need the per-thread histograms, which are only read
 * after the workers have been joined. */
void wlr_latency(tk_wl_run_result *res, worker **ws, int nw)
{
    for (int ph = 0; ph < WL_P_COUNT; ph++) {
        tk_wl_phase_result *p = &res->phase[ph];
        uint64_t total = 0, h[HIST_BUCKETS] = {0};
        for (int i = 0; i < nw; i++)
            for (int b = 0; b < HIST_BUCKETS; b++) { h[b] += ws[i]->hist[ph][b]; total += ws[i]->hist[ph][b]; }
        p->p50_us = p->p99_us = p->max_us = -1;
        if (!total) continue;
        uint64_t acc = 0, k50 = (total + 1) / 2, k99 = (total * 99 + 99) / 100;
        for (int b = 0; b < HIST_BUCKETS; b++) {
            if (!h[b]) continue;
            uint64_t before = acc;
            acc += h[b];
            if (before < k50 && acc >= k50) p->p50_us = wlr_hist_value((unsigned)b) / 1000.0;
            if (before < k99 && acc >= k99) p->p99_us = wlr_hist_value((unsigned)b) / 1000.0;
            p->max_us = wlr_hist_value((unsigned)b) / 1000.0;
        }
    }
}

double tk_wl_steady_time(const double *start_ms, const double *rps, uint32_t n, double window_ms,
                         double from_ms, double to_ms, double mean, double tol, uint32_t *n_out,
                         double *closest_pct, double *closest_ms)
{
    double found = -1, best = -1;
    uint32_t considered = 0;
    *closest_pct = 0;
    *closest_ms = -1;
    for (uint32_t i = 0; i < n; i++) {
        double s = start_ms[i];
        if (s < from_ms - 1e-6 || s >= to_ms) continue;
        considered++;
        if (mean <= 0) continue;
        double dev = rps[i] - mean, d = dev < 0 ? -dev : dev;
        if (best < 0 || d < best) {
            best = d;
            *closest_pct = dev / mean * 100.0;
            *closest_ms = s - from_ms;
        }
        if (found < 0 && d <= tol * mean) found = s + window_ms - from_ms;
    }
    *n_out = considered;
    return found;
}
