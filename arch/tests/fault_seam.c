/* arch/tests/fault_seam.c — the wrappers of the test-only link seam (see
 * fault_seam.h).  All state is per thread except the violation count, so
 * a fault armed by a test never hits a helper thread's calls. */
#include "fault_seam.h"

#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_mprotect(void *addr, size_t len, int prot);
int __real_memfd_create(const char *name, unsigned flags);
int __real_ftruncate(int fd, off_t len);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __real_pthread_mutex_trylock(pthread_mutex_t *m);
int __real_pthread_mutex_unlock(pthread_mutex_t *m);
int __real_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a);
int __real_pthread_mutex_destroy(pthread_mutex_t *m);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
void __real_free(void *p);
int __real_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts);

static void track_add(void *p, size_t n);
static int track_del(void *p);

#define MAX_MAPS 64
static _Thread_local unsigned t_kinds, t_nth, t_calls, t_fired;
static _Thread_local int t_recording;
static _Thread_local uintptr_t t_maps[MAX_MAPS][2];
static _Thread_local size_t t_nmaps;

void tkf_arm(unsigned kinds, unsigned nth)
{
    t_kinds = kinds;
    t_nth = nth;
    t_calls = 0;
    t_fired = 0;
    t_nmaps = 0;
    t_recording = 1;
}

unsigned tkf_disarm(void)
{
    t_kinds = 0;
    t_recording = 0;
    return t_fired;
}

/* True when this call of `kind` is the one to fail. */
static int fire(unsigned kind)
{
    if (!(t_kinds & kind) || t_fired)
        return 0;
    if (++t_calls != t_nth)
        return 0;
    t_fired = kind;
    errno = ENOMEM;
    return 1;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (fire(TKF_MMAP))
        return MAP_FAILED;
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && t_recording && t_nmaps < MAX_MAPS) {
        t_maps[t_nmaps][0] = (uintptr_t)p;
        t_maps[t_nmaps][1] = (uintptr_t)p + len;
        t_nmaps++;
    }
    return p;
}

int __wrap_mprotect(void *addr, size_t len, int prot)
{
    return fire(TKF_MPROTECT) ? -1 : __real_mprotect(addr, len, prot);
}

int __wrap_memfd_create(const char *name, unsigned flags)
{
    return fire(TKF_MEMFD) ? -1 : __real_memfd_create(name, flags);
}

int __wrap_ftruncate(int fd, off_t len)
{
    return fire(TKF_FTRUNCATE) ? -1 : __real_ftruncate(fd, len);
}

void *__wrap_malloc(size_t n)
{
    if (fire(TKF_ALLOC))
        return NULL;
    void *r = __real_malloc(n);
    track_add(r, n);
    return r;
}

void *__wrap_calloc(size_t n, size_t sz)
{
    if (fire(TKF_ALLOC))
        return NULL;
    void *r = __real_calloc(n, sz);
    track_add(r, n * sz);
    return r;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fire(TKF_ALLOC))
        return NULL;
    void *r = __real_realloc(p, n);
    /* moved, resized or (n == 0) freed: p is gone; r is a block allocated
     * since tkf_track_begin only if p was one (or NULL): an array allocated
     * before that merely grew */
    if ((r || !n) && (track_del(p) || !p))
        track_add(r, n);
    return r;
}

static _Thread_local unsigned long t_cond_waits, t_cond_timeouts;

int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts)
{
    int r = __real_pthread_cond_timedwait(c, m, ts);
    t_cond_waits++;
    t_cond_timeouts += r == ETIMEDOUT;
    return r;
}

unsigned long tkf_cond_waits(unsigned long *timeouts)
{
    if (timeouts)
        *timeouts = t_cond_timeouts;
    return t_cond_waits;
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    return fire(TKF_THREAD) ? EAGAIN : __real_pthread_create(t, a, fn, arg);
}

/* ---- allocation tracking and mutex initialisation ----------------------------
 * One spin lock guards both tables (allocation-heavy tests stay cheap: no
 * tracking unless a test began it). */

#define TRACK_CAP (1u << 16)
static atomic_flag g_spin = ATOMIC_FLAG_INIT;
static atomic_int g_tracking;
static struct { void *p; size_t n; } g_live[TRACK_CAP];   /* open addressing */
static _Atomic size_t g_nlive;
#define MAX_INIT 4096
static const void *g_init[MAX_INIT];
static _Atomic size_t g_ninit;

static void spin_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&g_spin, memory_order_acquire)) {
    }
}
static void spin_unlock(void) { atomic_flag_clear_explicit(&g_spin, memory_order_release); }

static size_t slot_of(const void *p) { return ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 48 & (TRACK_CAP - 1); }

static void track_add(void *p, size_t n)
{
    if (!p || !atomic_load_explicit(&g_tracking, memory_order_relaxed))
        return;
    spin_lock();
    if (g_nlive < TRACK_CAP - 1) {
        size_t i = slot_of(p);
        while (g_live[i].p && g_live[i].p != p)
            i = (i + 1) & (TRACK_CAP - 1);
        if (!g_live[i].p)
            g_nlive++;
        g_live[i].p = p;
        g_live[i].n = n;
    }
    spin_unlock();
}

/* Removal with backward shift (linear probing, no tombstones). */
static int track_del_locked(void *p)
{
    size_t i = slot_of(p);
    while (g_live[i].p && g_live[i].p != p)
        i = (i + 1) & (TRACK_CAP - 1);
    if (!g_live[i].p)
        return 0;
    g_nlive--;
    for (size_t j = i;;) {
        g_live[i].p = NULL;
        for (;;) {
            j = (j + 1) & (TRACK_CAP - 1);
            if (!g_live[j].p)
                return 1;
            size_t h = slot_of(g_live[j].p);
            /* move j back to i unless its home lies cyclically in (i, j] */
            if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
                break;
        }
        g_live[i] = g_live[j];
        i = j;
    }
}

static int track_del(void *p)
{
    if (!p || !g_nlive)
        return 0;
    spin_lock();
    int found = track_del_locked(p);
    spin_unlock();
    return found;
}

void __wrap_free(void *p)
{
    if (p && (g_nlive || g_ninit)) {
        spin_lock();
        if (g_nlive)
            (void)track_del_locked(p);
        if (g_ninit) {
            uintptr_t lo = (uintptr_t)p, hi = lo + malloc_usable_size(p);
            for (size_t k = 0; k < g_ninit;)
                if ((uintptr_t)g_init[k] >= lo && (uintptr_t)g_init[k] < hi)
                    g_init[k] = g_init[--g_ninit];
                else
                    k++;
        }
        spin_unlock();
    }
    __real_free(p);
}

void tkf_track_begin(void)
{
    spin_lock();
    memset(g_live, 0, sizeof g_live);
    g_nlive = 0;
    atomic_store(&g_tracking, 1);
    spin_unlock();
}

size_t tkf_track_live(void)
{
    spin_lock();
    size_t n = g_nlive;
    spin_unlock();
    return n;
}

void *tkf_track_first(size_t *size)
{
    void *r = NULL;
    spin_lock();
    for (size_t i = 0; i < TRACK_CAP && !r; i++)
        if (g_live[i].p) {
            r = g_live[i].p;
            if (size)
                *size = g_live[i].n;
        }
    spin_unlock();
    return r;
}

void tkf_track_end(void)
{
    spin_lock();
    atomic_store(&g_tracking, 0);
    memset(g_live, 0, sizeof g_live);
    g_nlive = 0;
    spin_unlock();
}

int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
    int r = __real_pthread_mutex_init(m, a);
    if (r == 0) {
        spin_lock();
        size_t k = 0;
        while (k < g_ninit && g_init[k] != m)
            k++;
        if (k == g_ninit && g_ninit < MAX_INIT)
            g_init[g_ninit++] = m;
        spin_unlock();
    }
    return r;
}

int __wrap_pthread_mutex_destroy(pthread_mutex_t *m)
{
    spin_lock();
    for (size_t k = 0; k < g_ninit; k++)
        if (g_init[k] == m) {
            g_init[k] = g_init[--g_ninit];
            break;
        }
    spin_unlock();
    return __real_pthread_mutex_destroy(m);
}

int tkf_mutex_initialised(const void *m)
{
    spin_lock();
    int found = 0;
    for (size_t k = 0; k < g_ninit && !found; k++)
        found = g_init[k] == m;
    spin_unlock();
    return found;
}

size_t tkf_maps_recorded(uintptr_t (*out)[2], size_t cap)
{
    size_t n = t_nmaps < cap ? t_nmaps : cap;
    for (size_t i = 0; i < n; i++) {
        out[i][0] = t_maps[i][0];
        out[i][1] = t_maps[i][1];
    }
    return t_nmaps;
}

size_t tkf_still_mapped(uintptr_t start, uintptr_t end)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return (size_t)-1;
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        uintptr_t a = lo > start ? lo : start, b = hi < end ? hi : end;
        if (a < b)
            n += b - a;
    }
    fclose(f);
    return n;
}

size_t tkf_code_rx_bytes(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) {   /* no measurement must not pass as an unchanged one */
        perror("tkf_code_rx_bytes: /proc/self/maps");
        abort();
    }
    char line[512], perms[8];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && !strcmp(perms, "r-xs") &&
            strstr(line, "tierkit-code"))
            n += hi - lo;
    }
    fclose(f);
    return n;
}

int tkf_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* ---- lock discipline (`stub.heap-lock`) ------------------------------------- */

#define MAX_HELD 64
static _Thread_local pthread_mutex_t *t_held[MAX_HELD];
static _Thread_local int t_nheld;
static atomic_ulong g_violations;
static char g_violation_what[160];

static void violation(pthread_mutex_t *m, const char *what, void *caller)
{
    if (atomic_fetch_add(&g_violations, 1) == 0)
        snprintf(g_violation_what, sizeof g_violation_what, "%s of mutex %p (called from %p)", what, (void *)m,
                 caller);
}

static void held_push(pthread_mutex_t *m, void *caller)
{
    if (t_nheld == MAX_HELD)
        violation(m, "more than 64 mutexes held: lock", caller);
    else
        t_held[t_nheld++] = m;
}

static _Thread_local unsigned t_gap_nth, t_gap_calls;
static _Thread_local int t_gap_fired, t_in_gap;
static _Thread_local void (*t_gap_fn)(void *);
static _Thread_local void *t_gap_arg;

void tkf_on_gap(unsigned nth, void (*fn)(void *), void *arg)
{
    t_gap_nth = nth;
    t_gap_calls = 0;
    t_gap_fired = 0;
    t_gap_fn = fn;
    t_gap_arg = arg;
}

int tkf_gap_fired(void)
{
    return t_gap_fired;
}

static void gap_check(void)
{
    if (!t_gap_nth || t_gap_fired || t_in_gap || t_nheld)
        return;
    if (++t_gap_calls != t_gap_nth)
        return;
    t_gap_fired = 1;
    t_in_gap = 1;
    t_gap_fn(t_gap_arg);
    t_in_gap = 0;
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    gap_check();
    int r = __real_pthread_mutex_lock(m);
    if (r == 0)
        held_push(m, __builtin_return_address(0));
    return r;
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
    gap_check();
    int r = __real_pthread_mutex_trylock(m);
    if (r == 0)
        held_push(m, __builtin_return_address(0));
    return r;
}

int __wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
    int i = t_nheld - 1;
    while (i >= 0 && t_held[i] != m)
        i--;
    if (i < 0)
        violation(m, "unlock by a thread that does not hold it", __builtin_return_address(0));
    else {
        for (; i + 1 < t_nheld; i++)
            t_held[i] = t_held[i + 1];
        t_nheld--;
    }
    return __real_pthread_mutex_unlock(m);
}

unsigned long tkf_lock_violations(void)
{
    return atomic_load(&g_violations);
}

const char *tkf_lock_violation_what(void)
{
    return g_violation_what;
}

int tkf_locks_held(void)
{
    return t_nheld;
}
