/* workloads/wl_run.c — tk_wl_run: creates the runtime through the driver ABI, builds the
 * universe, runs the phase sequence and fills the result.
 * (wl_run_internal.h lists the parts.) */
#include "workloads/wl_run_internal.h"
#include <dlfcn.h>

const char *const tk_wl_phase_names[WL_P_COUNT] = {"startup", "warmup", "measured", "quiet",
                                                 "burst", "measured2"};

void wlr_progress(const runner *R, const char *fmt, ...)
{
    if (!R->o->progress) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tk-bench: %s: ", R->o->label ? R->o->label : "run");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *wlr_keep(runner *R, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (R->n_names == R->cap_names) {
        R->cap_names = R->cap_names ? R->cap_names * 2 : 1024;
        R->names = realloc(R->names, R->cap_names * sizeof *R->names);
    }
    return R->names[R->n_names++] = strdup(buf);
}

static int create_runtime(runner *R, tk_wl_run_result *res)
{
    const char *cfg[WL_MAX_CONFIG + 64];
    char own[WL_MAX_CONFIG + 8][192];
    size_t n = 0, no = 0;
    for (uint32_t i = 0; i < R->s->n_config; i++) {
        snprintf(own[no], sizeof own[no], "%s=%s", R->s->config_key[i], R->s->config_val[i]);
        cfg[n++] = own[no++];
    }
    for (size_t i = 0; R->o->extra_config && R->o->extra_config[i] && n < WL_MAX_CONFIG + 40; i++)
        cfg[n++] = R->o->extra_config[i];
    if (R->o->strategy) {
        snprintf(own[no], sizeof own[no], "Strategy=%s", R->o->strategy);
        cfg[n++] = own[no++];
    }
    snprintf(own[no], sizeof own[no], "Mode=%s", R->o->deterministic ? "deterministic" : "threaded");
    cfg[n++] = own[no++];
    if (R->o->trace_path) {
        snprintf(own[no], sizeof own[no], "Trace=%s", R->o->trace_path);
        cfg[n++] = own[no++];
    }
    cfg[n] = NULL;
    char err[512] = "";
    R->rt = R->d->create(cfg, err, sizeof err);
    if (!R->rt) {
        snprintf(res->error, sizeof res->error, "the runtime rejected the configuration: %s",
                 err[0] ? err : "(no message)");
        return -1;
    }
    if (R->d->describe_config) {
        size_t len = R->d->describe_config(R->rt, res->config_text, sizeof res->config_text);
        if (len >= sizeof res->config_text) res->config_text[sizeof res->config_text - 1] = 0;
    }
    return 0;
}

int tk_wl_run(const tk_wl_universe *u, const tk_wl_run_opts *o, tk_wl_run_result *res)
{
    memset(res, 0, sizeof *res);
    res->tts_ms = res->tts_after_burst_ms = -1;
    res->ns_per_call = -1;
    res->tts_closest_ms = res->tts_after_burst_closest_ms = -1;
    res->converge_rounds = res->converge_methods = res->converge_not_final = res->converge_calls = -1;
    res->deterministic = o->deterministic;
    runner R;
    memset(&R, 0, sizeof R);
    R.u = u;
    R.s = u->spec;
    R.d = o->drv;
    R.o = o;
    const tk_wl_spec *s = u->spec;
    int nthreads = o->threads > 0 ? o->threads : (int)s->threads;
    res->threads = o->deterministic ? 1 : nthreads;
    res->window_ms = (double)s->window_ms;
    if (o->deterministic && !(R.d->caps & TK_CAP_DETERMINISTIC)) {
        snprintf(res->error, sizeof res->error, "the implementation lacks TK_CAP_DETERMINISTIC");
        return -1;
    }
    if (!o->deterministic && !(R.d->caps & TK_CAP_THREADED)) {
        snprintf(res->error, sizeof res->error, "the implementation lacks TK_CAP_THREADED");
        return -1;
    }
    /* functions only some runs call: checked against what this run does */
    const char *absent = o->deterministic && !R.d->clock_advance ? "clock_advance"
                       : o->deterministic && !R.d->drain ? "drain"
                       : u->n_interfaces && !R.d->interface_slot ? "interface_slot"
                       : s->churn_types > 0 && s->churn_ms > 0 && !R.d->type_unload ? "type_unload" : NULL;
    if (absent) {
        snprintf(res->error, sizeof res->error, "the driver table's '%s' is NULL and this run needs it",
                 absent);
        return -1;
    }
    if (u->n_interfaces && !(R.d->caps & TK_CAP_INTERFACES)) {
        snprintf(res->error, sizeof res->error,
                 "the workload uses interfaces and the implementation lacks TK_CAP_INTERFACES");
        return -1;
    }
    wlr_setup_tables(&R);
    if (create_runtime(&R, res)) { wlr_teardown(&R); return -1; }

    uint64_t pnf[WL_MAX_COUNTERS] = {0}, pfi[WL_MAX_COUNTERS] = {0};
    worker *mw = &R.main_w;
    mw->R = &R;
    mw->rng = s->seed * 0x9E3779B97F4A7C15ull + 1;
    worker **ws = calloc((size_t)nthreads + 1, sizeof *ws);
    worker *wk = NULL;
    int nw = 0, rc = -1;
    char err[512] = "";

    /* P0 startup: type loads, objects, the first request (timed) */
    double t0 = now_ms();
    R.d->thread_attach(R.rt);
    if (wlr_build(&R, 0, err, sizeof err)) {
        snprintf(res->error, sizeof res->error, "%s", err);
        goto out;
    }
    {
        uint64_t a = now_ns();
        int64_t calls = wlr_do_request(&R, mw, &R.handler[0], s->calls_per_request);
        uint64_t b = now_ns();
        res->first_request_us = (double)(b - a) / 1000.0;
        wlr_record(mw, WL_P_STARTUP, b - a, calls);
    }
    res->startup_ms = now_ms() - t0;
    ws[0] = mw;
    wlr_close_phase(&R, res, WL_P_STARTUP, res->startup_ms, pnf, pfi, ws, 1);

    R.next_rotation_ms = (double)s->rotation_ms;
    R.next_churn_ms = (double)s->churn_ms;
    res->churn_candidates = u->n_churn;
    if (o->deterministic) {
        /* Rounds of requests on this thread, then manual clock + drain. */
        double sim_ms = 0;
        int has_burst = u->n_handlers > u->n_early_handlers;
        for (int part = 0; part < (has_burst ? 2 : 1); part++) {
            int ph = part ? WL_P_BURST : WL_P_WARMUP;
            double a = now_ms();
            if (part) {
                R.d->clock_advance(R.rt, (uint64_t)s->quiet_gap_ms);
                R.d->drain(R.rt);
                wlr_close_phase(&R, res, WL_P_QUIET, 0, pnf, pfi, ws, 1);
                if (wlr_build(&R, 1, err, sizeof err)) {
                    snprintf(res->error, sizeof res->error, "%s", err);
                    goto out;
                }
                atomic_store(&R.late_ready, 1);
                a = now_ms();
            }
            uint32_t h0 = part ? u->n_early_handlers : 0;
            uint32_t nh = part ? u->n_handlers - u->n_early_handlers : u->n_early_handlers;
            for (int64_t r = 0; r < s->det_rounds; r++) {
                int64_t nq = s->det_all_handlers ? (int64_t)nh : s->det_requests_per_round;
                for (int64_t q = 0; q < nq; q++) {
                    const rt_handler *h = s->det_all_handlers ? &R.handler[h0 + (uint32_t)q]
                                                              : wlr_choose_handler(&R, mw);
                    uint64_t x = now_ns();
                    int64_t calls = wlr_do_request(&R, mw, h, s->calls_per_request);
                    wlr_record(mw, ph, now_ns() - x, calls);
                    R.d->safepoint(R.rt);
                }
                R.d->clock_advance(R.rt, (uint64_t)s->det_advance_ms);
                R.d->drain(R.rt);
                /* rotation and churn on the manual clock */
                sim_ms += (double)s->det_advance_ms;
                wlr_rotate_to(&R, sim_ms);
                if (s->churn_ms > 0 && sim_ms >= R.next_churn_ms) {
                    while (R.next_churn_ms <= sim_ms) R.next_churn_ms += (double)s->churn_ms;
                    if (wlr_churn_step(&R, err, sizeof err)) {
                        snprintf(res->error, sizeof res->error, "%s", err);
                        goto out;
                    }
                }
            }
            /* the last warmup part ends with the convergence pass */
            if (part == (has_burst ? 1 : 0) && s->det_converge > 0) {
                wlr_progress(&R, "warmup convergence, at most %lld rounds", (long long)s->det_converge);
                wlr_converge(&R, mw, res);
            }
            wlr_close_phase(&R, res, ph, now_ms() - a, pnf, pfi, ws, 1);
        }
        /* measured: exactly o->calls calls (budgets), or N requests */
        double a = now_ms();
        int64_t made = 0;
        if (o->calls >= 0) {
            int64_t left = o->calls;
            while (left > 0) {
                const rt_handler *h = wlr_choose_handler(&R, mw);
                int64_t b = left < s->calls_per_request ? left : s->calls_per_request;
                uint64_t x = now_ns();
                int64_t c = wlr_do_request(&R, mw, h, b);
                wlr_record(mw, WL_P_MEASURE, now_ns() - x, c);
                made += b;
                left -= b;
            }
        } else {
            for (int64_t q = 0; q < s->det_measure_requests; q++) {
                const rt_handler *h = wlr_choose_handler(&R, mw);
                uint64_t x = now_ns();
                int64_t c = wlr_do_request(&R, mw, h, s->calls_per_request);
                wlr_record(mw, WL_P_MEASURE, now_ns() - x, c);
                made += c;
            }
        }
        double dur = now_ms() - a;
        wlr_close_phase(&R, res, WL_P_MEASURE, dur, pnf, pfi, ws, 1);
        res->measured_calls = made;
        uint64_t mc = res->phase[WL_P_MEASURE].calls;
        res->ns_per_call = mc ? dur * 1e6 / (double)mc : -1;
        wlr_latency(res, ws, 1);
        R.d->thread_detach(R.rt);
        rc = 0;
        goto out;
    }

    /* threaded: workers run the phases; this thread samples and switches */
    R.d->thread_offline(R.rt);
    wk = calloc((size_t)nthreads, sizeof *wk);
    atomic_store(&R.phase, WL_P_WARMUP);
    double origin = now_ms();
    R.t_origin = origin;
    for (int i = 0; i < nthreads; i++) {
        wk[i].R = &R;
        wk[i].rng = (s->seed + 0x1234567ull * (uint64_t)(i + 2)) | 1;
        if (pthread_create(&wk[i].th, NULL, wlr_worker_main, &wk[i])) {
            snprintf(res->error, sizeof res->error, "pthread_create failed");
            atomic_store(&R.phase, WL_P_STOP);
            for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);
            R.d->thread_online(R.rt);
            R.d->thread_detach(R.rt);
            goto out;
        }
        ws[nw++] = &wk[i];
    }
    double d;
#define PHASE_OR_FAIL(ph, ms)                                                          \
    do {                                                                               \
        d = wlr_run_phase(&R, res, (ph), (ms), ws, nw, origin);                            \
        if (d < 0) {                                                                   \
            atomic_store(&R.pause, 0);                                                 \
            atomic_store(&R.phase, WL_P_STOP);                                         \
            for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);                 \
            R.d->thread_online(R.rt);                                                  \
            R.d->thread_detach(R.rt);                                                  \
            goto out;                                                                  \
        }                                                                              \
        wlr_close_phase(&R, res, (ph), d, pnf, pfi, ws, nw);                               \
    } while (0)
    PHASE_OR_FAIL(WL_P_WARMUP, (double)s->warmup_ms);
    double measure_start = now_ms() - origin;
    PHASE_OR_FAIL(WL_P_MEASURE, (double)s->measure_ms);
    double measure_end = now_ms() - origin;
    double burst_start = -1, m2_end = -1;
    if (u->n_handlers > u->n_early_handlers) {
        double qa = now_ms();
        atomic_store(&R.phase, WL_P_QUIET);
        wlr_progress(&R, "quiet gap, %.0f ms, then %u new handlers over %u new types",
                 (double)s->quiet_gap_ms, u->n_handlers - u->n_early_handlers,
                 u->n_classes - u->n_early_classes);
        sleep_ms((double)s->quiet_gap_ms);
        R.d->thread_online(R.rt);
        int brc = wlr_build(&R, 1, err, sizeof err);
        R.d->thread_offline(R.rt);
        wlr_close_phase(&R, res, WL_P_QUIET, now_ms() - qa, pnf, pfi, ws, nw);
        if (brc) {
            snprintf(res->error, sizeof res->error, "%s", err);
            atomic_store(&R.phase, WL_P_STOP);
            for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);
            R.d->thread_online(R.rt);
            R.d->thread_detach(R.rt);
            goto out;
        }
        atomic_store_explicit(&R.late_ready, 1, memory_order_release);
        burst_start = now_ms() - origin;
        PHASE_OR_FAIL(WL_P_BURST, (double)s->burst_ms);
        PHASE_OR_FAIL(WL_P_MEASURE2, (double)s->measure2_ms);
        m2_end = now_ms() - origin;
    }
    atomic_store(&R.phase, WL_P_STOP);
    for (int j = 0; j < nw; j++) pthread_join(wk[j].th, NULL);
    R.d->thread_online(R.rt);
    R.d->thread_detach(R.rt);
    wlr_latency(res, ws, nw);
    {
        /* startup wlr_latency (the first request) lives in the main worker */
        worker *one[1] = {mw};
        tk_wl_phase_result keep0 = res->phase[WL_P_STARTUP];
        tk_wl_run_result *tmp = calloc(1, sizeof *tmp);
        wlr_latency(tmp, one, 1);
        keep0.p50_us = tmp->phase[WL_P_STARTUP].p50_us;
        keep0.p99_us = tmp->phase[WL_P_STARTUP].p99_us;
        keep0.max_us = tmp->phase[WL_P_STARTUP].max_us;
        res->phase[WL_P_STARTUP] = keep0;
        res->phase[WL_P_STARTUP].requests = 1;
        free(tmp);
    }
    res->tts_ms = tk_wl_steady_time(res->window_start_ms, res->window_rps, res->n_windows,
                                    res->window_ms, 0, measure_end,
                                    res->phase[WL_P_MEASURE].requests_per_s, 0.02, &res->tts_windows,
                                    &res->tts_closest_pct, &res->tts_closest_ms);
    (void)measure_start;
    if (burst_start >= 0)
        res->tts_after_burst_ms = tk_wl_steady_time(
            res->window_start_ms, res->window_rps, res->n_windows, res->window_ms, burst_start, m2_end,
            res->phase[WL_P_MEASURE2].requests_per_s, 0.02, &res->tts_after_burst_windows,
            &res->tts_after_burst_closest_pct, &res->tts_after_burst_closest_ms);
    rc = 0;
out:
    if (rc == 0 || res->n_counters == 0) {
        /* final counters (totals) */
        uint64_t nf[WL_MAX_COUNTERS], fi[WL_MAX_COUNTERS];
        if (R.rt) {
            wlr_snapshot(&R, res, nf, fi);
            for (uint32_t i = 0; i < res->n_counters; i++) {
                res->counter_nonfinal[i] = nf[i];
                res->counter_final[i] = fi[i];
            }
        }
    }
    res->rotations = R.rotations;
    res->churn_events = R.churn_events;
    res->churn_unloads = R.churn_unloads;
    res->churn_loads = R.churn_loads;
    res->leaked_recorded_slots = -1;
    for (uint32_t i = 0; i < res->n_counters; i++)
        if (strstr(res->counter_name[i], "leak")) {
            snprintf(res->leak_counter, sizeof res->leak_counter, "%s", res->counter_name[i]);
            res->leaked_recorded_slots = (int64_t)(res->counter_nonfinal[i] + res->counter_final[i]);
            break;
        }
    res->types_defined = u->n_interfaces + u->n_classes + R.churn_loads;
    for (uint32_t c = 0; c < u->n_classes; c++) res->objects += R.obj[c] != NULL;
    free(wk);
    free(ws);
    wlr_teardown(&R);
    return rc;
}

void tk_wl_run_result_free(tk_wl_run_result *res)
{
    for (uint32_t i = 0; i < res->n_counters; i++) free(res->counter_name[i]);
    res->n_counters = 0;
}

const tk_driver *tk_wl_load_driver(const char *path, char *err, size_t errlen)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load implementation %s: %s", path, dlerror());
        return NULL;
    }
    tk_driver_entry_fn entry = (tk_driver_entry_fn)dlsym(h, TK_DRIVER_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s does not export %s (not a tk_driver ABI v%d library)", path,
                 TK_DRIVER_ENTRY_SYMBOL, TK_DRIVER_ABI_VERSION);
        return NULL;
    }
    const tk_driver *d = entry();
    if (!d || d->abi_version != TK_DRIVER_ABI_VERSION) {
        snprintf(err, errlen, "%s: driver ABI version %u, tk-bench needs %d", path,
                 d ? d->abi_version : 0, TK_DRIVER_ABI_VERSION);
        return NULL;
    }
    if (d->size < offsetof(tk_driver, set_event_sink)) {
        snprintf(err, errlen, "%s: driver table too small (%u bytes)", path, d->size);
        return NULL;
    }
    /* Every function tk-bench calls must be present: a NULL entry would be
     * a crash in the middle of a run (tk-conform rejects them the same way). */
#define WL_NEED(fn) { #fn, d->fn == NULL }
    const struct { const char *name; int missing; } need[] = {
        WL_NEED(create), WL_NEED(destroy), WL_NEED(type_define), WL_NEED(type_load),
        WL_NEED(nonvirtual_method), WL_NEED(object_new), WL_NEED(object_free),
        WL_NEED(vtable_slot), WL_NEED(method_slot), WL_NEED(thread_attach), WL_NEED(thread_detach),
        WL_NEED(safepoint), WL_NEED(thread_offline), WL_NEED(thread_online),
    };
#undef WL_NEED
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i].missing) {
            snprintf(err, errlen, "%s: the driver table's '%s' is NULL (tk-bench calls it)", path,
                     need[i].name);
            return NULL;
        }
    return d;
}
