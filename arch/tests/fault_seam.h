/* arch/tests/fault_seam.h — test-only link seam of tk-arch-tests.
 *
 * tk-arch-tests is linked with -Wl,--wrap=SYM for the system calls and
 * allocator functions the stub layer uses and for pthread_mutex_lock/unlock
 * (arch/build.mk ARCH_TEST_WRAP).  The wrappers (fault_seam.c) pass every
 * call through, except that
 *   - a thread can arm a fault: the Nth call of the chosen kinds made by
 *     that thread fails as the real call would under ENOMEM, so every error
 *     path of tk_stub_alloc and tk_emit_entry can be reached
 *     (`stub.map-failure`);
 *   - every mutex unlock is checked against the mutexes the calling thread
 *     holds: unlocking one it does not hold is counted as a violation
 *     (`stub.heap-lock`).
 * For leak checks (reference/tests/test_faults.c, the arch fault sweeps) it also
 *   - records, between tkf_track_begin and tkf_track_end, every block
 *     allocated through malloc/calloc/realloc (any thread) until free, so a
 *     test can require an operation to leave nothing allocated (a realloc
 *     that moves a block allocated before tkf_track_begin is no new block);
 *   - records which mutexes pthread_mutex_init initialised (a freed block's
 *     are forgotten).
 * Production code is unchanged: only this binary's link redirects the
 * symbols (references from libtkarch's objects and the tests' own). */
#ifndef TK_FAULT_SEAM_H
#define TK_FAULT_SEAM_H
#include <stddef.h>
#include <stdint.h>

enum {
    TKF_MMAP = 1,        /* mmap                         -> MAP_FAILED */
    TKF_MPROTECT = 2,    /* mprotect                     -> -1         */
    TKF_MEMFD = 4,       /* memfd_create                 -> -1         */
    TKF_FTRUNCATE = 8,   /* ftruncate                    -> -1         */
    TKF_ALLOC = 16,      /* malloc, calloc, realloc      -> NULL       */
    TKF_ALL = 31,
    TKF_THREAD = 32      /* pthread_create               -> EAGAIN     */
};

/* Arms a fault on the calling thread: its nth call (1-based) of any of
 * `kinds` fails with errno ENOMEM; earlier and later calls pass.  Also
 * starts recording the mappings mmap returns on this thread. */
void tkf_arm(unsigned kinds, unsigned nth);
/* Disarms; returns the kind that failed (0 if the nth call never came). */
unsigned tkf_disarm(void);

/* The mappings [start, end) mmap returned on this thread while armed
 * (the most recent arming). */
size_t tkf_maps_recorded(uintptr_t (*out)[2], size_t cap);

/* Bytes of [start, end) that /proc/self/maps still shows mapped. */
size_t tkf_still_mapped(uintptr_t start, uintptr_t end);

/* Open file descriptors of the process (/proc/self/fd). */
int tkf_open_fds(void);

/* Bytes of the code heaps' executable views (memfd "tierkit-code", r-xs,
 * in /proc/self/maps); aborts if the maps cannot be read. */
size_t tkf_code_rx_bytes(void);

/* Allocation tracking (all threads): blocks allocated from now on. */
void tkf_track_begin(void);
/* Blocks allocated since tkf_track_begin and not freed yet. */
size_t tkf_track_live(void);
/* The first of them (NULL if none) and its size, for a message. */
void *tkf_track_first(size_t *size);
void tkf_track_end(void);

/* Whether pthread_mutex_init initialised the mutex at m (and it was not
 * destroyed or freed since). */
int tkf_mutex_initialised(const void *m);

/* A gap between critical sections: the nth mutex acquisition (lock or
 * trylock) the calling thread makes while it holds no mutex first runs
 * fn(arg), once, as if another thread had run fn entirely just then.
 * tkf_on_gap(0, ...) disarms; tkf_gap_fired says whether it ran. */
void tkf_on_gap(unsigned nth, void (*fn)(void *), void *arg);
int tkf_gap_fired(void);

/* pthread_cond_timedwait calls the calling thread made, and how many of
 * them ended by their deadline (ETIMEDOUT) rather than by a signal. */
unsigned long tkf_cond_waits(unsigned long *timeouts);

/* Mutex unlocks by a thread that did not hold the mutex, since start. */
unsigned long tkf_lock_violations(void);
/* What the first violation was ("" if none). */
const char *tkf_lock_violation_what(void);
/* Mutexes (wrapped) the calling thread holds now. */
int tkf_locks_held(void);
#endif
