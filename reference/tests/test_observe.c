/* reference/tests/test_observe.c — what the reference shows of itself,
 * checked exactly: the fields of the events that carry no method or
 * version (SPEC.md "Event trace": `safepoint_sync`, `delay_*`,
 * `lock_*`, `type_*` have only the fields the table lists), and the
 * processor count a threaded runtime detects from the affinity mask (SPEC
 * "Configuration keys": PROCESSOR_COUNT 0 = the CPUs of the affinity mask;
 * `inv.config.single-proc-delay`). */
#include "reftest.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t obody(const tk_code_ctx *ctx, void *self, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    (void)self; (void)a1; (void)a2; (void)a3;
    return (intptr_t)ctx->user * 1000 + a0;
}

typedef struct seen {
    unsigned n[TK_EV_KIND_COUNT];
    unsigned sync_unload, sync_other;
    uint64_t last_seq;
    char bad[256];
} seen;

static void note_bad(seen *s, const tk_event *ev, const char *what)
{
    if (!s->bad[0])
        snprintf(s->bad, sizeof s->bad, "event %s (seq %llu): %s", tk_event_name(ev->kind),
                 (unsigned long long)ev->seq, what);
}

/* Events that concern no method version carry no version fields: IL
 * version 0, no previous tier, no slot, stub or values, and (those that
 * never concern a method) tier unknown. */
static void sink(void *user, const tk_event *ev)
{
    seen *s = user;
    if (ev->kind > 0 && ev->kind < TK_EV_KIND_COUNT) s->n[ev->kind]++;
    if (ev->seq != s->last_seq + 1) note_bad(s, ev, "seq does not follow the previous event's");
    s->last_seq = ev->seq;
    switch (ev->kind) {
    case TK_EV_SAFEPOINT_SYNC:
        if (ev->reason && !strcmp(ev->reason, "type_unload")) s->sync_unload++;
        else s->sync_other++;
        /* fall through */
    case TK_EV_DELAY_BEGIN: case TK_EV_DELAY_END: case TK_EV_LOCK_ACQUIRE: case TK_EV_LOCK_RELEASE:
        if (ev->method) note_bad(s, ev, "has a method");
        /* fall through */
    case TK_EV_DELAY_EXTEND:
        if (ev->type) note_bad(s, ev, "has a type");
        /* fall through */
    case TK_EV_TYPE_LOAD: case TK_EV_TYPE_UNLOAD:
        if ((ev->kind == TK_EV_TYPE_LOAD || ev->kind == TK_EV_TYPE_UNLOAD) && (!ev->type || ev->method))
            note_bad(s, ev, "a type event without its type, or with a method");
        if (ev->kind != TK_EV_TYPE_LOAD && ev->kind != TK_EV_TYPE_UNLOAD && ev->tier != TK_TIER_UNKNOWN)
            note_bad(s, ev, "has a tier");
        if (ev->il_version != 0) note_bad(s, ev, "has an IL version");
        if (ev->aux != 0) note_bad(s, ev, "has aux");
        if (ev->slot || ev->stub || ev->old_value || ev->new_value) note_bad(s, ev, "has a slot, stub or value");
        break;
    default:
        break;
    }
}

START_TEST(events_without_version_fields)
{
    for (size_t st = 0; st < tk_strategy_count(); st++) {
        static const char *const extra[] = { "CallCountThreshold", "2", "CallCountingDelayMs", "10",
                                             "DeleteCallCountingStubsAfter", "1", NULL };
        tk_runtime *rt = rt_new(tk_strategy_names[st], extra);
        seen s;
        memset(&s, 0, sizeof s);
        tk_set_event_sink(rt, sink, &s);
        char err[256];
        tk_method_def v[2] = { { "E.V0", obody, (void *)1, 0 }, { "E.V1", obody, (void *)2, 0 } };
        tk_method_def nv[1] = { { "E.N", obody, (void *)3, 0 } };
        tk_type_def d = { "E", NULL, 0, 2, v, 0, NULL, 1, nv, 0, NULL };
        tk_type *t = tk_type_define(rt, &d, err, sizeof err);
        ck_assert_msg(t != NULL, "%s", err);
        ck_assert_int_eq(tk_type_load(rt, t), 0);
        tk_object *o = tk_object_new(rt, t);
        for (int r = 0; r < 10; r++) {
            for (int k = 0; k < 3; k++) {
                ck_assert_int_eq(call_slot(tk_vtable_slot(t, 0), o, k), 1000 + k);
                tk_clock_advance(rt, 4);   /* the second method's first call extends the window */
                ck_assert_int_eq(call_slot(tk_vtable_slot(t, 1), o, k), 2000 + k);
                ck_assert_int_eq(call_slot(tk_method_slot(tk_type_nonvirtual_method(t, 0)), NULL, k), 3000 + k);
            }
            advance_and_drain(rt, 20);
        }
        tk_object_free(rt, o);
        ck_assert_int_eq(tk_type_unload(rt, t), 0);
        tk_set_event_sink(rt, NULL, NULL);
        const char *sn = tk_strategy_names[st];
        ck_assert_msg(!s.bad[0], "%s: %s", sn, s.bad);
        ck_assert_msg(s.sync_unload == 1, "%s: %u safepoint_sync events of the unload", sn, s.sync_unload);
        ck_assert_uint_eq(s.n[TK_EV_TYPE_LOAD], 1);
        ck_assert_uint_eq(s.n[TK_EV_TYPE_UNLOAD], 1);
        ck_assert_uint_eq(s.n[TK_EV_LOCK_ACQUIRE], s.n[TK_EV_LOCK_RELEASE]);
        ck_assert_uint_eq((uint64_t)s.n[TK_EV_LOCK_ACQUIRE],
                          (uint64_t)tk_counter_total(rt, "backpatch_lock_acquisitions"));
        if (st != TK_STRATEGY_NOTIER) {
            ck_assert_msg(s.n[TK_EV_DELAY_BEGIN] >= 1 && s.n[TK_EV_DELAY_BEGIN] == s.n[TK_EV_DELAY_END],
                          "%s: %u delay_begin, %u delay_end", sn, s.n[TK_EV_DELAY_BEGIN], s.n[TK_EV_DELAY_END]);
            ck_assert_msg(s.n[TK_EV_DELAY_EXTEND] >= 1, "%s: no delay_extend", sn);
            ck_assert_msg(s.sync_other >= 1 && (int64_t)s.sync_other == tk_counter_total(rt, "stub_deletion_passes"),
                          "%s: %u deletion safepoint_sync events, %lld passes", sn, s.sync_other,
                          (long long)tk_counter_total(rt, "stub_deletion_passes"));
        }
        tk_runtime_destroy(rt);
    }
}
END_TEST

/* ---- type_load: one `init` slot_write per slot, then type_load ------------ */

typedef struct inits {
    tk_type *t;
    unsigned n_init, n_load, after_load;
    char bad[256];
} inits;

static void init_sink(void *user, const tk_event *ev)
{
    inits *s = user;
    if (ev->kind == TK_EV_TYPE_LOAD && ev->type == s->t) s->n_load++;
    if (ev->kind != TK_EV_SLOT_WRITE || !ev->reason || strcmp(ev->reason, "init")) return;
    s->n_init++;
    if (s->n_load) s->after_load++;
    if (!ev->method || !ev->slot || *ev->slot != ev->new_value || !ev->new_value)
        if (!s->bad[0]) snprintf(s->bad, sizeof s->bad, "init write of %s: slot does not hold the new value",
                                 ev->method ? tk_method_name(ev->method) : "?");
}

/* SPEC "Event trace": `slot_write` with reason `init` for every slot a
 * type load fills (each vtable slot, each non-virtual method's slot), of
 * the kind the slot is, before the `type_load` event. */
START_TEST(type_load_announces_every_slot)
{
    for (size_t st = 0; st < tk_strategy_count(); st++) {
        tk_runtime *rt = rt_new(tk_strategy_names[st], NULL);
        char err[256];
        tk_method_def v[3] = { { "P.V0", obody, (void *)1, 0 }, { "P.V1", obody, (void *)2, 0 },
                               { "P.V2", obody, (void *)3, 0 } };
        tk_method_def nv[3] = { { "P.N0", obody, (void *)4, 0 }, { "P.N1", obody, (void *)5, 0 },
                                { "P.N2", obody, (void *)6, 0 } };
        tk_type_def d = { "P", NULL, 0, 3, v, 0, NULL, 3, nv, 0, NULL };
        tk_type *p = tk_type_define(rt, &d, err, sizeof err);
        ck_assert_msg(p != NULL, "%s", err);
        tk_method_def cn[2] = { { "Q.N0", obody, (void *)7, 0 }, { "Q.N1", obody, (void *)8, 0 } };
        tk_override_def co[1] = { { 2, { "Q.V2", obody, (void *)9, 0 } } };
        tk_type_def cd = { "Q", p, 0, 0, NULL, 1, co, 2, cn, 0, NULL };
        tk_type *q = tk_type_define(rt, &cd, err, sizeof err);
        ck_assert_msg(q != NULL, "%s", err);
        inits s;
        memset(&s, 0, sizeof s);
        tk_set_event_sink(rt, init_sink, &s);
        s.t = p;
        ck_assert_int_eq(tk_type_load(rt, p), 0);
        ck_assert_msg(!s.bad[0], "%s", s.bad);
        ck_assert_uint_eq(s.n_init, 6);
        ck_assert_uint_eq(s.n_load, 1);
        ck_assert_uint_eq(s.after_load, 0);
        memset(&s, 0, sizeof s);
        s.t = q;
        ck_assert_int_eq(tk_type_load(rt, q), 0);
        ck_assert_msg(!s.bad[0], "%s", s.bad);
        ck_assert_uint_eq(s.n_init, 5);   /* three vtable slots, two non-virtuals */
        ck_assert_uint_eq(s.n_load, 1);
        ck_assert_uint_eq(s.after_load, 0);
        tk_set_event_sink(rt, NULL, NULL);
        for (uint32_t i = 0; i < 2; i++)
            ck_assert_int_eq(call_slot(tk_method_slot(tk_type_nonvirtual_method(q, i)), NULL, 1), (7 + i) * 1000 + 1);
        tk_runtime_destroy(rt);
    }
}
END_TEST

/* ---- the processor count of a threaded runtime: the affinity mask ------- */

/* In a child process (the affinity stays there): the process may run on
 * `ncpu` CPUs; a threaded runtime with the defaults must count exactly
 * those, and multiply the delay by DelaySingleProcMultiplier only when
 * that is one.  Returns the child's exit status (0: as expected). */
static int affinity_child(int ncpu)
{
    cpu_set_t all, set;
    if (sched_getaffinity(0, sizeof all, &all) != 0) return 10;
    CPU_ZERO(&set);
    int have = 0;
    for (int c = 0; c < CPU_SETSIZE && have < ncpu; c++)
        if (CPU_ISSET(c, &all)) { CPU_SET(c, &set); have++; }
    if (have < ncpu) return 0;   /* not enough CPUs here: nothing to check */
    if (sched_setaffinity(0, sizeof set, &set) != 0) return 11;
    tk_config cfg;
    char err[256];
    tk_config_defaults(&cfg);   /* threaded, PROCESSOR_COUNT 0, delay 100, multiplier 10 */
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    if (!rt) return 12;
    const tk_config *e = tk_runtime_config(rt);
    int rc = 0;
    if (e->processor_count != (uint32_t)ncpu) rc = 13;
    else if (e->call_counting_delay_ms != (ncpu == 1 ? 1000u : 100u)) rc = 14;
    char buf[2048], want[64];
    tk_config_describe(e, buf, sizeof buf);
    snprintf(want, sizeof want, "\nPROCESSOR_COUNT=%d\n", ncpu);
    if (!rc && !strstr(buf, want)) rc = 15;
    if (!rc && !strstr(buf, ncpu == 1 ? "\nCallCountingDelayMs=1000\n" : "\nCallCountingDelayMs=100\n")) rc = 16;
    tk_runtime_destroy(rt);
    return rc;
}

START_TEST(processor_count_from_affinity)
{
    for (int ncpu = 1; ncpu <= 2; ncpu++) {
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) _exit(affinity_child(ncpu));
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st), "affinity child (%d CPUs) died", ncpu);
        static const char *const why[] = { [10] = "sched_getaffinity failed", [11] = "sched_setaffinity failed",
                                           [12] = "tk_runtime_create failed",
                                           [13] = "processor_count is not the affinity mask's CPU count",
                                           [14] = "the delay is not multiplied exactly when the count is 1",
                                           [15] = "describe does not say the count used",
                                           [16] = "describe does not say the effective delay" };
        int code = WEXITSTATUS(st);
        ck_assert_msg(code == 0, "affinity of %d CPU(s): %s (exit %d)", ncpu,
                      code >= 10 && code <= 16 ? why[code] : "?", code);
    }
}
END_TEST

/* tk_config_describe says every key with its value, the deletion mode
 * included, for both values of each two-valued key. */
START_TEST(describe_two_valued_keys)
{
    static const struct { const char *key, *a, *b; } kv[] = {
        { "CallCountingStubDeletion", "all", "inactive" }, { "Mode", "deterministic", "threaded" },
        { "TieredPGO", "0", "1" }, { "TieredCompilation", "0", "1" }, { "CallCountThresholdClamp", "0", "1" },
        { "AggressiveTiering", "0", "1" },
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        for (int w = 0; w < 2; w++) {
            tk_config cfg;
            char err[256], buf[2048], want[128];
            tk_config_defaults(&cfg);
            const char *val = w ? kv[i].b : kv[i].a;
            ck_assert_int_eq(tk_config_set(&cfg, kv[i].key, val, err, sizeof err), 0);
            tk_config_describe(&cfg, buf, sizeof buf);
            snprintf(want, sizeof want, "\n%s=%s\n", kv[i].key, val);
            ck_assert_msg(strstr(buf, want), "describe after %s=%s:\n%s", kv[i].key, val, buf);
        }
}
END_TEST

/* ---- a trace is complete or absent (SPEC "Events and trace") ------------- */

/* In a child whose stderr goes to `errpath`: a runtime tracing to `trace`
 * does a workload; with `fsize_limit` the trace file cannot grow past it. */
static int trace_child(const char *trace, const char *errpath, rlim_t fsize_limit)
{
    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 2) < 0) return 20;
    if (fsize_limit) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { fsize_limit, fsize_limit };
        if (setrlimit(RLIMIT_FSIZE, &rl)) return 21;
    }
    tk_config cfg;
    char err[256];
    tk_config_defaults(&cfg);
    cfg.mode = TK_MODE_DETERMINISTIC;
    if (tk_config_set(&cfg, "Trace", trace, err, sizeof err)) return 22;
    tk_runtime *rt = tk_runtime_create(&cfg, err, sizeof err);
    if (!rt) return 23;
    tk_method_def v[1] = { { "T.V0", obody, (void *)1, 0 } };
    tk_type_def d = { "T", NULL, 0, 1, v, 0, NULL, 0, NULL, 0, NULL };
    for (int r = 0; r < 40; r++) {
        tk_type *t = tk_type_define(rt, &d, err, sizeof err);
        if (!t || tk_type_load(rt, t)) return 24;
        tk_object *o = tk_object_new(rt, t);
        for (int k = 0; k < 40; k++)
            if (call_slot(tk_vtable_slot(t, 0), o, k) != 1000 + k) return 25;
        advance_and_drain(rt, 200);
        tk_object_free(rt, o);
        if (tk_type_unload(rt, t)) return 26;
    }
    tk_runtime_destroy(rt);
    return 0;
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void run_trace_child(const char *trace, const char *errpath, rlim_t limit)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) _exit(trace_child(trace, errpath, limit));
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "trace child (%s): status %d", trace, st);
}

START_TEST(trace_complete_or_absent)
{
    char dir[] = "/tmp/tk-ref-trace-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char trace[128], errp[128], want[512];
    snprintf(trace, sizeof trace, "%s/t.jsonl", dir);
    snprintf(errp, sizeof errp, "%s/stderr", dir);
    /* no limit: the whole trace, every line ended, nothing on stderr */
    run_trace_child(trace, errp, 0);
    struct stat sb;
    ck_assert_int_eq(stat(trace, &sb), 0);
    ck_assert_msg(sb.st_size > 65536, "the trace has %lld bytes", (long long)sb.st_size);
    FILE *f = fopen(trace, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, -1, SEEK_END), 0);
    ck_assert_int_eq(fgetc(f), '\n');
    fclose(f);
    char *e = slurp(errp);
    ck_assert_msg(e && !strstr(e, "trace"), "stderr: %s", e ? e : "(none)");
    /* a file that cannot grow past 64 KiB: removed, and said so */
    run_trace_child(trace, errp, 65536);
    ck_assert_msg(stat(trace, &sb) != 0, "an incomplete trace of %lld bytes was left", (long long)sb.st_size);
    snprintf(want, sizeof want, "tierkit: cannot write trace '%s': File too large; the incomplete trace was removed",
             trace);
    e = slurp(errp);
    ck_assert_msg(e && strstr(e, want), "stderr: %s", e ? e : "(none)");
    /* a device that takes nothing: cannot be removed, said so */
    run_trace_child("/dev/full", errp, 0);
    e = slurp(errp);
    ck_assert_msg(e && strstr(e, "tierkit: cannot write trace '/dev/full': No space left on device; the trace is "
                                 "incomplete"), "stderr: %s", e ? e : "(none)");
    unlink(errp);
    rmdir(dir);
}
END_TEST

TCase *tcase_observe(void)
{
    TCase *tc = tcase_create("observe");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, events_without_version_fields);
    tcase_add_test(tc, processor_count_from_affinity);
    tcase_add_test(tc, type_load_announces_every_slot);
    tcase_add_test(tc, trace_complete_or_absent);
    tcase_add_test(tc, describe_two_valued_keys);
    return tc;
}
