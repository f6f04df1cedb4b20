/* conformance/runner.c — tk-conform: runs the conformance tests against a
 * runtime's driver library (conformance/tk_driver.h), each test isolated in
 * a child process with a timeout, and reports per test and per anchor. */
#include "json.h"
#include "tkt_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const st_names[TKT_ST_COUNT] = { "PASS", "FAIL", "UNSUPPORTED", "XFAIL", "XPASS", "CRASH",
                                                    "TIMEOUT", "SKIP" };

typedef struct expectation {
    char *pattern;          /* test name or anchor (fnmatch pattern)       */
    int status;             /* TKT_ST_FAIL / CRASH / TIMEOUT / SKIP        */
    char *conds[8];         /* key=value that must match the configuration */
    int nconds;
    char *reason;
    char *where;            /* file:line                                   */
} expectation;

typedef struct result {
    const tkt_test *t;
    int status;             /* final, after expectations                   */
    int raw;                /* what the test did                           */
    int sig;
    double ms;
    char msg[1200];
    char *output;
    const expectation *exp;
} result;

static const char *impl_path, *tap_path, *junit_path, *json_path, *run_one;
static const char *configs[64];
static size_t nconfigs;
static const char *filters[64];
static size_t nfilters;
static expectation *exps;
static size_t nexps, capexps;
static double timeout_s = 60;
static int mode_nofork, mode_spawn, verbose, list_only, result_fd = -1;
static char *self_path;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tk-conform --impl LIB.so [options]\n"
        "       tk-conform --list [--filter X]\n"
        "\n"
        "Runs the tierkit conformance suite against a runtime's driver library\n"
        "(a shared object exporting tk_driver_v1, see conformance/tk_driver.h).\n"
        "\n"
        "  --impl LIB.so       driver library to test (dlopen path)\n"
        "  --config K=V        configuration key for every runtime the tests create\n"
        "                      (repeatable; e.g. Strategy=lazy). Keys a test sets\n"
        "                      itself (thresholds, Mode) take precedence.\n"
        "  --filter X          run only tests whose name or one of whose anchors\n"
        "                      matches X (shell pattern; repeatable)\n"
        "  --expect FILE       expectations: lines 'TEST_OR_ANCHOR STATUS [K=V..] # why'\n"
        "                      with STATUS FAIL, CRASH, TIMEOUT or SKIP (repeatable)\n"
        "  --tap FILE          write TAP version 13\n"
        "  --junit FILE        write JUnit XML\n"
        "  --json FILE         write results as JSON (schema_version 1)\n"
        "  --timeout SEC       per-test timeout (default 60)\n"
        "  --list              list tests and the anchors they check, then exit\n"
        "  --no-fork           run tests in this process (debugging; no isolation,\n"
        "                      no timeout, a crash ends the run)\n"
        "  --spawn             isolate each test by re-executing this program\n"
        "                      (for qemu-user; honours $QEMU as the interpreter)\n"
        "  -v, --verbose       print every test's output\n"
        "  --help              this text\n"
        "\n"
        "Statuses: PASS, FAIL, XFAIL (expected failure), XPASS (unexpected pass),\n"
        "UNSUPPORTED (driver lacks a capability), CRASH (signal), TIMEOUT, SKIP.\n"
        "Exit status: 0 when nothing FAILed, XPASSed, CRASHed or TIMEd OUT; 1\n"
        "otherwise; 2 for usage errors and libraries that cannot be loaded.\n"
        "The last line of output is always 'N passed, N failed'.\n");
}

/* ---- driver loading ------------------------------------------------------------------ */
static int load_driver(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "tk-conform: cannot load --impl '%s': %s\n", path, dlerror());
        return -1;
    }
    dlerror();
    tk_driver_entry_fn entry = (tk_driver_entry_fn)dlsym(h, TK_DRIVER_ENTRY_SYMBOL);
    const char *e = dlerror();
    if (e || !entry) {
        fprintf(stderr, "tk-conform: '%s' does not export %s (not a tierkit driver?)%s%s\n", path,
                TK_DRIVER_ENTRY_SYMBOL, e ? ": " : "", e ? e : "");
        return -1;
    }
    const tk_driver *d = entry();
    if (!d) {
        fprintf(stderr, "tk-conform: %s() in '%s' returned NULL\n", TK_DRIVER_ENTRY_SYMBOL, path);
        return -1;
    }
    if (d->abi_version != TK_DRIVER_ABI_VERSION) {
        fprintf(stderr, "tk-conform: '%s' implements driver ABI version %u; this tk-conform speaks version %u\n",
                path, d->abi_version, TK_DRIVER_ABI_VERSION);
        return -1;
    }
    if (d->size < sizeof(tk_driver)) {
        fprintf(stderr, "tk-conform: '%s' driver table is %u bytes; ABI v%u needs at least %zu\n", path, d->size,
                TK_DRIVER_ABI_VERSION, sizeof(tk_driver));
        return -1;
    }
    if (!d->create || !d->destroy || !d->type_define || !d->type_load || !d->vtable_slot || !d->method_slot ||
        !d->method_state) {
        fprintf(stderr, "tk-conform: '%s' driver table lacks a mandatory function\n", path);
        return -1;
    }
    D = d;
    return 0;
}

/* ---- expectations ---------------------------------------------------------------------- */
static int parse_status(const char *s)
{
    for (int i = 0; i < TKT_ST_COUNT; i++)
        if (!strcasecmp(s, st_names[i])) return i;
    return -1;
}

static int load_expectations(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "tk-conform: cannot read --expect '%s': %s\n", path, strerror(errno)); return -1; }
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *reason = strchr(line, '#');
        if (reason) { *reason++ = 0; while (*reason == ' ') reason++; reason[strcspn(reason, "\r\n")] = 0; }
        char *tok[12];
        int n = 0;
        for (char *p = strtok(line, " \t\r\n"); p && n < 12; p = strtok(NULL, " \t\r\n")) tok[n++] = p;
        if (!n) continue;
        if (n < 2) { fprintf(stderr, "%s:%d: expected 'TEST_OR_ANCHOR STATUS [K=V...]'\n", path, lineno); fclose(f); return -1; }
        int st = parse_status(tok[1]);
        if (st != TKT_ST_FAIL && st != TKT_ST_CRASH && st != TKT_ST_TIMEOUT && st != TKT_ST_SKIP) {
            fprintf(stderr, "%s:%d: status '%s' must be FAIL, CRASH, TIMEOUT or SKIP\n", path, lineno, tok[1]);
            fclose(f);
            return -1;
        }
        if (nexps == capexps) {
            capexps = capexps ? capexps * 2 : 16;
            exps = realloc(exps, capexps * sizeof *exps);
        }
        expectation *x = &exps[nexps++];
        memset(x, 0, sizeof *x);
        x->pattern = strdup(tok[0]);
        x->status = st;
        for (int i = 2; i < n && x->nconds < 8; i++) {
            if (!strchr(tok[i], '=')) { fprintf(stderr, "%s:%d: condition '%s' is not K=V\n", path, lineno, tok[i]); fclose(f); return -1; }
            x->conds[x->nconds++] = strdup(tok[i]);
        }
        x->reason = strdup(reason ? reason : "");
        char where[600];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        x->where = strdup(where);
    }
    fclose(f);
    return 0;
}

static const char *arch_name(void)
{
#if defined(__aarch64__)
    return "aarch64";
#elif defined(__x86_64__)
    return "x86_64";
#else
    return "unknown";
#endif
}

static int cond_holds(const char *cond)
{
    const char *eq = strchr(cond, '=');
    size_t kl = (size_t)(eq - cond);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)kl, cond);
    const char *v = !strcmp(key, "arch") ? arch_name() : tkt_base_config(key);
    if (!v && !strcmp(key, "impl")) v = D ? D->name : NULL;
    return v && !strcmp(v, eq + 1);
}

static const expectation *find_expectation(const tkt_test *t)
{
    for (size_t i = 0; i < nexps; i++) {
        const expectation *x = &exps[i];
        int match = !fnmatch(x->pattern, t->name, 0);
        for (int a = 0; !match && t->anchors[a]; a++) match = !fnmatch(x->pattern, t->anchors[a], 0);
        if (!match) continue;
        int ok = 1;
        for (int c = 0; c < x->nconds; c++) ok &= cond_holds(x->conds[c]);
        if (ok) return x;
    }
    return NULL;
}

static int selected(const tkt_test *t)
{
    if (!nfilters) return 1;
    for (size_t i = 0; i < nfilters; i++) {
        if (!fnmatch(filters[i], t->name, 0)) return 1;
        for (int a = 0; t->anchors[a]; a++)
            if (!fnmatch(filters[i], t->anchors[a], 0)) return 1;
    }
    return 0;
}

/* ---- isolation --------------------------------------------------------------------------- */
static int tmpfd(void)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/tk-conform-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

static char *read_all(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) end = 0;
    lseek(fd, 0, SEEK_SET);
    char *buf = malloc((size_t)end + 1);
    size_t got = 0;
    while (buf && got < (size_t)end) {
        ssize_t r = read(fd, buf + got, (size_t)end - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (buf) buf[got] = 0;
    return buf;
}

static void write_result(int fd, int st, const char *msg)
{
    char buf[1400];
    int n = snprintf(buf, sizeof buf, "%s\t%s\n", st_names[st], msg);
    if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
}

extern char **environ;

/* --spawn: start `[$QEMU] self --run-one TEST ...` with posix_spawn (no
 * fork: fork is unreliable under qemu-user), its output in `out`. */
static pid_t spawn_child(const tkt_test *t, int out, int rfd)
{
    const char *argv[160];
    int n = 0;
    /* $QEMU may carry options ("qemu-aarch64 -p 65536"): split on blanks. */
    static char qemu[512];
    const char *q = getenv("QEMU");
    snprintf(qemu, sizeof qemu, "%s", q ? q : "");
    for (char *save = NULL, *w = strtok_r(qemu, " \t", &save); w && n < 8; w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    argv[n++] = self_path;
    argv[n++] = "--run-one";
    argv[n++] = t->name;
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", rfd);
    argv[n++] = "--result-fd";
    argv[n++] = fdbuf;
    argv[n++] = "--impl";
    argv[n++] = impl_path;
    for (size_t i = 0; i < nconfigs && n < 150; i++) { argv[n++] = "--config"; argv[n++] = configs[i]; }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, out, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) {
        fprintf(stderr, "tk-conform: --spawn: cannot execute '%s': %s\n", argv[0], strerror(e));
        return -1;
    }
    return pid;
}

static void run_isolated(const tkt_test *t, result *r)
{
    int out = tmpfd(), rfd = tmpfd();
    if (out < 0 || rfd < 0) { r->raw = TKT_ST_FAIL; snprintf(r->msg, sizeof r->msg, "cannot create temporary files: %s", strerror(errno)); return; }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = mode_spawn ? spawn_child(t, out, rfd) : fork();
    if (pid < 0) {
        r->raw = TKT_ST_FAIL;
        snprintf(r->msg, sizeof r->msg, "%s failed: %s", mode_spawn ? "posix_spawn" : "fork", strerror(errno));
        close(out);
        close(rfd);
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(out, 1);
        dup2(out, 2);
        char msg[1200];
        int st = tkt_run_in_process(t, msg, sizeof msg);
        write_result(rfd, st, msg);
        fflush(NULL);
        _exit(0);
    }
    setpgid(pid, pid);
    int wst = 0;
    uint64_t start = tkt_now_ms(), deadline = start + (uint64_t)(timeout_s * 1000);
    int timed_out = 0;
    unsigned nap = 1;
    for (;;) {
        pid_t w = waitpid(pid, &wst, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (tkt_now_ms() >= deadline) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &wst, 0);
            break;
        }
        tkt_sleep_ms(nap);
        if (nap < 20) nap++;
    }
    r->ms = (double)(tkt_now_ms() - start);
    r->output = read_all(out);
    char *res = read_all(rfd);
    close(out);
    close(rfd);
    if (timed_out) {
        r->raw = TKT_ST_TIMEOUT;
        snprintf(r->msg, sizeof r->msg, "no result after %g s (killed)", timeout_s);
    } else if (WIFSIGNALED(wst)) {
        r->raw = TKT_ST_CRASH;
        r->sig = WTERMSIG(wst);
        const char *ab = sigabbrev_np(r->sig);
        snprintf(r->msg, sizeof r->msg, "killed by SIG%s (%s)", ab ? ab : "?", strsignal(r->sig));
    } else if (res && *res) {
        char *tab = strchr(res, '\t');
        if (tab) *tab++ = 0;
        int st = parse_status(res);
        r->raw = st >= 0 ? st : TKT_ST_FAIL;
        if (tab) { tab[strcspn(tab, "\n")] = 0; snprintf(r->msg, sizeof r->msg, "%s", tab); }
        if (WEXITSTATUS(wst) != 0 && r->raw == TKT_ST_PASS) {
            r->raw = TKT_ST_FAIL;
            snprintf(r->msg, sizeof r->msg, "exited with status %d after passing", WEXITSTATUS(wst));
        }
    } else {
        r->raw = TKT_ST_CRASH;
        snprintf(r->msg, sizeof r->msg, "exited with status %d without reporting a result",
                 WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    }
    free(res);
}

static void apply_expectation(result *r)
{
    const expectation *x = r->exp;
    r->status = r->raw;
    if (!x) return;
    if (r->raw == TKT_ST_PASS && x->status != TKT_ST_SKIP) {
        r->status = TKT_ST_XPASS;
        char m[1200];
        snprintf(m, sizeof m, "expected %s (%s: %s) but passed", st_names[x->status], x->where, x->reason);
        snprintf(r->msg, sizeof r->msg, "%s", m);
    } else if (r->raw == x->status) {
        r->status = TKT_ST_XFAIL;
    }
}

/* ---- reports ----------------------------------------------------------------------------------- */
static void xml_str(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') fputc('?', f);
            else fputc(*s, f);
        }
    }
}

static int is_failure(int st) { return st == TKT_ST_FAIL || st == TKT_ST_XPASS || st == TKT_ST_CRASH || st == TKT_ST_TIMEOUT; }
static int is_pass(int st) { return st == TKT_ST_PASS || st == TKT_ST_XFAIL; }

static void write_tap(result *rs, size_t n)
{
    FILE *f = fopen(tap_path, "w");
    if (!f) { fprintf(stderr, "tk-conform: cannot write --tap '%s': %s\n", tap_path, strerror(errno)); return; }
    fprintf(f, "TAP version 13\n1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        result *r = &rs[i];
        const char *ok = is_failure(r->status) ? "not ok" : "ok";
        fprintf(f, "%s %zu - %s", ok, i + 1, r->t->name);
        if (r->status == TKT_ST_UNSUPPORTED || r->status == TKT_ST_SKIP) fprintf(f, " # SKIP %s", r->msg);
        else if (r->status == TKT_ST_XFAIL) fprintf(f, " # TODO expected %s: %s", st_names[r->raw], r->exp ? r->exp->reason : "");
        fputc('\n', f);
        if (r->status != TKT_ST_PASS) {
            fprintf(f, "  ---\n  status: %s\n  message: ", st_names[r->status]);
            tkj_write_str(f, r->msg);
            fprintf(f, "\n  anchors: [");
            for (int a = 0; r->t->anchors[a]; a++) fprintf(f, "%s%s", a ? ", " : "", r->t->anchors[a]);
            fprintf(f, "]\n  ...\n");
        }
    }
    fclose(f);
}

static void write_junit(result *rs, size_t n)
{
    FILE *f = fopen(junit_path, "w");
    if (!f) { fprintf(stderr, "tk-conform: cannot write --junit '%s': %s\n", junit_path, strerror(errno)); return; }
    size_t fails = 0, errors = 0, skipped = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if (rs[i].status == TKT_ST_FAIL || rs[i].status == TKT_ST_XPASS) fails++;
        if (rs[i].status == TKT_ST_CRASH || rs[i].status == TKT_ST_TIMEOUT) errors++;
        if (rs[i].status == TKT_ST_UNSUPPORTED || rs[i].status == TKT_ST_SKIP) skipped++;
        total += rs[i].ms;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(f, "<testsuite name=\"tk-conform\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
            n, fails, errors, skipped, total / 1000);
    fprintf(f, "<properties><property name=\"impl\" value=\"");
    xml_str(f, impl_path);
    fprintf(f, "\"/>");
    for (size_t i = 0; i < nconfigs; i++) {
        fprintf(f, "<property name=\"config\" value=\"");
        xml_str(f, configs[i]);
        fprintf(f, "\"/>");
    }
    fprintf(f, "</properties>\n");
    for (size_t i = 0; i < n; i++) {
        result *r = &rs[i];
        const char *file = strrchr(r->t->file, '/');
        fprintf(f, "<testcase classname=\"conformance.%s\" name=\"%s\" time=\"%.3f\">", file ? file + 1 : r->t->file,
                r->t->name, r->ms / 1000);
        const char *tag = NULL;
        if (r->status == TKT_ST_FAIL || r->status == TKT_ST_XPASS) tag = "failure";
        else if (r->status == TKT_ST_CRASH || r->status == TKT_ST_TIMEOUT) tag = "error";
        if (tag) {
            fprintf(f, "<%s type=\"%s\" message=\"", tag, st_names[r->status]);
            xml_str(f, r->msg);
            fprintf(f, "\">");
            xml_str(f, r->output);
            fprintf(f, "</%s>", tag);
        } else if (r->status == TKT_ST_UNSUPPORTED || r->status == TKT_ST_SKIP) {
            fprintf(f, "<skipped message=\"");
            xml_str(f, r->msg);
            fprintf(f, "\"/>");
        }
        fprintf(f, "</testcase>\n");
    }
    fprintf(f, "</testsuite>\n</testsuites>\n");
    fclose(f);
}

typedef struct cov { const char *anchor; int tests, pass, fail, unsup, in_spec; } cov;

static size_t coverage(result *rs, size_t n, cov *out, size_t cap)
{
    size_t m = 0;
    for (size_t i = 0; tk_spec_anchors[i] && m < cap; i++) out[m++] = (cov){ tk_spec_anchors[i], 0, 0, 0, 0, 1 };
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; rs[i].t->anchors[a]; a++) {
            size_t k;
            for (k = 0; k < m; k++) if (!strcmp(out[k].anchor, rs[i].t->anchors[a])) break;
            if (k == m) { if (m == cap) continue; out[m++] = (cov){ rs[i].t->anchors[a], 0, 0, 0, 0, 0 }; }
            out[k].tests++;
            if (is_pass(rs[i].status)) out[k].pass++;
            else if (is_failure(rs[i].status)) out[k].fail++;
            else out[k].unsup++;
        }
    }
    return m;
}

static void write_json(result *rs, size_t n, cov *cv, size_t ncov, size_t passed, size_t failed)
{
    FILE *f = fopen(json_path, "w");
    if (!f) { fprintf(stderr, "tk-conform: cannot write --json '%s': %s\n", json_path, strerror(errno)); return; }
    fprintf(f, "{\"schema_version\":1,\"tool\":\"tk-conform\",\"spec_version\":");
    tkj_write_str(f, tk_spec_version);
    fprintf(f, ",\"arch\":\"%s\",\"impl\":", arch_name());
    tkj_write_str(f, impl_path);
    if (D) {
        fprintf(f, ",\"driver\":{\"name\":");
        tkj_write_str(f, D->name);
        fprintf(f, ",\"version\":");
        tkj_write_str(f, D->version);
        fprintf(f, ",\"abi_version\":%u,\"caps\":%llu,\"strategies\":[", D->abi_version, (unsigned long long)D->caps);
        for (int i = 0; D->strategies && D->strategies[i]; i++) { if (i) fputc(',', f); tkj_write_str(f, D->strategies[i]); }
        fprintf(f, "]}");
    }
    fprintf(f, ",\"config\":[");
    for (size_t i = 0; i < nconfigs; i++) { if (i) fputc(',', f); tkj_write_str(f, configs[i]); }
    fprintf(f, "],\"isolation\":\"%s\",\"timeout_s\":%g,\"tests\":[", mode_nofork ? "none" : mode_spawn ? "spawn" : "fork",
            timeout_s);
    for (size_t i = 0; i < n; i++) {
        result *r = &rs[i];
        fprintf(f, "%s\n{\"name\":", i ? "," : "");
        tkj_write_str(f, r->t->name);
        fprintf(f, ",\"file\":");
        tkj_write_str(f, r->t->file);
        fprintf(f, ",\"anchors\":[");
        for (int a = 0; r->t->anchors[a]; a++) { if (a) fputc(',', f); tkj_write_str(f, r->t->anchors[a]); }
        fprintf(f, "],\"status\":\"%s\",\"outcome\":\"%s\",\"duration_ms\":%.1f,\"message\":", st_names[r->status],
                st_names[r->raw], r->ms);
        tkj_write_str(f, r->msg);
        if (r->sig) fprintf(f, ",\"signal\":\"SIG%s\"", sigabbrev_np(r->sig) ? sigabbrev_np(r->sig) : "?");
        if (r->exp) {
            fprintf(f, ",\"expected\":{\"status\":\"%s\",\"reason\":", st_names[r->exp->status]);
            tkj_write_str(f, r->exp->reason);
            fprintf(f, ",\"where\":");
            tkj_write_str(f, r->exp->where);
            fputc('}', f);
        }
        fputc('}', f);
    }
    fprintf(f, "],\n\"anchors\":[");
    for (size_t i = 0; i < ncov; i++) {
        fprintf(f, "%s\n{\"anchor\":", i ? "," : "");
        tkj_write_str(f, cv[i].anchor);
        fprintf(f, ",\"in_spec\":%s,\"tests\":%d,\"passed\":%d,\"failed\":%d,\"unsupported\":%d}", cv[i].in_spec ? "true" : "false",
                cv[i].tests, cv[i].pass, cv[i].fail, cv[i].unsup);
    }
    size_t counts[TKT_ST_COUNT] = { 0 };
    for (size_t i = 0; i < n; i++) counts[rs[i].status]++;
    fprintf(f, "],\n\"totals\":{\"passed\":%zu,\"failed\":%zu", passed, failed);
    for (int s = 0; s < TKT_ST_COUNT; s++) fprintf(f, ",\"%s\":%zu", st_names[s], counts[s]);
    fprintf(f, "}}\n");
    fclose(f);
}

static void print_indented(const char *s, int max_lines)
{
    int lines = 0;
    while (s && *s && lines < max_lines) {
        const char *nl = strchr(s, '\n');
        int len = nl ? (int)(nl - s) : (int)strlen(s);
        printf("    | %.*s\n", len, s);
        lines++;
        s = nl ? nl + 1 : s + len;
    }
    if (s && *s) printf("    | ... (output truncated)\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    self_path = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEED_ARG() do { if (i + 1 >= argc) { fprintf(stderr, "tk-conform: %s needs an argument\n", a); return 2; } } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--impl")) { NEED_ARG(); impl_path = argv[++i]; }
        else if (!strcmp(a, "--config")) {
            NEED_ARG();
            if (!strchr(argv[i + 1], '=')) { fprintf(stderr, "tk-conform: --config '%s' is not K=V\n", argv[i + 1]); return 2; }
            if (nconfigs < 63) configs[nconfigs++] = argv[++i]; else ++i;
        }
        else if (!strcmp(a, "--filter")) { NEED_ARG(); if (nfilters < 63) filters[nfilters++] = argv[++i]; else ++i; }
        else if (!strcmp(a, "--expect")) { NEED_ARG(); if (load_expectations(argv[++i])) return 2; }
        else if (!strcmp(a, "--tap")) { NEED_ARG(); tap_path = argv[++i]; }
        else if (!strcmp(a, "--junit")) { NEED_ARG(); junit_path = argv[++i]; }
        else if (!strcmp(a, "--json")) { NEED_ARG(); json_path = argv[++i]; }
        else if (!strcmp(a, "--timeout")) {
            NEED_ARG();
            char *end;
            timeout_s = strtod(argv[++i], &end);
            if (*end || timeout_s <= 0) { fprintf(stderr, "tk-conform: bad --timeout '%s'\n", argv[i]); return 2; }
        }
        else if (!strcmp(a, "--list")) list_only = 1;
        else if (!strcmp(a, "--no-fork")) mode_nofork = 1;
        else if (!strcmp(a, "--spawn")) mode_spawn = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--run-one")) { NEED_ARG(); run_one = argv[++i]; }
        else if (!strcmp(a, "--result-fd")) { NEED_ARG(); result_fd = atoi(argv[++i]); }
        else { fprintf(stderr, "tk-conform: unknown argument '%s' (try --help)\n", a); return 2; }
    }
    if (mode_nofork && mode_spawn) { fprintf(stderr, "tk-conform: --no-fork and --spawn exclude each other\n"); return 2; }
    tkt_set_base_config(configs, nconfigs);
    size_t ntests;
    const tkt_test *const *tests = tkt_registry(&ntests);

    if (list_only) {
        size_t shown = 0;
        for (size_t i = 0; i < ntests; i++) {
            if (!selected(tests[i])) continue;
            printf("%-44s", tests[i]->name);
            for (int a = 0; tests[i]->anchors[a]; a++) printf(" %s", tests[i]->anchors[a]);
            printf("\n");
            shown++;
        }
        printf("%zu tests; spec_version %s\n", shown, tk_spec_version);
        return 0;
    }
    if (!impl_path) { fprintf(stderr, "tk-conform: --impl LIB.so is required (try --help)\n"); return 2; }
    if (load_driver(impl_path)) return 2;

    if (run_one) {  /* child side of --spawn */
        for (size_t i = 0; i < ntests; i++) {
            if (strcmp(tests[i]->name, run_one)) continue;
            char msg[1200];
            int st = tkt_run_in_process(tests[i], msg, sizeof msg);
            if (result_fd >= 0) write_result(result_fd, st, msg);
            else printf("%s\t%s\n", st_names[st], msg);
            fflush(NULL);
            _exit(0);
        }
        fprintf(stderr, "tk-conform: --run-one: no test named '%s'\n", run_one);
        return 2;
    }
    if (mode_spawn) {
        /* argv[0] first (under qemu-user /proc/self/exe is the emulator). */
        char *resolved = NULL;
        if (strchr(argv[0], '/')) resolved = realpath(argv[0], NULL);
        if (!resolved && !getenv("QEMU")) resolved = realpath("/proc/self/exe", NULL);
        if (resolved) self_path = resolved;
    }

    printf("tk-conform: impl %s (%s %s, ABI v%u), arch %s, spec %s, isolation %s\n", impl_path, D->name ? D->name : "?",
           D->version ? D->version : "?", D->abi_version, arch_name(), tk_spec_version,
           mode_nofork ? "none" : mode_spawn ? "spawn" : "fork");
    if (nconfigs) {
        printf("tk-conform: config");
        for (size_t i = 0; i < nconfigs; i++) printf(" %s", configs[i]);
        printf("\n");
    }
    result *rs = calloc(ntests ? ntests : 1, sizeof *rs);
    size_t n = 0;
    for (size_t i = 0; i < ntests; i++) {
        const tkt_test *t = tests[i];
        if (!selected(t)) continue;
        result *r = &rs[n++];
        r->t = t;
        r->exp = find_expectation(t);
        if (r->exp && r->exp->status == TKT_ST_SKIP) {
            r->raw = r->status = TKT_ST_SKIP;
            snprintf(r->msg, sizeof r->msg, "%s", r->exp->reason);
        } else if (mode_nofork) {
            uint64_t s0 = tkt_now_ms();
            r->raw = tkt_run_in_process(t, r->msg, sizeof r->msg);
            r->ms = (double)(tkt_now_ms() - s0);
            apply_expectation(r);
        } else {
            run_isolated(t, r);
            apply_expectation(r);
        }
        printf("%-11s %-44s %6.0f ms", st_names[r->status], t->name, r->ms);
        if (r->msg[0] && r->status != TKT_ST_PASS) printf("  %s", r->msg);
        printf("\n");
        if (r->output && *r->output && (verbose || is_failure(r->status))) print_indented(r->output, verbose ? 100000 : 40);
    }

    cov cv[512];
    size_t ncov = coverage(rs, n, cv, 512);
    printf("\nanchor coverage (spec_version %s):\n", tk_spec_version);
    printf("  %-42s %5s %5s %5s %5s\n", "anchor", "tests", "pass", "fail", "unsup");
    int uncovered = 0;
    for (size_t i = 0; i < ncov; i++) {
        printf("  %-42s %5d %5d %5d %5d%s\n", cv[i].anchor, cv[i].tests, cv[i].pass, cv[i].fail, cv[i].unsup,
               !cv[i].in_spec ? "  NOT IN SPEC" : cv[i].tests == 0 ? (nfilters ? "" : "  NO TEST") : "");
        if (!cv[i].in_spec || (cv[i].tests == 0 && !nfilters)) uncovered++;
    }
    size_t counts[TKT_ST_COUNT] = { 0 }, passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        counts[rs[i].status]++;
        if (is_pass(rs[i].status)) passed++;
        if (is_failure(rs[i].status)) failed++;
    }
    if (uncovered) printf("tk-conform: %d anchor(s) not matched between tests and spec\n", uncovered);
    printf("\nsummary:");
    for (int s = 0; s < TKT_ST_COUNT; s++) if (counts[s]) printf(" %zu %s", counts[s], st_names[s]);
    printf("\n");
    if (tap_path) write_tap(rs, n);
    if (junit_path) write_junit(rs, n);
    if (json_path) write_json(rs, n, cv, ncov, passed, failed);
    if (n == 0) printf("tk-conform: no test matched the filter\n");
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed || n == 0 ? 1 : 0;
}
