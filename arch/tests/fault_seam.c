/* arch/tests/fault_seam.c — the wrappers of the test-only link seam (see
 * fault_seam.h).  All state is per thread except the violation count, so
 * a fault armed by a test never hits a helper thread's calls. */
#include "fault_seam.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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
    return fire(TKF_ALLOC) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t sz)
{
    return fire(TKF_ALLOC) ? NULL : __real_calloc(n, sz);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fire(TKF_ALLOC) ? NULL : __real_realloc(p, n);
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

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    int r = __real_pthread_mutex_lock(m);
    if (r == 0)
        held_push(m, __builtin_return_address(0));
    return r;
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
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
