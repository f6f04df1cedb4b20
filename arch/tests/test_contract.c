/* arch/tests/test_contract.c — the documented answers of the stub layer to
 * misuse, checked in a child process where the answer is to abort:
 *
 *   stub.free-refused    tk_stub_free of anything but a live stub of that
 *                        heap (a second free, a never-allocated slot, an
 *                        address inside a stub, its data page, another
 *                        heap's stub, a stub whose group left the heap)
 *                        aborts with a "tierkit:" line;
 *   stub.default-handlers each trampoline reached with no handler installed
 *                        (or after tk_set_*_handler(NULL)) prints a
 *                        "tierkit:" line and aborts; an installed handler
 *                        replaces the previous one;
 *   stub.recognition     a stub whose data page disagrees with its kind is
 *                        not classified as a live one;
 *   stub.not-a-stub      the retarget accessors on an address whose code is
 *                        no stub kind's (and on kinds without the field)
 *                        read and write nothing and answer NULL / false.
 *
 * Each check that must abort runs in a child process (this binary with
 * `--death CASE`, also under qemu-user with CK_FORK=no) and is judged by
 * its signal and its stderr. */
#include "arch.h"
#include "fault_seam.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long ctarget(long x) { return x + 1; }
static long cbody(const void *ctx, long a0, long a1, long a2, long a3, long a4)
{
    (void)a1; (void)a2; (void)a3; (void)a4;
    return a0 + 1000 * (long)(*(const int *)ctx);
}
typedef long (*entry5_t)(long, long, long, long, long);
typedef long (*fn1_t)(long);

static const tk_stub_kind KINDS[3] = {TK_STUB_PRECODE, TK_STUB_FIXUP, TK_STUB_CALLCOUNT};
static uint16_t g_cell = 60000;
extern char **environ;

static void *tok_for(tk_stub_kind k)
{
    return k == TK_STUB_CALLCOUNT ? (void *)&g_cell : NULL;
}

/* ---- death check ------------------------------------------------------------ */

/* Each case that must abort runs in a new process: this binary started
 * again with `--death CASE` (tk_arch_death_case below).  fork is not used:
 * qemu-user 7.2 hangs in a forked child, so under qemu (QEMU_LD_PREFIX set,
 * as `make test-arch-arm64` runs) the child is started through
 * qemu-aarch64 with this process's page size. */
/* The child must be killed by one of `sigs` (0-terminated) after writing a
 * line containing `want` to stderr (NULL: anything). */
static void expect_death(const char *name, const int *sigs, const char *want)
{
    char exe[4096];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(l, 0);
    exe[l] = '\0';
    char page[32];
    snprintf(page, sizeof page, "%ld", sysconf(_SC_PAGESIZE));
    char *qemu_argv[] = {"qemu-aarch64", "-p", page, exe, "--death", (char *)name, NULL};
    char *argv[] = {exe, "--death", (char *)name, NULL};
    int under_qemu = 0;
#if defined(__aarch64__)
    under_qemu = getenv("QEMU_LD_PREFIX") != NULL;
#endif
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    /* no core file from the child (the limit is inherited) */
    struct rlimit core0, core;
    getrlimit(RLIMIT_CORE, &core0);
    core = core0;
    core.rlim_cur = 0;
    setrlimit(RLIMIT_CORE, &core);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    pid_t pid;
    int rc = under_qemu ? posix_spawnp(&pid, qemu_argv[0], &fa, NULL, qemu_argv, environ)
                        : posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    setrlimit(RLIMIT_CORE, &core0);
    close(pfd[1]);
    ck_assert_msg(rc == 0, "%s: cannot start %s: %s", name, under_qemu ? "qemu-aarch64" : exe, strerror(rc));
    char out[2048];
    size_t n = 0;
    for (ssize_t r; n < sizeof out - 1 && (r = read(pfd[0], out + n, sizeof out - 1 - n)) != 0;) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    int hit = 0;
    for (const int *s = sigs; *s; s++)
        hit |= WIFSIGNALED(st) && WTERMSIG(st) == *s;
    ck_assert_msg(hit, "%s: the child was not killed by the expected signal (%s %d); stderr: \"%s\"", name,
                  WIFSIGNALED(st) ? "signal" : "exit status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                  out);
    ck_assert_msg(!want || strstr(out, want) != NULL, "%s: stderr \"%s\" does not contain \"%s\"", name, out,
                  want);
}

static void expect_abort(const char *name, const char *want)
{
    static const int abrt[] = {SIGABRT, 0};
    expect_death(name, abrt, want);
}

/* ---- the death cases (run in the child) ------------------------------------------ */

/* "free:WHAT:K": heap h of KINDS[K] with live stubs a, c and freed b (b
 * between them), heap `other` of the same kind with live stub o; then the
 * one refused free WHAT. */
static void free_case(const char *what, int k)
{
    size_t sz = tk_stub_size(KINDS[k]);
    tk_stub_heap *h = tk_stub_heap_create(KINDS[k]), *other = tk_stub_heap_create(KINDS[k]);
    char *a = tk_stub_alloc(h, tok_for(KINDS[k]), (void *)ctarget);
    char *b = tk_stub_alloc(h, tok_for(KINDS[k]), (void *)ctarget);
    char *c = tk_stub_alloc(h, tok_for(KINDS[k]), (void *)ctarget);
    char *o = tk_stub_alloc(other, tok_for(KINDS[k]), (void *)ctarget);
    if (!a || !b || !c || !o)
        _exit(3);
    tk_stub_free(h, b);
    char *hi = a > b ? a : b;
    hi = c > hi ? c : hi;
    static int local;
    if (!strcmp(what, "second"))
        tk_stub_free(h, b);                 /* a second free of a stub */
    else if (!strcmp(what, "inside1"))
        tk_stub_free(h, a + 1);             /* inside a live stub */
    else if (!strcmp(what, "inside8"))
        tk_stub_free(h, a + 8);
    else if (!strcmp(what, "inside16"))
        tk_stub_free(h, a + 16);
    else if (!strcmp(what, "data"))
        tk_stub_free(h, tk_stub_data(a));   /* a live stub's data page */
    else if (!strcmp(what, "foreign"))
        tk_stub_free(h, o);                 /* another heap's live stub */
    else if (!strcmp(what, "through-other"))
        tk_stub_free(other, a);             /* a live stub, freed through another heap */
    else if (!strcmp(what, "never"))
        tk_stub_free(h, hi + sz);           /* a slot never handed out */
    else if (!strcmp(what, "nowhere"))
        tk_stub_free(h, &local);            /* memory no heap owns */
    else if (!strcmp(what, "left")) {
        tk_stub_free(other, o);             /* the group leaves the heap ... */
        tk_stub_free(other, o);             /* ... and its stub is not live */
    } else
        _exit(2);
}

/* "handler:T:MODE": a stub that reaches trampoline T (0 prestub, 1
 * threshold, 2 freed stub) is called with the default handler: the one a
 * process starts with (MODE "initial") or the one tk_set_*_handler(NULL)
 * restores after another was installed (MODE "restored"). */
static void handler_case(int t, const char *mode);

/* "entry:freed": an entry given back with tk_code_free is called;
 * "entry:destroyed": an entry of a destroyed code heap is called. */
static void entry_case(const char *what)
{
    static const int ctx = 1;
    tk_code_heap *h = tk_code_heap_create();
    void *e = tk_emit_entry(h, (void *)cbody, &ctx);
    void *keep = tk_emit_entry(h, (void *)cbody, &ctx);
    /* e itself is not called before: qemu-user does not see code written
     * through the read-write view of a block it has already translated */
    if (!e || !keep || ((entry5_t)keep)(1, 0, 0, 0, 0) != 1001)
        _exit(3);
    if (!strcmp(what, "freed")) {
        if (tk_code_free(h, e) != 0)
            _exit(3);
    } else if (!strcmp(what, "destroyed")) {
        tk_code_heap_destroy(h);
    } else {
        _exit(2);
    }
    (void)((entry5_t)e)(1, 0, 0, 0, 0);
}

int tk_arch_death_case(const char *name)
{
    char what[32];
    int k;
    if (sscanf(name, "free:%31[^:]:%d", what, &k) == 2 && k >= 0 && k < 3)
        free_case(what, k);
    else if (sscanf(name, "handler:%d:%31s", &k, what) == 2 && k >= 0 && k < 3)
        handler_case(k, what);
    else if (sscanf(name, "entry:%31s", what) == 1)
        entry_case(what);
    else
        return 2;
    return 0; /* it did not abort */
}

/* ---- stub.free-refused -------------------------------------------------------- */

/* Every kind: each address that is not a live stub of the heap is refused
 * (in a child); here, a NULL stub is ignored and the live ones free. */
START_TEST(stub_free_refuses_non_live)
{
    static const char *whats[] = {"second", "inside1", "inside8", "inside16", "data", "foreign",
                                  "through-other", "never", "nowhere", "left"};
    /* Under qemu (a second or so per child) each case runs for one kind,
     * natively for all three. */
    int all = !getenv("QEMU_LD_PREFIX");
    for (int k = 0; k < 3; k++) {
        for (size_t w = 0; w < sizeof whats / sizeof *whats; w++) {
            if (!all && (int)(w % 3) != k)
                continue;
            char name[64];
            snprintf(name, sizeof name, "free:%s:%d", whats[w], k);
            expect_abort(name, "tierkit: tk_stub_free");
        }
        tk_stub_heap *h = tk_stub_heap_create(KINDS[k]);
        void *a = tk_stub_alloc(h, tok_for(KINDS[k]), (void *)ctarget);
        ck_assert_ptr_nonnull(a);
        tk_stub_free(h, NULL); /* ignored */
        ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 2 * tk_stub_size(KINDS[k]));
        ck_assert_int_eq(((fn1_t)a)(1), 2);
        tk_stub_free(h, a);
        ck_assert_uint_eq(tk_stub_heap_live_bytes(h), 0);
        tk_stub_heap_destroy(h);
    }
}
END_TEST

/* ---- stub.default-handlers ------------------------------------------------------ */

static void *g_seen_token;
static int g_h1_calls, g_h2_calls;
static void *h1(void *token, tk_arch_regs *regs)
{
    (void)regs;
    g_h1_calls++;
    g_seen_token = token;
    return (void *)ctarget;
}
static void *h2(void *token, tk_arch_regs *regs)
{
    (void)regs;
    g_h2_calls++;
    g_seen_token = token;
    return (void *)ctarget;
}

typedef struct tramp_case {
    const char *name;
    void (*set)(tk_trampoline_handler);
    const char *msg;  /* what the default handler prints */
} tramp_case;

static const tramp_case TRAMPS[3] = {
    {"prestub", tk_set_prestub_handler, "tierkit: prestub reached"},
    {"threshold", tk_set_threshold_handler, "tierkit: call-count threshold reached"},
    {"freed stub", tk_set_freed_stub_handler, "tierkit: call through freed stub"},
};

/* A stub that reaches trampoline t on its next call, and the token the
 * handler must receive. */
static void *arm_stub(int t, tk_stub_heap **hp, void **token)
{
    static int tok;
    static uint16_t cell;
    void *s;
    switch (t) {
    case 0:
        *hp = tk_stub_heap_create(TK_STUB_FIXUP);
        s = tk_stub_alloc(*hp, &tok, tk_prestub_entry());
        *token = &tok;
        break;
    case 1:
        *hp = tk_stub_heap_create(TK_STUB_CALLCOUNT);
        cell = 1; /* the next call counts it down to 0 */
        s = tk_stub_alloc(*hp, &cell, (void *)ctarget);
        *token = &cell;
        break;
    default:
        *hp = tk_stub_heap_create(TK_STUB_PRECODE);
        s = tk_stub_alloc(*hp, &tok, (void *)ctarget);
        (void)tk_stub_alloc(*hp, &tok, (void *)ctarget); /* keeps the group in the heap */
        tk_stub_free(*hp, s);
        *token = s; /* a freed precode delivers its own address */
        break;
    }
    return s;
}

static void handler_case(int t, const char *mode)
{
    if (!strcmp(mode, "restored")) {
        TRAMPS[t].set(h1);
        TRAMPS[t].set(NULL);
    } else if (strcmp(mode, "initial") != 0) {
        _exit(2);
    }
    tk_stub_heap *h;
    void *token, *s = arm_stub(t, &h, &token);
    if (!s)
        _exit(3);
    (void)((fn1_t)s)(5);
}

/* For each trampoline: the default handler aborts with its message, both
 * the initial one and the one NULL restores; an installed handler gets the
 * token and its answer is called; installing another replaces it. */
START_TEST(trampoline_handlers_install_and_restore)
{
    for (int t = 0; t < 3; t++) {
        char name[64];
        snprintf(name, sizeof name, "handler:%d:initial", t);
        expect_abort(name, TRAMPS[t].msg);
        snprintf(name, sizeof name, "handler:%d:restored", t);
        expect_abort(name, TRAMPS[t].msg);

        tk_stub_heap *h;
        void *token, *s = arm_stub(t, &h, &token);
        g_h1_calls = g_h2_calls = 0;
        TRAMPS[t].set(h1);
        ck_assert_int_eq(((fn1_t)s)(5), 6);
        ck_assert_int_eq(g_h1_calls, 1);
        ck_assert_ptr_eq(g_seen_token, token);
        tk_stub_heap_destroy(h);

        s = arm_stub(t, &h, &token);
        TRAMPS[t].set(h2);
        ck_assert_int_eq(((fn1_t)s)(9), 10);
        ck_assert_int_eq(g_h1_calls, 1);
        ck_assert_int_eq(g_h2_calls, 1);
        ck_assert_ptr_eq(g_seen_token, token);
        tk_stub_heap_destroy(h);
        TRAMPS[t].set(NULL);
    }
}
END_TEST

/* ---- stub.code-reuse: a freed or destroyed entry traps ----------------------- */

/* Its bytes are the trap filler: a stale call stops there (SIGTRAP from
 * int3 / brk; SIGILL accepted for a trap instruction), never runs the
 * method's body.  A destroyed heap's chunk is pooled (mapped, trap-filled)
 * or unmapped (SIGSEGV). */
START_TEST(stale_entries_trap)
{
    static const int trap[] = {SIGTRAP, SIGILL, 0};
    static const int trap_or_gone[] = {SIGTRAP, SIGILL, SIGSEGV, SIGBUS, 0};
    expect_death("entry:freed", trap, NULL);
    expect_death("entry:destroyed", trap_or_gone, NULL);
}
END_TEST

/* ---- stub.not-a-stub --------------------------------------------------------- */

/* The accessors on `addr`, whose code is no stub kind's: nothing read or
 * written at addr + STUB_PAGE_SIZE, NULL / false answered. */
static void check_not_a_stub(void *addr)
{
    static int x;
    ck_assert_ptr_null(tk_stub_target(addr));
    ck_assert_ptr_null(tk_stub_token(addr));
    ck_assert(!tk_stub_cas_target(addr, NULL, &x));
    ck_assert(!tk_stub_cas_target(addr, tk_stub_target(addr), &x));
    tk_stub_set_target(addr, &x);
    tk_precode_reset(addr, tk_prestub_entry());
    ck_assert(!tk_precode_points_to_prestub(addr, tk_prestub_entry()));
    ck_assert(!tk_precode_points_to_prestub(addr, NULL));
}

START_TEST(accessors_refuse_non_stubs)
{
    size_t P = tk_stub_page_size();
    /* A read-write buffer whose "code" byte is no stub's and whose "data
     * page" holds a pattern: the accessors must leave it as it is. */
    uint8_t *buf = malloc(2 * P);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0, P);
    memset(buf + P, 0xA5, P);
    check_not_a_stub(buf);
    for (size_t i = 0; i < P; i++)
        ck_assert_msg(buf[P + i] == 0xA5, "byte %zu of the data page of a non-stub was written", i);
    free(buf);

    /* An emitted method entry: its "data page" is read-execute code (a
     * write would fault); it keeps running its body. */
    tk_code_heap *ch = tk_code_heap_create();
    static const int ctx = 4;
    void *e = tk_emit_entry(ch, (void *)cbody, &ctx);
    ck_assert_ptr_nonnull(e);
    check_not_a_stub(e);
    ck_assert_int_eq(tk_classify(e), TK_ADDR_EMITTED);
    ck_assert_int_eq(((entry5_t)e)(3, 0, 0, 0, 0), 4003);
    tk_code_heap_destroy(ch);

    /* A CallCountingStub has a target but is no precode: the precode
     * operations leave it alone, even when its target is the prestub. */
    tk_stub_heap *hc = tk_stub_heap_create(TK_STUB_CALLCOUNT);
    void *cc = tk_stub_alloc(hc, &g_cell, tk_prestub_entry());
    ck_assert_ptr_nonnull(cc);
    ck_assert(!tk_precode_points_to_prestub(cc, tk_prestub_entry()));
    tk_stub_set_target(cc, (void *)ctarget);
    tk_precode_reset(cc, tk_prestub_entry());
    ck_assert_ptr_eq(tk_stub_target(cc), (void *)ctarget);
    ck_assert_ptr_eq(tk_stub_token(cc), &g_cell);
    tk_callcount_data *d = tk_stub_data(cc);
    ck_assert_ptr_eq(d->on_threshold, tk_threshold_entry());
    tk_stub_heap_destroy(hc);

    /* Kinds without a template: no size, no template, no heap, no pool. */
    const tk_stub_kind bad[2] = {TK_STUB_NONE, TK_STUB_KIND_COUNT};
    for (int i = 0; i < 2; i++) {
        size_t len = 99;
        ck_assert_uint_eq(tk_stub_size(bad[i]), 0);
        ck_assert_ptr_null(tk_stub_template(bad[i], &len));
        ck_assert_uint_eq(len, 0);
        ck_assert_uint_eq(tk_stub_pool_bytes(bad[i]), 0);
        tkf_track_begin();
        errno = 0;
        ck_assert_ptr_null(tk_stub_heap_create(bad[i]));
        ck_assert_int_eq(errno, EINVAL);
        size_t kept = tkf_track_live();
        tkf_track_end();
        ck_assert_uint_eq(kept, 0);
    }
}
END_TEST

/* ---- stub.recognition: the data page must agree -------------------------- */

static long other_fn(long x) { return x - 1; }

/* A stub whose data page disagrees with its kind is no live stub of it:
 * a StubPrecode without its type word, a CallCountingStub whose threshold
 * target is not the threshold trampoline; and one whose trap target is set
 * is a freed stub.  Restored, each is live again.  tk_emitted_ctx answers
 * only for emitted entries. */
START_TEST(classify_follows_the_data_page)
{
    for (int k = 0; k < 3; k++) {
        tk_stub_heap *h = tk_stub_heap_create(KINDS[k]);
        void *s = tk_stub_alloc(h, tok_for(KINDS[k]), (void *)ctarget);
        ck_assert_ptr_nonnull(s);
        tk_addr_kind live = KINDS[k] == TK_STUB_PRECODE ? TK_ADDR_PRECODE
                            : KINDS[k] == TK_STUB_FIXUP ? TK_ADDR_FIXUP
                                                        : TK_ADDR_CALLCOUNT;
        ck_assert_int_eq(tk_classify(s), live);
        ck_assert_ptr_null(tk_emitted_ctx(s));
        void **word;  /* the field recognition reads besides the trap */
        void *trap_field_saved, **trap_field;
        switch (KINDS[k]) {
        case TK_STUB_PRECODE: {
            tk_precode_data *d = tk_stub_data(s);
            word = (void **)&d->type;
            trap_field = &d->target;
            break;
        }
        case TK_STUB_FIXUP: {
            tk_fixup_data *d = tk_stub_data(s);
            word = NULL;
            trap_field = &d->fixup_target;
            break;
        }
        default: {
            tk_callcount_data *d = tk_stub_data(s);
            word = &d->on_threshold;
            trap_field = &d->on_threshold;
            break;
        }
        }
        if (word) {
            void *saved = *word;
            *word = (void *)other_fn;
            ck_assert_int_eq(tk_classify(s), TK_ADDR_UNKNOWN);
            *word = (void *)0;
            ck_assert_int_eq(tk_classify(s), TK_ADDR_UNKNOWN);
            *word = saved;
            ck_assert_int_eq(tk_classify(s), live);
        }
        trap_field_saved = *trap_field;
        *trap_field = tk_freed_stub_entry();
        ck_assert_int_eq(tk_classify(s), TK_ADDR_FREED_STUB);
        *trap_field = (void *)other_fn;
        ck_assert_int_eq(tk_classify(s), KINDS[k] == TK_STUB_CALLCOUNT ? TK_ADDR_UNKNOWN : live);
        *trap_field = trap_field_saved;
        ck_assert_int_eq(tk_classify(s), live);
        ck_assert_int_eq(((fn1_t)s)(1), 2);
        tk_stub_free(h, s);
        tk_stub_heap_destroy(h);
    }
    tk_code_heap *ch = tk_code_heap_create();
    static const int ctx = 6;
    char *e = tk_emit_entry(ch, (void *)cbody, &ctx);
    ck_assert_ptr_eq(tk_emitted_ctx(e), &ctx);
    ck_assert_ptr_null(tk_emitted_ctx(e + 1));
    ck_assert_ptr_null(tk_emitted_ctx(e + 64)); /* the next slot: not emitted yet */
    ck_assert_ptr_null(tk_emitted_ctx(NULL));
    ck_assert_ptr_null(tk_emitted_ctx((void *)cbody));
    ck_assert_ptr_null(tk_emitted_ctx(tk_prestub_entry()));
    tk_code_heap_destroy(ch);
}
END_TEST

TCase *tcase_contract(void)
{
    TCase *tc = tcase_create("contract");
    tcase_set_timeout(tc, 120);
    void tkf_check_lock_discipline(void);
    tcase_add_checked_fixture(tc, NULL, tkf_check_lock_discipline);
    tcase_add_test(tc, stub_free_refuses_non_live);
    tcase_add_test(tc, trampoline_handlers_install_and_restore);
    tcase_add_test(tc, accessors_refuse_non_stubs);
    tcase_add_test(tc, classify_follows_the_data_page);
    tcase_add_test(tc, stale_entries_trap);
    return tc;
}
