/* arch/codeheap.c — the method-entry code heap (SPEC.md `stub.wx`).
 *
 * Each chunk is a memfd mapped twice with MAP_SHARED: an RW view that the
 * emitter writes and an RX view that runs.  No mapping is ever writable and
 * executable at once, and no mprotect is needed per emit.  Entries are
 * fixed-size slots (TK_ENTRY_SLOT bytes); a slot is published in the region
 * registry (for tk_classify) only after its bytes are written and, on arm64,
 * the icache has been flushed for its RX range. */
#include "arch_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK_MIN (64 * 1024)

typedef struct chunk {
    tk__region reg;          /* RX range */
    uint8_t *rw, *rx;
    size_t size;
    struct chunk *next;
} chunk;

struct tk_code_heap {
    pthread_mutex_t lock;
    chunk *chunks;           /* newest first */
    size_t used;             /* bytes handed out, not freed */
    /* Freed entries (RX addresses), reused before the bump pointer moves:
     * a runtime that unloads types gives their methods' entries back, so
     * the heap stops growing under type churn (README "Reliability"). */
    uint8_t **freed;
    size_t n_freed, cap_freed;
};

tk_code_heap *tk_code_heap_create(void)
{
    tk_code_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

/* Empty chunks of destroyed heaps, reused by the next heap (a runtime
 * created after another one destroyed pays no memfd_create, ftruncate, two
 * mmaps and two munmaps): at most CHUNK_POOL_MAX, unregistered (tk_classify
 * forgets their entries as it forgot those of an unmapped chunk) and filled
 * with trapping code, so a stale entry pointer traps instead of running a
 * destroyed runtime's entry.  Protections never change (`stub.wx`). */
#define CHUNK_POOL_MAX 8
static pthread_mutex_t g_chunk_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static chunk *g_chunk_pool;
static size_t g_chunk_pool_n;

static void chunk_release(chunk *c)
{
    tk__registry_remove(&c->reg);
    tk__arch_fill_trap(c->rw, c->size);
    tk__arch_flush_icache(c->rx, c->rx + c->size);
    pthread_mutex_lock(&g_chunk_pool_lock);
    if (g_chunk_pool_n < CHUNK_POOL_MAX) {
        c->next = g_chunk_pool;
        g_chunk_pool = c;
        g_chunk_pool_n++;
        c = NULL;
    }
    pthread_mutex_unlock(&g_chunk_pool_lock);
    if (c) {
        munmap(c->rx, c->size);
        munmap(c->rw, c->size);
        free(c);
    }
}

static chunk *chunk_reuse(void)
{
    pthread_mutex_lock(&g_chunk_pool_lock);
    chunk *c = g_chunk_pool;
    if (c) {
        g_chunk_pool = c->next;
        g_chunk_pool_n--;
    }
    pthread_mutex_unlock(&g_chunk_pool_lock);
    if (c) {
        c->next = NULL;
        c->reg.used = 0;
    }
    return c;
}

void tk_code_heap_destroy(tk_code_heap *h)
{
    if (!h)
        return;
    chunk *c = h->chunks;
    while (c) {
        chunk *n = c->next;
        chunk_release(c);
        c = n;
    }
    pthread_mutex_destroy(&h->lock);
    free(h->freed);
    free(h);
}

static chunk *new_chunk(tk_code_heap *h)
{
    size_t os = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = CHUNK_MIN > os ? CHUNK_MIN : os;
    chunk *c = chunk_reuse();
    if (c) {
        if (tk__registry_add(&c->reg) != 0) {
            chunk_release(c);
            return NULL;
        }
        c->next = h->chunks;
        h->chunks = c;
        return c;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int fd = memfd_create("tierkit-code", MFD_CLOEXEC);
    if (fd < 0)
        goto fail;
    if (ftruncate(fd, (off_t)size) != 0)
        goto fail_fd;
    c->rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c->rw == MAP_FAILED)
        goto fail_fd;
    c->rx = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (c->rx == MAP_FAILED) {
        munmap(c->rw, size);
        goto fail_fd;
    }
    close(fd);
    c->size = size;
    c->reg.start = (uintptr_t)c->rx;
    c->reg.len = size;
    c->reg.rkind = TK_REGION_ENTRIES;
    c->reg.slot = TK_ENTRY_SLOT;
    c->reg.nslots = size / TK_ENTRY_SLOT;
    if (tk__registry_add(&c->reg) != 0) {
        munmap(c->rx, size);
        munmap(c->rw, size);
        free(c);
        return NULL;
    }
    c->next = h->chunks;
    h->chunks = c;
    return c;
fail_fd: {
        int e = errno;
        close(fd);
        errno = e;
    }
fail:
    free(c);
    return NULL;
}

/* The chunk whose RX view holds rx (h->lock held). */
static chunk *chunk_of(tk_code_heap *h, const uint8_t *rx)
{
    for (chunk *c = h->chunks; c; c = c->next)
        if (rx >= c->rx && rx < c->rx + c->size)
            return c;
    return NULL;
}

void *tk_emit_entry(tk_code_heap *h, void *body, const void *ctx)
{
    pthread_mutex_lock(&h->lock);
    chunk *c;
    uint8_t *rw, *rx;
    if (h->n_freed) {
        /* A freed slot: below the high-water mark, so tk_classify sees its
         * bytes at once; they were the trap filler until the prologue below
         * is written, and the entry is published to callers only after
         * this returns. */
        rx = h->freed[--h->n_freed];
        c = chunk_of(h, rx);
        rw = c->rw + (rx - c->rx);
    } else {
        c = h->chunks;
        if (!c || c->reg.used == c->reg.nslots)
            c = new_chunk(h);
        if (!c) {
            pthread_mutex_unlock(&h->lock);
            return NULL;
        }
        size_t i = c->reg.used;
        rw = c->rw + i * TK_ENTRY_SLOT;
        rx = c->rx + i * TK_ENTRY_SLOT;
    }
    size_t n = tk__arch_emit_entry(rw, (uintptr_t)rx, body, ctx);
    tk__arch_fill_trap(rw + n, TK_ENTRY_SLOT - n);
    tk__arch_flush_icache(rx, rx + TK_ENTRY_SLOT);
    if (rx == c->rx + c->reg.used * TK_ENTRY_SLOT)
        __atomic_store_n(&c->reg.used, c->reg.used + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&h->used, h->used + TK_ENTRY_SLOT, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
    return rx;
}

/* The caller guarantees no thread runs or will run the entry (the runtime
 * frees an unloaded method's entries after every thread passed a safe
 * point).  Its bytes become the trap filler, so a stale call traps and
 * tk_classify no longer says EMITTED (its ctx is gone); the slot is reused
 * by the next tk_emit_entry.  Protections never change (`stub.wx`). */
int tk_code_free(tk_code_heap *h, void *entry)
{
    pthread_mutex_lock(&h->lock);
    uint8_t *rx = entry;
    chunk *c = chunk_of(h, rx);
    if (!c || (size_t)(rx - c->rx) % TK_ENTRY_SLOT || (size_t)(rx - c->rx) / TK_ENTRY_SLOT >= c->reg.used ||
        !tk__arch_is_entry(rx)) {
        pthread_mutex_unlock(&h->lock);
        return -1;
    }
    if (h->n_freed == h->cap_freed) {
        size_t nc = h->cap_freed ? h->cap_freed * 2 : 64;
        uint8_t **nf = realloc(h->freed, nc * sizeof *nf);
        if (!nf) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        h->freed = nf;
        h->cap_freed = nc;
    }
    uint8_t *rw = c->rw + (rx - c->rx);
    tk__arch_fill_trap(rw, TK_ENTRY_SLOT);
    tk__arch_flush_icache(rx, rx + TK_ENTRY_SLOT);
    h->freed[h->n_freed++] = rx;
    __atomic_store_n(&h->used, h->used - TK_ENTRY_SLOT, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

size_t tk_code_heap_used_bytes(const tk_code_heap *h)
{
    return __atomic_load_n(&h->used, __ATOMIC_RELAXED);
}
