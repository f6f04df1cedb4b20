/* workloads/wl_phases.c — running one phase: threaded workers, receiver rotation,
 * type churn.
 * (wl_run_internal.h lists the parts.) */
#include "workloads/wl_run_internal.h"

/* ---- threaded mode -------------------------------------------------------------- */
void *wlr_worker_main(void *arg)
{
    worker *w = arg;
    runner *R = w->R;
    R->d->thread_attach(R->rt);
    for (;;) {
        int ph = atomic_load_explicit(&R->phase, memory_order_acquire);
        if (ph == WL_P_STOP) break;
        if (ph == WL_P_QUIET) {
            R->d->thread_offline(R->rt);
            while (atomic_load_explicit(&R->phase, memory_order_acquire) == WL_P_QUIET) sleep_ms(1);
            R->d->thread_online(R->rt);
            continue;
        }
        if (atomic_load_explicit(&R->pause, memory_order_acquire)) {
            /* type churn: park (offline) until the main thread is done */
            R->d->thread_offline(R->rt);
            atomic_fetch_add(&R->parked, 1);
            while (atomic_load_explicit(&R->pause, memory_order_acquire)) sleep_ms(0.05);
            R->d->thread_online(R->rt);
            atomic_fetch_sub(&R->parked, 1);
            continue;
        }
        const rt_handler *h = wlr_choose_handler(R, w);
        uint64_t t0 = now_ns();
        int64_t calls = wlr_do_request(R, w, h, R->s->calls_per_request);
        wlr_record(w, ph, now_ns() - t0, calls);
        R->d->safepoint(R->rt);
    }
    R->d->thread_detach(R->rt);
    return NULL;
}

static uint64_t total_requests(worker **ws, int nw)
{
    uint64_t t = 0;
    for (int i = 0; i < nw; i++)
        for (int ph = 0; ph < WL_P_COUNT; ph++)
            t += atomic_load_explicit(&ws[i]->requests[ph], memory_order_relaxed);
    return t;
}

/* ---- receiver rotation and type churn ---------------------------------------- */
/* Rotation phase at time t_ms (from the start of warmup): A uniform, B Zipf,
 * C single type, each rotation_ms long, repeating. */
void wlr_rotate_to(runner *R, double t_ms)
{
    if (R->s->rotation_ms <= 0) return;
    int mode = (int)((uint64_t)(t_ms / (double)R->s->rotation_ms) % 3);
    if (mode != atomic_load_explicit(&R->recv_mode, memory_order_relaxed)) {
        atomic_store_explicit(&R->recv_mode, mode, memory_order_relaxed);
        R->rotations++;
    }
}

/* One churn event; no worker is calling (parked, or deterministic mode).
 * Loads fresh copies (type_define + type_load) of the types unloaded by the
 * previous event and points their receiver entries back at them, then
 * unloads the next churn_types candidates after pointing each of their
 * receiver entries at a stand-in: the first receiver of the same site that
 * is not a churn candidate (one exists by construction, wl_gen.c). */
int wlr_churn_step(runner *R, char *err, size_t errlen)
{
    const tk_wl_universe *u = R->u;
    R->churn_events++;
    for (uint32_t k = 0; k < R->n_churn_out; k++) {
        uint32_t c = R->churn_out[k];
        if (wlr_define_class(R, c, err, errlen)) return -1;
        R->unloaded[c] = 0;
        R->churn_loads++;
        for (uint32_t j = R->cls_recv_off[c]; j < R->cls_recv_off[c + 1]; j++) {
            uint32_t ri = R->cls_recv[j];
            if (wlr_resolve_recv(R, R->recv_site[ri], ri, err, errlen)) return -1;
        }
    }
    R->n_churn_out = 0;
    uint32_t want = (uint32_t)R->s->churn_types;
    if (want > u->n_churn) want = u->n_churn;
    for (uint32_t k = 0; k < want; k++) {
        uint32_t c = u->churn[R->churn_cursor++ % u->n_churn];
        for (uint32_t j = R->cls_recv_off[c]; j < R->cls_recv_off[c + 1]; j++) {
            uint32_t ri = R->cls_recv[j];
            if (wlr_stand_in(R, R->recv_site[ri], ri, err, errlen)) return -1;
        }
        if (R->obj[c]) R->d->object_free(R->rt, R->obj[c]);
        R->obj[c] = NULL;
        if (R->d->type_unload(R->rt, R->class_t[c])) {
            snprintf(err, errlen, "churn: type_unload(C%u) failed", c);
            return -1;
        }
        R->unloaded[c] = 1;
        R->churn_unloads++;
        R->churn_out[R->n_churn_out++] = c;
    }
    return 0;
}

/* Threaded churn: park the workers (offline, outside any call), churn on
 * this thread, release them. */
static int churn_threaded(runner *R, int nw, char *err, size_t errlen)
{
    atomic_store_explicit(&R->pause, 1, memory_order_release);
    while (atomic_load(&R->parked) < nw) sleep_ms(0.05);
    R->d->thread_online(R->rt);
    int rc = wlr_churn_step(R, err, errlen);
    R->d->thread_offline(R->rt);
    atomic_store_explicit(&R->pause, 0, memory_order_release);
    while (atomic_load(&R->parked) > 0) sleep_ms(0.05);
    return rc;
}

static double min_d(double a, double b) { return a < b ? a : b; }

/* Runs phase `ph` for dur_ms, sampling request counts every window. */
double wlr_run_phase(runner *R, tk_wl_run_result *res, int ph, double dur_ms, worker **ws, int nw,
                        double t_origin)
{
    double start = now_ms(), end = start + dur_ms;
    atomic_store_explicit(&R->phase, ph, memory_order_release);
    wlr_progress(R, "%s phase, %.1f s", tk_wl_phase_names[ph], dur_ms / 1000.0);
    if (ph == WL_P_QUIET) {
        sleep_ms(dur_ms);
        return now_ms() - start;
    }
    /* Windows lie on a fixed grid from the start of the phase (start + k *
     * window_ms), so oversleeping never shifts the later ones; a window's
     * rate uses its actual length (from the sampler's wake-up to the next),
     * and whether it counts (for time to steady state) is decided on the
     * grid, not on the wake-up times: a window counts when its grid slot,
     * cut at the end of the phase, is at least 95% of window_ms.  So a late
     * wake-up (a loaded host) never drops the window after it, and the last
     * window of a phase is kept unless the phase is not a multiple of the
     * window.  A sampler that oversleeps a whole slot merges the slots it
     * slept through into one window. */
    double wstart = start, gstart = start, grid = start + res->window_ms;
    uint64_t wreq = total_requests(ws, nw);
    int events = R->s->rotation_ms > 0 || R->s->churn_ms > 0;
    while (now_ms() < end - 0.5) {
        double next = grid;
        if (next > end) next = end;
        if (events) {
            /* wake up for the next rotation or churn event too */
            if (R->s->rotation_ms > 0) next = min_d(next, R->next_rotation_ms + t_origin);
            if (R->s->churn_ms > 0) next = min_d(next, R->next_churn_ms + t_origin);
        }
        sleep_ms(next - now_ms());
        double t = now_ms();
        if (events) {
            if (R->s->rotation_ms > 0 && t - t_origin >= R->next_rotation_ms) {
                wlr_rotate_to(R, t - t_origin);
                while (R->next_rotation_ms <= t - t_origin) R->next_rotation_ms += (double)R->s->rotation_ms;
            }
            if (R->s->churn_ms > 0 && t - t_origin >= R->next_churn_ms) {
                if (churn_threaded(R, nw, res->error, sizeof res->error)) return -1;
                while (R->next_churn_ms <= now_ms() - t_origin) R->next_churn_ms += (double)R->s->churn_ms;
                t = now_ms();
            }
        }
        if (t < grid - 0.05 && t < end - 0.5) continue;   /* woken early (an event) */
        uint64_t req = total_requests(ws, nw);
        double gend = grid < end ? grid : end;             /* the slot's end on the grid */
        if (gend - gstart >= res->window_ms * 0.95 && t > wstart && res->n_windows < WL_MAX_WINDOWS) {
            res->window_start_ms[res->n_windows] = wstart - t_origin;
            res->window_rps[res->n_windows] = (double)(req - wreq) * 1000.0 / (t - wstart);
            res->window_phase[res->n_windows] = (uint8_t)ph;
            res->n_windows++;
        }
        wstart = t;
        wreq = req;
        while (grid <= t + 0.05) grid += res->window_ms;
        gstart = grid - res->window_ms;
    }
    return now_ms() - start;
}
