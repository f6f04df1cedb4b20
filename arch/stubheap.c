/* arch/stubheap.c — interleaved code/data stub pages, the stub heaps, the
 * retarget operations, and the process-wide region registry used by
 * tk_classify.
 *
 * Page group = one mmap of 2 * STUB_PAGE_SIZE: [code page][data page].
 * Generation order (SPEC.md `stub.init-order`):
 *   1. mmap both pages PROT_READ|PROT_WRITE (nothing executable yet);
 *   2. fill the data page: every slot in its "never allocated" state
 *      (FixupPrecode target = the stub itself, `stub.fixup-prefill`; all
 *      other targets = the freed-stub trap);
 *   3. fill the code page by copying the template (doubling copy);
 *   4. mprotect the code page PROT_READ|PROT_EXEC (never W and X together,
 *      `stub.wx`) and flush the icache for it (arm64).
 * Code pages are never written again (`stub.code-immutable`); every later
 * change is an aligned 8-byte atomic store into the data page
 * (`stub.atomic-retarget`).
 */
#include "arch_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- page size ----------------------------------------------------------- */

static size_t g_page_size;

size_t tk_stub_page_size(void)
{
    size_t p = __atomic_load_n(&g_page_size, __ATOMIC_RELAXED);
    if (__builtin_expect(p == 0, 0)) {
        p = tk__arch_page_size();
        __atomic_store_n(&g_page_size, p, __ATOMIC_RELAXED);
    }
    return p;
}

size_t tk_stub_size(tk_stub_kind kind)
{
    size_t len = 0;
    if (!tk__arch_template(kind, tk_stub_page_size(), &len))
        return 0;
    return len;
}

const uint8_t *tk_stub_template(tk_stub_kind kind, size_t *len)
{
    size_t l = 0;
    const uint8_t *t = tk__arch_template(kind, tk_stub_page_size(), &l);
    if (len)
        *len = t ? l : 0;
    return t;
}

size_t tk_fixup_entry_offset(void)
{
    return tk__arch_fixup_offset();
}

/* ---- registry --------------------------------------------------------------
 * A sorted array of regions (code ranges).  Readers (tk_classify) hold the
 * read lock while they inspect a region and its data page, so a heap can
 * never be unmapped under them; writers (new page, heap destroy) take the
 * write lock.  Region structs live until removed under the write lock. */

static pthread_rwlock_t g_reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static tk__region **g_regs;
static size_t g_nregs, g_capregs;

int tk__registry_add(tk__region *r)
{
    pthread_rwlock_wrlock(&g_reg_lock);
    if (g_nregs == g_capregs) {
        size_t nc = g_capregs ? g_capregs * 2 : 64;
        tk__region **n = realloc(g_regs, nc * sizeof *n);
        if (!n) {
            pthread_rwlock_unlock(&g_reg_lock);
            errno = ENOMEM;
            return -1;
        }
        g_regs = n;
        g_capregs = nc;
    }
    size_t i = g_nregs;
    while (i > 0 && g_regs[i - 1]->start > r->start) {
        g_regs[i] = g_regs[i - 1];
        i--;
    }
    g_regs[i] = r;
    g_nregs++;
    pthread_rwlock_unlock(&g_reg_lock);
    return 0;
}

void tk__registry_remove(tk__region *r)
{
    pthread_rwlock_wrlock(&g_reg_lock);
    for (size_t i = 0; i < g_nregs; i++) {
        if (g_regs[i] == r) {
            memmove(&g_regs[i], &g_regs[i + 1], (g_nregs - i - 1) * sizeof *g_regs);
            g_nregs--;
            break;
        }
    }
    pthread_rwlock_unlock(&g_reg_lock);
}

int tk__registry_lookup(uintptr_t addr, int (*fn)(const tk__region *, uintptr_t, void *), void *arg)
{
    pthread_rwlock_rdlock(&g_reg_lock);
    const tk__region *hit = NULL;
    size_t lo = 0, hi = g_nregs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const tk__region *r = g_regs[mid];
        if (addr < r->start)
            hi = mid;
        else if (addr >= r->start + r->len)
            lo = mid + 1;
        else {
            hit = r;
            break;
        }
    }
    int rc = fn(hit, addr, arg);
    pthread_rwlock_unlock(&g_reg_lock);
    return rc;
}

/* ---- data slot helpers ----------------------------------------------------- */

static inline void **slotp(void *stub, size_t off)
{
    return (void **)((char *)stub + tk_stub_page_size() + off);
}

static inline void st_relaxed(void *stub, size_t off, void *v)
{
    __atomic_store_n(slotp(stub, off), v, __ATOMIC_RELAXED);
}

static inline void st_release(void *stub, size_t off, void *v)
{
    __atomic_store_n(slotp(stub, off), v, __ATOMIC_RELEASE);
}

static size_t target_off(tk_stub_kind k)
{
    switch (k) {
    case TK_STUB_PRECODE: return offsetof(tk_precode_data, target);
    case TK_STUB_FIXUP: return offsetof(tk_fixup_data, target);
    case TK_STUB_CALLCOUNT: return offsetof(tk_callcount_data, target);
    default: return (size_t)-1;
    }
}

static size_t token_off(tk_stub_kind k)
{
    switch (k) {
    case TK_STUB_PRECODE: return offsetof(tk_precode_data, token);
    case TK_STUB_FIXUP: return offsetof(tk_fixup_data, token);
    case TK_STUB_CALLCOUNT: return offsetof(tk_callcount_data, cell);
    default: return (size_t)-1;
    }
}

/* The "not allocated / freed" data state of a slot (`stub.freed-trap`):
 * every target is the freed-stub trap, except that a FixupPrecode's main
 * target goes through its own fixup entry (which loads the token = the stub
 * address into r10/x12 and jumps to fixup_target = trap) so the trap handler
 * learns which stub was hit.  `prefill` = page generation: FixupPrecode's
 * target is the stub itself (spin, `stub.fixup-prefill`). */
static void set_dead_state(tk_stub_kind k, void *stub, bool prefill)
{
    void *trap = (void *)tk__freed_tramp;
    switch (k) {
    case TK_STUB_PRECODE:
        st_relaxed(stub, offsetof(tk_precode_data, token), stub);
        st_relaxed(stub, offsetof(tk_precode_data, type), (void *)0);
        st_release(stub, offsetof(tk_precode_data, target), trap);
        break;
    case TK_STUB_FIXUP:
        st_relaxed(stub, offsetof(tk_fixup_data, token), stub);
        st_relaxed(stub, offsetof(tk_fixup_data, fixup_target), trap);
        st_release(stub, offsetof(tk_fixup_data, target),
                   prefill ? stub : (char *)stub + tk__arch_fixup_offset());
        break;
    case TK_STUB_CALLCOUNT:
        st_relaxed(stub, offsetof(tk_callcount_data, cell), &tk__freed_cell);
        st_relaxed(stub, offsetof(tk_callcount_data, on_threshold), trap);
        st_release(stub, offsetof(tk_callcount_data, target), trap);
        break;
    default:
        break;
    }
}

/* ---- stub heap ---------------------------------------------------------------
 * A heap owns page groups.  Each group counts its live stubs and keeps a
 * bitmap of its freed slots; groups with freed slots are on the heap's
 * `partial` list and are refilled first, so free slots are reused before a
 * new group is generated.  A group whose every allocated slot has been freed
 * leaves its heap (`stub.page-release`): into a process-wide pool of empty
 * groups per kind (at most TK_STUB_POOL_BYTES each), or back to the OS.
 * Pooled groups stay mapped and registered with every used slot in its
 * freed state, so a stale call still reaches the freed-stub trap and
 * tk_classify still says FREED_STUB; a heap of the same kind takes a pooled
 * group before it maps a new one (no mmap, no mprotect: the code page
 * already holds the template and stays read-execute, `stub.wx`). */

typedef struct stub_page {
    tk__region reg;          /* first: registered code range                */
    void *map;               /* mmap base = code page                       */
    size_t live;             /* allocated, not freed                        */
    size_t nfree;            /* set bits in freebits                        */
    size_t hw;               /* slots ever allocated since generation/reuse */
    struct stub_page *pnext, *pprev;  /* heap's partial list, or pool list  */
    bool on_partial;
    uint64_t freebits[];     /* bit i: slot i is freed (i < reg.used)       */
} stub_page;

struct tk_stub_heap {
    tk_stub_kind kind;
    size_t stub_size;
    size_t page;
    size_t nslots;           /* slots per group                            */
    pthread_mutex_t lock;
    stub_page **pages;       /* sorted by address (tk_stub_free finds its group) */
    size_t npages, cappages;
    stub_page *bump;         /* group new slots are bumped from, or NULL    */
    stub_page *partial;      /* groups with freed slots                     */
    size_t live;             /* live stubs (atomic)                         */
};

/* ---- pool of empty page groups (process-wide, per kind) -------------------- */

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static stub_page *g_pool[TK_STUB_KIND_COUNT];
static size_t g_pool_groups[TK_STUB_KIND_COUNT];

static size_t pool_max_groups(size_t page)
{
    size_t n = TK_STUB_POOL_BYTES / (2 * page);
    return n ? n : 1;
}

static size_t page_words(size_t nslots)
{
    return (nslots + 63) / 64;
}

static void unmap_group(stub_page *pg, size_t page)
{
    tk__registry_remove(&pg->reg);
    munmap(pg->map, 2 * page);
    free(pg);
}

/* An empty group leaves its heap.  `forget`: the heap is being destroyed, so
 * its addresses become unknown to tk_classify (high-water mark 0) as they
 * did when a destroyed heap was unmapped; otherwise freed slots keep
 * classifying as FREED_STUB while pooled. */
static void pool_put(tk_stub_kind k, stub_page *pg, size_t page, bool forget)
{
    if (forget)
        __atomic_store_n(&pg->reg.used, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&g_pool_lock);
    if (g_pool_groups[k] < pool_max_groups(page)) {
        pg->pnext = g_pool[k];
        g_pool[k] = pg;
        g_pool_groups[k]++;
        pg = NULL;
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (pg)
        unmap_group(pg, page);
}

/* A pooled group, back in its never-allocated state, or NULL. */
static stub_page *pool_take(tk_stub_kind k, size_t nslots, size_t sz)
{
    pthread_mutex_lock(&g_pool_lock);
    stub_page *pg = g_pool[k];
    if (pg) {
        g_pool[k] = pg->pnext;
        g_pool_groups[k]--;
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (!pg)
        return NULL;
    /* High-water mark first (release): tk_classify stops reading the slots
     * before they are rewritten; then the prefill state (`stub.fixup-prefill`). */
    __atomic_store_n(&pg->reg.used, 0, __ATOMIC_RELEASE);
    for (size_t i = 0; i < pg->hw; i++)
        set_dead_state(k, (char *)pg->map + i * sz, true);
    pg->hw = pg->live = pg->nfree = 0;
    pg->pnext = pg->pprev = NULL;
    pg->on_partial = false;
    memset(pg->freebits, 0, page_words(nslots) * sizeof(uint64_t));
    return pg;
}

size_t tk_stub_pool_bytes(tk_stub_kind kind)
{
    if ((unsigned)kind >= TK_STUB_KIND_COUNT)
        return 0;
    pthread_mutex_lock(&g_pool_lock);
    size_t n = g_pool_groups[kind];
    pthread_mutex_unlock(&g_pool_lock);
    return n * 2 * tk_stub_page_size();
}

/* ---- heap ---------------------------------------------------------------------- */

tk_stub_heap *tk_stub_heap_create(tk_stub_kind kind)
{
    size_t len;
    if (!tk__arch_template(kind, tk_stub_page_size(), &len)) {
        errno = EINVAL;
        return NULL;
    }
    tk_stub_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->kind = kind;
    h->stub_size = len;
    h->page = tk_stub_page_size();
    h->nslots = h->page / len;
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void tk_stub_heap_destroy(tk_stub_heap *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->npages; i++) {
        stub_page *pg = h->pages[i];
        /* Live stubs die with the heap: trap, as if freed (`stub.freed-trap`). */
        for (size_t j = 0; j < pg->hw; j++)
            if (!(pg->freebits[j / 64] >> (j % 64) & 1))
                set_dead_state(h->kind, (char *)pg->map + j * h->stub_size, false);
        pool_put(h->kind, pg, h->page, true);
    }
    free(h->pages);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Index of the first group whose map is > addr (binary search). */
static size_t page_upper(const tk_stub_heap *h, uintptr_t addr)
{
    size_t lo = 0, hi = h->npages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)h->pages[mid]->map <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static stub_page *page_of(const tk_stub_heap *h, const void *stub)
{
    size_t i = page_upper(h, (uintptr_t)stub);
    if (i == 0)
        return NULL;
    stub_page *pg = h->pages[i - 1];
    return (uintptr_t)stub < (uintptr_t)pg->map + h->page ? pg : NULL;
}

static int page_insert(tk_stub_heap *h, stub_page *pg)
{
    if (h->npages == h->cappages) {
        size_t nc = h->cappages ? h->cappages * 2 : 16;
        stub_page **n = realloc(h->pages, nc * sizeof *n);
        if (!n)
            return -1;
        h->pages = n;
        h->cappages = nc;
    }
    size_t i = page_upper(h, (uintptr_t)pg->map);
    memmove(&h->pages[i + 1], &h->pages[i], (h->npages - i) * sizeof *h->pages);
    h->pages[i] = pg;
    h->npages++;
    return 0;
}

static void page_remove(tk_stub_heap *h, stub_page *pg)
{
    size_t i = page_upper(h, (uintptr_t)pg->map) - 1;
    memmove(&h->pages[i], &h->pages[i + 1], (h->npages - i - 1) * sizeof *h->pages);
    h->npages--;
}

static void partial_unlink(tk_stub_heap *h, stub_page *pg)
{
    if (pg->pprev)
        pg->pprev->pnext = pg->pnext;
    else
        h->partial = pg->pnext;
    if (pg->pnext)
        pg->pnext->pprev = pg->pprev;
    pg->pnext = pg->pprev = NULL;
    pg->on_partial = false;
}

/* Generate one page group (`stub.init-order`). */
static stub_page *new_page(tk_stub_heap *h)
{
    size_t P = h->page, sz = h->stub_size, n = h->nslots;
    size_t tlen;
    const uint8_t *tpl = tk__arch_template(h->kind, P, &tlen);
    stub_page *pg = calloc(1, sizeof *pg + page_words(n) * sizeof(uint64_t));
    if (!pg)
        return NULL;
    uint8_t *code = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        free(pg);
        return NULL;
    }
    /* 1. data page first */
    for (size_t i = 0; i < n; i++)
        set_dead_state(h->kind, code + i * sz, true);
    /* 2. code page: one template copy, then double the filled region */
    memcpy(code, tpl, sz);
    size_t filled = sz, total = n * sz;
    while (filled < total) {
        size_t c = filled <= total - filled ? filled : total - filled;
        memcpy(code + filled, code, c);
        filled += c;
    }
    tk__arch_fill_trap(code + total, P - total);
    /* 3. executable, never writable again */
    if (mprotect(code, P, PROT_READ | PROT_EXEC) != 0) {
        int e = errno;
        munmap(code, 2 * P);
        free(pg);
        errno = e;
        return NULL;
    }
    tk__arch_flush_icache(code, code + P);
    pg->map = code;
    pg->reg.start = (uintptr_t)code;
    pg->reg.len = P;
    pg->reg.rkind = TK_REGION_STUBS;
    pg->reg.skind = h->kind;
    pg->reg.slot = sz;
    pg->reg.nslots = n;
    pg->reg.used = 0;
    if (tk__registry_add(&pg->reg) != 0) {
        munmap(code, 2 * P);
        free(pg);
        return NULL;
    }
    return pg;
}

/* A slot for a new stub (h->lock held): a freed one first, then the bump
 * group, then a pooled or new group. */
static void *take_slot(tk_stub_heap *h)
{
    stub_page *pg = h->partial;
    if (pg) {
        size_t w = 0;
        while (!pg->freebits[w])
            w++;
        size_t i = w * 64 + (size_t)__builtin_ctzll(pg->freebits[w]);
        pg->freebits[w] &= pg->freebits[w] - 1;
        if (--pg->nfree == 0)
            partial_unlink(h, pg);
        pg->live++;
        return (char *)pg->map + i * h->stub_size;
    }
    pg = h->bump;
    if (!pg || pg->hw == h->nslots) {
        pg = pool_take(h->kind, h->nslots, h->stub_size);
        if (!pg)
            pg = new_page(h);
        if (!pg)
            return NULL;
        if (page_insert(h, pg) != 0) {
            pool_put(h->kind, pg, h->page, true);
            errno = ENOMEM;
            return NULL;
        }
        h->bump = pg;
    }
    size_t i = pg->hw++;
    pg->live++;
    /* release: tk_classify on another thread sees the slot as allocated
     * only after its data page is valid (it already is: prefilled). */
    __atomic_store_n(&pg->reg.used, i + 1, __ATOMIC_RELEASE);
    return (char *)pg->map + i * h->stub_size;
}

void *tk_stub_alloc(tk_stub_heap *h, void *token, void *target)
{
    pthread_mutex_lock(&h->lock);
    void *stub = take_slot(h);
    if (!stub) {
        pthread_mutex_unlock(&h->lock);
        return NULL;
    }
    /* Initialise: every other field first, the target last with a release
     * store (`stub.init-order`). */
    switch (h->kind) {
    case TK_STUB_PRECODE:
        st_relaxed(stub, offsetof(tk_precode_data, token), token);
        st_relaxed(stub, offsetof(tk_precode_data, type), (void *)TK_PRECODE_TYPE);
        st_release(stub, offsetof(tk_precode_data, target), target);
        break;
    case TK_STUB_FIXUP:
        st_relaxed(stub, offsetof(tk_fixup_data, token), token);
        st_relaxed(stub, offsetof(tk_fixup_data, fixup_target), target);
        st_release(stub, offsetof(tk_fixup_data, target),
                   (char *)stub + tk__arch_fixup_offset());
        break;
    case TK_STUB_CALLCOUNT:
        st_relaxed(stub, offsetof(tk_callcount_data, cell), token);
        st_relaxed(stub, offsetof(tk_callcount_data, on_threshold), (void *)tk__threshold_tramp);
        st_release(stub, offsetof(tk_callcount_data, target), target);
        break;
    default:
        break;
    }
    /* The stub's own loads are plain loads with no dependency on the load of
     * its address; a full fence here orders initialisation before the caller
     * publishes the address (the publishing store is the runtime's job). */
    atomic_thread_fence(memory_order_seq_cst);
    __atomic_add_fetch(&h->live, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
    return stub;
}

void tk_stub_free(tk_stub_heap *h, void *stub)
{
    if (!stub)
        return;
    pthread_mutex_lock(&h->lock);
    stub_page *pg = page_of(h, stub);
    size_t off = pg ? (uintptr_t)stub - (uintptr_t)pg->map : 0, i = off / h->stub_size;
    if (!pg || off % h->stub_size || i >= pg->hw || (pg->freebits[i / 64] >> (i % 64) & 1)) {
        /* Not a live stub of this heap (`stub.free-refused`; an address
         * inside a stub included): a runtime defect.  Freeing it
         * would hand the slot out twice. */
        pthread_mutex_unlock(&h->lock);
        fprintf(stderr, "tierkit: tk_stub_free of %p, not a live stub of this heap\n", stub);
        abort();
    }
    set_dead_state(h->kind, stub, false);
    pg->freebits[i / 64] |= (uint64_t)1 << (i % 64);
    __atomic_sub_fetch(&h->live, 1, __ATOMIC_RELAXED);
    if (--pg->live == 0) {
        /* Every slot handed out is free again: the group leaves the heap
         * (`stub.page-release`), its slots still trapping. */
        if (pg->on_partial)
            partial_unlink(h, pg);
        page_remove(h, pg);
        if (h->bump == pg)
            h->bump = NULL;
        pool_put(h->kind, pg, h->page, false);
    } else if (pg->nfree++ == 0) {
        pg->pnext = h->partial;
        pg->pprev = NULL;
        if (h->partial)
            h->partial->pprev = pg;
        h->partial = pg;
        pg->on_partial = true;
    }
    pthread_mutex_unlock(&h->lock);
}

size_t tk_stub_heap_live_bytes(const tk_stub_heap *h)
{
    return __atomic_load_n(&h->live, __ATOMIC_RELAXED) * h->stub_size * 2;
}

size_t tk_stub_heap_mapped_bytes(tk_stub_heap *h)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->npages;
    pthread_mutex_unlock(&h->lock);
    return n * 2 * h->page;
}

/* ---- retargeting ------------------------------------------------------------ */

void *tk_stub_target(void *stub)
{
    size_t off = target_off(tk__arch_kind_from_code(stub));
    if (off == (size_t)-1)
        return NULL;
    return __atomic_load_n(slotp(stub, off), __ATOMIC_ACQUIRE);
}

void tk_stub_set_target(void *stub, void *target)
{
    size_t off = target_off(tk__arch_kind_from_code(stub));
    if (off == (size_t)-1)
        return;
    __atomic_store_n(slotp(stub, off), target, __ATOMIC_RELEASE);
}

bool tk_stub_cas_target(void *stub, void *expected, void *desired)
{
    size_t off = target_off(tk__arch_kind_from_code(stub));
    if (off == (size_t)-1)
        return false;
    return __atomic_compare_exchange_n(slotp(stub, off), &expected, desired, false,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void *tk_stub_token(void *stub)
{
    size_t off = token_off(tk__arch_kind_from_code(stub));
    if (off == (size_t)-1)
        return NULL;
    return __atomic_load_n(slotp(stub, off), __ATOMIC_ACQUIRE);
}

void tk_precode_reset(void *stub, void *prestub)
{
    switch (tk__arch_kind_from_code(stub)) {
    case TK_STUB_FIXUP:
        (void)__atomic_exchange_n(slotp(stub, offsetof(tk_fixup_data, target)),
                            (void *)((char *)stub + tk__arch_fixup_offset()), __ATOMIC_SEQ_CST);
        break;
    case TK_STUB_PRECODE:
        (void)__atomic_exchange_n(slotp(stub, offsetof(tk_precode_data, target)), prestub,
                            __ATOMIC_SEQ_CST);
        break;
    default:
        break;
    }
}

bool tk_precode_points_to_prestub(void *stub, void *prestub)
{
    tk_stub_kind k = tk__arch_kind_from_code(stub);
    if (k != TK_STUB_PRECODE && k != TK_STUB_FIXUP)
        return false;
    void *t = __atomic_load_n(slotp(stub, target_off(k)), __ATOMIC_ACQUIRE);
    if (t == prestub)
        return true;
    return k == TK_STUB_FIXUP && t == (char *)stub + tk__arch_fixup_offset();
}
