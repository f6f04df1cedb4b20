/* conformance/isolation.c — each test runs in a child process of its own
 * process group (fork, or with --spawn a re-execution of tk-conform, for
 * qemu-user where fork is unreliable), with a timeout.  The whole group is
 * killed on timeout, and on SIGINT/SIGTERM/SIGHUP to tk-conform: a test's
 * threads and anything it started never outlive the run. */
#include "runner.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The running test's process group (0: none); read by the signal handler. */
static volatile sig_atomic_t running_pgid;

static void on_signal(int sig)
{
    pid_t pg = (pid_t)running_pgid;
    if (pg > 0) kill(-pg, SIGKILL);      /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);                          /* die of the same signal: the shell sees it */
}

void tkc_isolation_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

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

void tkc_write_result(int fd, int st, const char *msg)
{
    char buf[1400];
    int n = snprintf(buf, sizeof buf, "%s\t%s\n", tkc_st_names[st], msg);
    if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;   /* the parent reports a missing result as CRASH */
}

extern char **environ;

/* --spawn: start `[$QEMU] self --run-one TEST ...` with posix_spawn (no
 * fork: fork is unreliable under qemu-user), its output in `out`. */
static pid_t spawn_child(const tkc_isolation *iso, const tkt_test *t, int out, int rfd, const sigset_t *mask)
{
    const char *argv[160];
    int n = 0;
    /* $QEMU may carry options ("qemu-aarch64 -p 65536"): split on blanks. */
    static char qemu[512];
    const char *q = getenv("QEMU");
    snprintf(qemu, sizeof qemu, "%s", q ? q : "");
    for (char *save = NULL, *w = strtok_r(qemu, " \t", &save); w && n < 8; w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    argv[n++] = iso->self_path;
    argv[n++] = "--run-one";
    argv[n++] = t->name;
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", rfd);
    argv[n++] = "--result-fd";
    argv[n++] = fdbuf;
    argv[n++] = "--impl";
    argv[n++] = iso->impl_path;
    for (size_t i = 0; i < iso->nconfigs && n < 150; i++) { argv[n++] = "--config"; argv[n++] = iso->configs[i]; }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, out, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, mask);   /* the mask before tkc_run_isolated blocked signals */
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) {
        fprintf(stderr, "tk-conform: --spawn: cannot execute '%s': %s\n", argv[0], strerror(e));
        errno = e;
        return -1;
    }
    return pid;
}

void tkc_run_isolated(const tkc_isolation *iso, const tkt_test *t, tkc_result *r)
{
    int out = tmpfd(), rfd = tmpfd();
    if (out < 0 || rfd < 0) {
        r->raw = TKT_ST_FAIL;
        snprintf(r->msg, sizeof r->msg, "cannot create temporary files: %s", strerror(errno));
        if (out >= 0) close(out);
        if (rfd >= 0) close(rfd);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    /* a signal between fork and recording the group must still reach the
     * child: block them until running_pgid is set */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = iso->spawn ? spawn_child(iso, t, out, rfd, &old) : fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setpgid(0, 0);
        dup2(out, 1);
        dup2(out, 2);
        char msg[1200];
        int st = tkt_run_in_process(t, msg, sizeof msg);
        tkc_write_result(rfd, st, msg);
        fflush(NULL);
        _exit(0);
    }
    if (pid < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        r->raw = TKT_ST_FAIL;
        snprintf(r->msg, sizeof r->msg, "%s failed: %s", iso->spawn ? "posix_spawn" : "fork", strerror(e));
        close(out);
        close(rfd);
        return;
    }
    setpgid(pid, pid);
    running_pgid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    int wst = 0;
    uint64_t start = tkt_now_ms(), deadline = start + (uint64_t)(iso->timeout_s * 1000.0);
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
    /* the test is over: whatever it left running in its group goes too */
    kill(-pid, SIGKILL);
    running_pgid = 0;
    r->ms = (double)(tkt_now_ms() - start);
    r->output = read_all(out);
    char *res = read_all(rfd);
    close(out);
    close(rfd);
    if (timed_out) {
        r->raw = TKT_ST_TIMEOUT;
        snprintf(r->msg, sizeof r->msg, "no result after %g s (killed)", iso->timeout_s);
    } else if (WIFSIGNALED(wst)) {
        r->raw = TKT_ST_CRASH;
        r->sig = WTERMSIG(wst);
        const char *ab = sigabbrev_np(r->sig);
        snprintf(r->msg, sizeof r->msg, "killed by SIG%s (%s)", ab ? ab : "?", strsignal(r->sig));
    } else if (res && *res) {
        char *tab = strchr(res, '\t');
        if (tab) *tab++ = 0;
        int st = tkc_parse_status(res);
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
