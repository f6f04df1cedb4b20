/* arch/tests/test_model.c — the stub heaps and the code heap driven by
 * long random (fixed-seed, deterministic) operation sequences and checked
 * after every step against a plain model of what arch.h and SPEC.md
 * promise:
 *
 *   stub.recognition    every live stub classifies as its kind, with its
 *                       token and target; every freed one as FREED_STUB
 *                       while its group is held or pooled; slots of a
 *                       destroyed heap, of an unmapped group and of a group
 *                       taken back from the pool (never allocated again) as
 *                       UNKNOWN;
 *   stub.page-release   a heap holds exactly the groups that have live
 *                       stubs (mapped bytes), freed slots are reused before
 *                       a slot is bumped, a slot is bumped before a group is
 *                       taken, a pooled group is taken before one is mapped;
 *                       the pool holds min(bound, groups released) and a
 *                       group released beyond the bound, or by a destroyed
 *                       heap beyond it, is unmapped (/proc/self/maps) — every
 *                       group of the heap, first, middle and last;
 *   stub.code-reuse     the code heap: live entries classify EMITTED with
 *                       their ctx and run their body, freed ones are UNKNOWN
 *                       and are the next entries emitted, used bytes follow,
 *                       a foreign or repeated free is refused;
 *   stub.freed-trap     every stub a destroyed heap held, live or freed,
 *                       is dead and traps while its group is pooled;
 *   "Data states"       every slot of a fresh, pooled or reused group: the
 *                       template in its code, the trap filler in the page's
 *                       tail, unallocated / allocated / freed data;
 *   stub.wx             no writable and executable mapping at any checkpoint.
 *
 * The same create / use / destroy cycle, repeated once the pools are full,
 * leaves allocations (fault_seam.h's count), descriptors and mappings
 * where they were.  The region registry tk_classify searches is grown
 * one region at a time, with a region removed at every size. */
#include "arch.h"
#include "fault_seam.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------ */

/* Check's ck_assert_* reports every passing check to the runner (a write
 * per assertion); these run hundreds of thousands of times, so they report
 * failures only. */
#define MCHECK(c, ...)                                                                                       \
    do {                                                                                                     \
        if (!(c))                                                                                            \
            ck_abort_msg(__VA_ARGS__);                                                                       \
    } while (0)
#define MCHECK_EQ(a, b)                                                                                      \
    do {                                                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                  \
        MCHECK(a_ == b_, "%s == %s failed: %lld != %lld", #a, #b, a_, b_);                                   \
    } while (0)
#define MCHECK_NONNULL(a) MCHECK((a) != NULL, "%s is NULL", #a)
#define MCHECK_PEQ(a, b)                                                                                     \
    do {                                                                                                     \
        const void *a_ = (a), *b_ = (b);                                                                     \
        MCHECK(a_ == b_, "%s == %s failed: %p != %p", #a, #b, a_, b_);                                       \
    } while (0)

static uint64_t g_rng;

static uint64_t rnd(void)
{
    /* xorshift64*: fixed seed per test, the same sequence on every run */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}

static size_t rndn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static long mtarget_a(long x) { return x + 1; }
static long mtarget_b(long x) { return x + 2; }
static long trap_landing(long x) { return x * 3; }
typedef long (*fn1_t)(long);

static int g_trap_calls;
static void *g_trap_token;
static void *trap_handler(void *token, tk_arch_regs *regs)
{
    (void)regs;
    g_trap_calls++;
    g_trap_token = token;
    return (void *)trap_landing;
}

static void check_wx(const char *when)
{
    char line[512];
    MCHECK(tk_wx_violations(line, sizeof line) == 0, "%s: W+X mapping: %s", when, line);
}

static tk_addr_kind addr_kind(tk_stub_kind k)
{
    return k == TK_STUB_PRECODE ? TK_ADDR_PRECODE : k == TK_STUB_FIXUP ? TK_ADDR_FIXUP : TK_ADDR_CALLCOUNT;
}

static const tk_stub_kind KINDS[3] = {TK_STUB_PRECODE, TK_STUB_FIXUP, TK_STUB_CALLCOUNT};

static size_t pool_max_groups(void)
{
    size_t n = TK_STUB_POOL_BYTES / (2 * tk_stub_page_size());
    return n ? n : 1;
}

/* Counting cells for CallCountingStubs: far from zero, so the model's
 * calls never reach the threshold. */
#define NCELLS 64
static uint16_t g_cells[NCELLS];

static void refill_cells(void)
{
    for (int i = 0; i < NCELLS; i++)
        g_cells[i] = 60000;
}

/* ---- the stub-heap model --------------------------------------------------- */

enum { G_HELD, G_POOLED, G_GONE };
enum { S_NEVER, S_LIVE, S_FREED };

/* One page group as the model sees it.  Slot j of the model is the stub at
 * first + (j - per) * sz, so any slot of the group fits whichever slot was
 * handed out first. */
typedef struct mgroup {
    int state;
    int heap;               /* G_HELD: owning model heap */
    tk_stub_kind kind;
    char *first;            /* first address handed out since it joined */
    uint8_t *slot;          /* 2 * per: S_*                              */
    void **tok;             /* token of a live slot                      */
    uint8_t *tgt;           /* bit 0: the target given (a FixupPrecode's
                             * fixup target): mtarget_a or mtarget_b;
                             * bits 1-2, FixupPrecode: 0 through its fixup
                             * entry, 1 / 2 retargeted to mtarget_a / _b  */
    size_t nlive, nused, nfreed;
} mgroup;

typedef struct mheap {
    tk_stub_heap *h;
    tk_stub_kind kind;
} mheap;

#define NMHEAPS 6
#define MAX_GROUPS 4096

typedef struct model {
    size_t P, per[3], sz[3];
    mheap heaps[NMHEAPS];
    mgroup *g[MAX_GROUPS];
    size_t ng;
    size_t npool[3];        /* groups of each kind the pool holds */
    unsigned long serial;
    unsigned long unmapped, pool_takes, new_maps, released;
} model;

static int kidx(tk_stub_kind k)
{
    return k == TK_STUB_PRECODE ? 0 : k == TK_STUB_FIXUP ? 1 : 2;
}

static char *slot_addr(const model *m, const mgroup *g, size_t j)
{
    size_t sz = m->sz[kidx(g->kind)];
    return g->first + ((long)j - (long)m->per[kidx(g->kind)]) * (long)sz;
}

/* The group holding address a (any state but GONE), and its slot. */
static mgroup *group_of(model *m, const char *a, size_t *slot)
{
    for (size_t i = 0; i < m->ng; i++) {
        mgroup *g = m->g[i];
        if (g->state == G_GONE)
            continue;
        long d = a - g->first;
        if (d > -(long)m->P && d < (long)m->P) {
            long sz = (long)m->sz[kidx(g->kind)];
            MCHECK(d % sz == 0, "%p is %ld bytes from the group's first stub %p: not a slot", (void *)a, d,
                          (void *)g->first);
            *slot = (size_t)(d / sz + (long)m->per[kidx(g->kind)]);
            return g;
        }
    }
    return NULL;
}

static void group_reset(model *m, mgroup *g, char *first)
{
    size_t n = 2 * m->per[kidx(g->kind)];
    g->first = first;
    memset(g->slot, S_NEVER, n);
    memset(g->tgt, 0, n);
    g->nlive = g->nused = g->nfreed = 0;
}

static mgroup *group_new(model *m, tk_stub_kind k, char *first)
{
    MCHECK(m->ng < MAX_GROUPS, "more than %d groups", MAX_GROUPS);
    size_t n = 2 * m->per[kidx(k)];
    mgroup *g = calloc(1, sizeof *g);
    g->slot = malloc(n);
    g->tok = calloc(n, sizeof *g->tok);
    g->tgt = malloc(n);
    g->kind = k;
    group_reset(m, g, first);
    m->g[m->ng++] = g;
    return g;
}

static size_t held_groups(const model *m, int hi)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ng; i++)
        n += m->g[i]->state == G_HELD && m->g[i]->heap == hi;
    return n;
}

static size_t heap_live(const model *m, int hi)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ng; i++)
        if (m->g[i]->state == G_HELD && m->g[i]->heap == hi)
            n += m->g[i]->nlive;
    return n;
}

static void *target_fn(int b)
{
    return b ? (void *)mtarget_b : (void *)mtarget_a;
}

/* A live stub: its kind, token and target, and (if `call`) a call through
 * it. */
static void check_live(model *m, mgroup *g, size_t j, int call)
{
    char *s = slot_addr(m, g, j);
    int given = g->tgt[j] & 1, direct = g->tgt[j] >> 1;
    MCHECK(tk_classify(s) == addr_kind(g->kind), "live stub %p (kind %d) classifies as %d", (void *)s,
                  g->kind, tk_classify(s));
    MCHECK_PEQ(tk_stub_token(s), g->tok[j]);
    int runs = given;
    if (g->kind == TK_STUB_FIXUP) {
        MCHECK_PEQ(tk_stub_target(s), direct ? target_fn(direct - 1) : s + tk_fixup_entry_offset());
        MCHECK_PEQ(((tk_fixup_data *)tk_stub_data(s))->fixup_target, target_fn(given));
        MCHECK_EQ(tk_precode_points_to_prestub(s, tk_prestub_entry()), !direct);
        runs = direct ? direct - 1 : given;
    } else {
        MCHECK_PEQ(tk_stub_target(s), target_fn(given));
    }
    if (call)
        MCHECK_EQ(((fn1_t)s)(40), runs ? 42 : 41);
}

/* Retargets n live stubs of heap hi: a CAS with a wrong expectation fails
 * and changes nothing; one with the current target, or a store, moves it
 * (`stub.atomic-retarget`). */
static mgroup *pick_live(model *m, int hi, size_t *jj);

static void model_retarget(model *m, int hi, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j;
        mgroup *g = pick_live(m, hi, &j);
        if (!g)
            return;
        char *s = slot_addr(m, g, j);
        int to = (int)rndn(2);
        void *cur = tk_stub_target(s);
        MCHECK(!tk_stub_cas_target(s, (char *)cur + 1, target_fn(to)), "a CAS expecting %p moved %p's target",
               (void *)((char *)cur + 1), (void *)s);
        if (rndn(2))
            MCHECK(tk_stub_cas_target(s, cur, target_fn(to)), "a CAS expecting the current target %p failed", cur);
        else
            tk_stub_set_target(s, target_fn(to));
        if (g->kind == TK_STUB_FIXUP)
            g->tgt[j] = (uint8_t)((g->tgt[j] & 1) | (to + 1) << 1);
        else
            g->tgt[j] = (uint8_t)to;
        check_live(m, g, j, 1);
    }
}

/* The data state of a freed stub (`stub.freed-trap`), whether or not
 * tk_classify still knows its address: its targets at the trap (a
 * FixupPrecode through its fixup entry), a precode's token its own
 * address, a counting stub's cell a private one; a call traps, and a
 * precode's trap receives its address. */
static void check_dead(tk_stub_kind kind, char *s, int call);

/* A freed stub: FREED_STUB, and the dead state above. */
static void check_freed(model *m, mgroup *g, size_t j, int call)
{
    char *s = slot_addr(m, g, j);
    MCHECK(tk_classify(s) == TK_ADDR_FREED_STUB, "freed stub %p (kind %d, group %s) classifies as %d",
                  (void *)s, g->kind, g->state == G_HELD ? "held" : "pooled", tk_classify(s));
    check_dead(g->kind, s, call);
}

static void check_dead(tk_stub_kind kind, char *s, int call)
{
    if (kind == TK_STUB_FIXUP) {
        MCHECK_PEQ(tk_stub_target(s), s + tk_fixup_entry_offset());
        MCHECK_PEQ(((tk_fixup_data *)tk_stub_data(s))->fixup_target, tk_freed_stub_entry());
    } else {
        MCHECK_PEQ(tk_stub_target(s), tk_freed_stub_entry());
    }
    if (kind == TK_STUB_CALLCOUNT) {
        uint16_t *c = tk_stub_token(s);
        MCHECK(c && (c < g_cells || c >= g_cells + NCELLS), "freed counting stub %p still counts on %p",
               (void *)s, (void *)c);
        MCHECK_PEQ(((tk_callcount_data *)tk_stub_data(s))->on_threshold, tk_freed_stub_entry());
    } else {
        MCHECK_PEQ(tk_stub_token(s), s);
    }
    if (call) {
        int before = g_trap_calls;
        g_trap_token = NULL;
        MCHECK(((fn1_t)s)(7) == 21, "a call through the dead stub %p (kind %d) did not reach the trap", (void *)s,
               kind);
        MCHECK_EQ(g_trap_calls, before + 1);
        if (kind != TK_STUB_CALLCOUNT)
            MCHECK_PEQ(g_trap_token, s);
    }
}

/* What the library reports equals the model: mapped and live bytes of
 * every heap, pooled bytes of every kind. */
static void check_counts(model *m, const char *when)
{
    for (int hi = 0; hi < NMHEAPS; hi++) {
        mheap *mh = &m->heaps[hi];
        size_t g = held_groups(m, hi);
        MCHECK(tk_stub_heap_mapped_bytes(mh->h) == g * 2 * m->P,
                      "%s: heap %d holds %zu bytes of groups, the model %zu groups of %zu", when, hi,
                      tk_stub_heap_mapped_bytes(mh->h), g, 2 * m->P);
        MCHECK(tk_stub_heap_live_bytes(mh->h) == heap_live(m, hi) * 2 * m->sz[kidx(mh->kind)],
                      "%s: heap %d: %zu live bytes, the model %zu live stubs", when, hi,
                      tk_stub_heap_live_bytes(mh->h), heap_live(m, hi));
    }
    for (int k = 0; k < 3; k++)
        MCHECK(tk_stub_pool_bytes(KINDS[k]) == m->npool[k] * 2 * m->P,
                      "%s: the pool of kind %d holds %zu bytes, the model %zu groups", when, KINDS[k],
                      tk_stub_pool_bytes(KINDS[k]), m->npool[k]);
}

/* Every slot of every held or pooled group. */
static void check_all(model *m, const char *when)
{
    refill_cells();
    check_counts(m, when);
    for (size_t i = 0; i < m->ng; i++) {
        mgroup *g = m->g[i];
        if (g->state == G_GONE)
            continue;
        size_t n = 2 * m->per[kidx(g->kind)];
        for (size_t j = 0; j < n; j++) {
            if (g->slot[j] == S_LIVE)
                check_live(m, g, j, rndn(8) == 0);
            else if (g->slot[j] == S_FREED)
                check_freed(m, g, j, rndn(32) == 0);
        }
    }
    check_wx(when);
}

static void model_alloc(model *m, int hi)
{
    mheap *mh = &m->heaps[hi];
    int k = kidx(mh->kind);
    size_t freed_avail = 0;
    mgroup *bump = NULL;
    for (size_t i = 0; i < m->ng; i++) {
        mgroup *g = m->g[i];
        if (g->state != G_HELD || g->heap != hi)
            continue;
        freed_avail += g->nfreed;
        if (g->nused < m->per[k]) {
            MCHECK(!bump, "heap %d: two held groups with never-used slots", hi);
            bump = g;
        }
    }
    unsigned long serial = ++m->serial;
    void *tok = mh->kind == TK_STUB_CALLCOUNT ? (void *)&g_cells[serial % NCELLS] : (void *)serial;
    int tb = (int)(serial & 1);
    size_t mapped0 = tk_stub_heap_mapped_bytes(mh->h);
    char *s = tk_stub_alloc(mh->h, tok, tb ? (void *)mtarget_b : (void *)mtarget_a);
    MCHECK_NONNULL(s);
    size_t j;
    mgroup *g = group_of(m, s, &j);
    if (freed_avail) {
        /* a freed slot of a group the heap holds */
        MCHECK(g && g->state == G_HELD && g->heap == hi && g->slot[j] == S_FREED,
                      "heap %d had %zu freed slots but handed out %p, not one of them", hi, freed_avail,
                      (void *)s);
        g->nfreed--;
    } else if (bump) {
        MCHECK(g == bump && g->slot[j] == S_NEVER,
                      "heap %d: a group with never-used slots, but %p is not one of them", hi, (void *)s);
        g->nused++;
    } else if (m->npool[k]) {
        /* a pooled group of the kind, back in its never-allocated state */
        MCHECK(g && g->state == G_POOLED && g->kind == mh->kind,
                      "heap %d: the pool holds %zu groups of the kind, but %p is in none of them", hi,
                      m->npool[k], (void *)s);
        char *old[64];
        size_t nold = 0;
        for (size_t t = 0; t < 2 * m->per[k] && nold < 64; t++)
            if (g->slot[t] != S_NEVER && slot_addr(m, g, t) != s)
                old[nold++] = slot_addr(m, g, t);
        m->npool[k]--;
        m->pool_takes++;
        g->state = G_HELD;
        g->heap = hi;
        group_reset(m, g, s);
        j = m->per[k];
        g->nused = 1;
        for (size_t t = 0; t < nold; t++)
            MCHECK(tk_classify(old[t]) == TK_ADDR_UNKNOWN,
                          "a slot freed before its group was pooled classifies as %d after the group was "
                          "taken back (never allocated since)", tk_classify(old[t]));
    } else {
        MCHECK(!g, "heap %d mapped a new group at %p, inside a group the model knows", hi, (void *)s);
        g = group_new(m, mh->kind, s);
        g->state = G_HELD;
        g->heap = hi;
        j = m->per[k];
        g->nused = 1;
        m->new_maps++;
    }
    MCHECK_EQ(tk_stub_heap_mapped_bytes(mh->h), mapped0 + (g->nlive == 0 ? 2 * m->P : 0));
    g->slot[j] = S_LIVE;
    g->tok[j] = tok;
    g->tgt[j] = (uint8_t)tb;
    g->nlive++;
    check_live(m, g, j, rndn(4) == 0);
}

/* Frees slot j of held group g; the group leaves its heap with its last
 * stub: into the pool while it has room, unmapped beyond. */
static void model_free(model *m, mgroup *g, size_t j)
{
    int k = kidx(g->kind);
    char *s = slot_addr(m, g, j);
    size_t pool0 = tk_stub_pool_bytes(g->kind);
    tk_stub_free(m->heaps[g->heap].h, s);
    g->slot[j] = S_FREED;
    g->nlive--;
    if (g->nlive) {
        g->nfreed++;
        check_freed(m, g, j, rndn(8) == 0);
        MCHECK_EQ(tk_stub_pool_bytes(g->kind), pool0);
        return;
    }
    m->released++;
    if (m->npool[k] < pool_max_groups()) {
        g->state = G_POOLED;
        m->npool[k]++;
        MCHECK_EQ(tk_stub_pool_bytes(g->kind), pool0 + 2 * m->P);
        check_freed(m, g, j, 1);
    } else {
        g->state = G_GONE;
        m->unmapped++;
        MCHECK_EQ(tk_stub_pool_bytes(g->kind), pool0);
        MCHECK(tkf_still_mapped((uintptr_t)s, (uintptr_t)s + 1) == 0,
                      "a group released with the pool full is still mapped (%p)", (void *)s);
        MCHECK_EQ(tk_classify(s), TK_ADDR_UNKNOWN);
    }
}

/* A live stub of heap hi (or none): a random group with live stubs, from a
 * random slot on. */
static mgroup *pick_live(model *m, int hi, size_t *jj)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ng; i++)
        n += m->g[i]->state == G_HELD && m->g[i]->heap == hi && m->g[i]->nlive;
    if (!n)
        return NULL;
    size_t r = rndn(n);
    for (size_t i = 0; i < m->ng; i++) {
        mgroup *g = m->g[i];
        if (g->state != G_HELD || g->heap != hi || !g->nlive || r-- != 0)
            continue;
        size_t per2 = 2 * m->per[kidx(g->kind)], j = rndn(per2);
        while (g->slot[j] != S_LIVE)
            j = (j + 1) % per2;
        *jj = j;
        return g;
    }
    ck_abort_msg("model: live count out of step");
    return NULL;
}

/* Heap hi's held groups sorted by address. */
static size_t heap_groups_sorted(model *m, int hi, mgroup **out)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ng; i++)
        if (m->g[i]->state == G_HELD && m->g[i]->heap == hi)
            out[n++] = m->g[i];
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && out[b - 1]->first > out[b]->first; b--) {
            mgroup *t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return n;
}

/* Every live stub of one group, in random order: the group leaves the heap
 * from position `where` (0 first, 1 middle, 2 last by address). */
static void model_free_group(model *m, int hi, int where)
{
    mgroup *gs[MAX_GROUPS];
    size_t n = heap_groups_sorted(m, hi, gs);
    if (!n)
        return;
    mgroup *g = gs[where == 0 ? 0 : where == 2 ? n - 1 : n / 2];
    size_t per2 = 2 * m->per[kidx(g->kind)];
    while (g->nlive) {
        size_t j = rndn(per2);
        while (g->slot[j] != S_LIVE)
            j = (j + 1) % per2;
        model_free(m, g, j);
    }
}

/* Destroys heap hi: its groups go to the pool while it has room (their
 * addresses forgotten), every other one is unmapped; then a new heap of
 * the kind takes its place. */
static void model_destroy(model *m, int hi)
{
    mheap *mh = &m->heaps[hi];
    int k = kidx(mh->kind);
    mgroup *gs[MAX_GROUPS];
    size_t n = heap_groups_sorted(m, hi, gs);
    size_t room = pool_max_groups() - m->npool[k], to_pool = n < room ? n : room;
    tk_stub_heap_destroy(mh->h);
    size_t mapped = 0;
    for (size_t i = 0; i < n; i++) {
        mgroup *g = gs[i];
        char *rep = g->first;
        size_t still = tkf_still_mapped((uintptr_t)rep, (uintptr_t)rep + 1);
        mapped += still != 0;
        g->state = still ? G_POOLED : G_GONE;
        for (size_t j = 0; j < 2 * m->per[k]; j++) {
            if (g->slot[j] == S_NEVER)
                continue;
            MCHECK(tk_classify(slot_addr(m, g, j)) == TK_ADDR_UNKNOWN,
                          "a destroyed heap's stub (group %zu of %zu) classifies as %d", i, n,
                          tk_classify(slot_addr(m, g, j)));
            /* Pooled, so still mapped: every stub it ever handed out, live
             * until the destroy or freed before, is dead and traps
             * (`stub.freed-trap`, `stub.page-release`), not only some. */
            if (still)
                check_dead(g->kind, slot_addr(m, g, j), 1);
        }
        /* pooled by destroy: forgotten, so no slot classifies any more */
        group_reset(m, g, rep);
        g->nused = 0;
    }
    MCHECK(mapped == to_pool, "destroyed a heap of %zu groups with room for %zu in the pool: %zu stay mapped",
                  n, room, mapped);
    m->npool[k] += to_pool;
    m->unmapped += n - to_pool;
    mh->h = tk_stub_heap_create(mh->kind);
    MCHECK_NONNULL(mh->h);
}

/* A heap of `kind` that holds every pooled group of that kind, so the
 * model starts from an empty pool. */
static tk_stub_heap *drain_pool(tk_stub_kind kind)
{
    tk_stub_heap *h = tk_stub_heap_create(kind);
    while (tk_stub_pool_bytes(kind) > 0)
        MCHECK_NONNULL(tk_stub_alloc(h, kind == TK_STUB_CALLCOUNT ? (void *)&g_cells[0] : NULL,
                                            (void *)mtarget_a));
    return h;
}

static void model_run(uint64_t seed, int steps)
{
    static model mm;
    model *m = &mm;
    memset(m, 0, sizeof *m);
    g_rng = seed;
    refill_cells();
    tk_set_freed_stub_handler(trap_handler);
    m->P = tk_stub_page_size();
    tk_stub_heap *drain[3];
    for (int k = 0; k < 3; k++) {
        m->sz[k] = tk_stub_size(KINDS[k]);
        m->per[k] = m->P / m->sz[k];
        drain[k] = drain_pool(KINDS[k]);
    }
    for (int hi = 0; hi < NMHEAPS; hi++) {
        m->heaps[hi].kind = KINDS[hi % 3];
        m->heaps[hi].h = tk_stub_heap_create(KINDS[hi % 3]);
        MCHECK_NONNULL(m->heaps[hi].h);
    }
    for (int step = 0; step < steps; step++) {
        /* alloc-heavy first, then balanced, then free-heavy: the group
         * count of each kind rises past the pool's bound and falls back */
        int phase = step * 3 / steps, hi = (int)rndn(NMHEAPS);
        size_t r = rndn(100), per = m->per[kidx(m->heaps[hi].kind)];
        size_t alloc_pct = phase == 0 ? 75 : phase == 1 ? 45 : 10, free_pct = (100 - alloc_pct) * 6 / 10;
        char when[64];
        snprintf(when, sizeof when, "seed %llu step %d", (unsigned long long)seed, step);
        if (r < alloc_pct) {
            size_t n = 1 + rndn(2 * per);
            for (size_t i = 0; i < n; i++)
                model_alloc(m, hi);
        } else if (r < alloc_pct + free_pct) {
            size_t live = heap_live(m, hi), n = live ? 1 + rndn(live / 2 + 1) : 0;
            for (size_t i = 0; i < n; i++) {
                size_t j;
                mgroup *g = pick_live(m, hi, &j);
                if (g)
                    model_free(m, g, j);
            }
        } else if (r < 98) {
            model_free_group(m, hi, (int)rndn(3));
        } else {
            model_destroy(m, hi);
        }
        if (rndn(4) == 0)
            model_retarget(m, (int)rndn(NMHEAPS), 1 + rndn(16));
        check_counts(m, when);
        if (step % 40 == 39)
            check_all(m, when);
    }
    check_all(m, "end of the sequence");
    /* every heap destroyed; each keeps its promise about its groups */
    for (int hi = 0; hi < NMHEAPS; hi++) {
        model_destroy(m, hi);
        tk_stub_heap_destroy(m->heaps[hi].h);
    }
    /* the sequence exercised what it is meant to */
    MCHECK(m->pool_takes > 0 && m->new_maps > 0 && m->unmapped > 0 && m->released > 0,
                  "seed %llu: %lu pool takes, %lu new groups, %lu unmapped, %lu released", (unsigned long long)seed,
                  m->pool_takes, m->new_maps, m->unmapped, m->released);
    for (size_t i = 0; i < m->ng; i++) {
        free(m->g[i]->slot);
        free(m->g[i]->tok);
        free(m->g[i]->tgt);
        free(m->g[i]);
    }
    for (int k = 0; k < 3; k++)
        tk_stub_heap_destroy(drain[k]);
    check_wx("after the model's heaps were destroyed");
    tk_set_freed_stub_handler(NULL);
}

START_TEST(stub_heaps_follow_the_model)
{
    static const uint64_t seeds[] = {0x9E3779B97F4A7C15ULL, 0xD1B54A32D192ED03ULL};
    model_run(seeds[_i], 240);
}
END_TEST

/* ---- destroy: every group, whatever the pool holds ------------------------------ */

static size_t fill_heap(tk_stub_heap *h, tk_stub_kind k, size_t groups, void **v)
{
    size_t n = groups * (tk_stub_page_size() / tk_stub_size(k));
    for (size_t i = 0; i < n; i++)
        MCHECK_NONNULL(v[i] = tk_stub_alloc(h, k == TK_STUB_CALLCOUNT ? (void *)&g_cells[0] : NULL,
                                                   (void *)mtarget_a));
    return n;
}

/* A heap of G groups destroyed (a) with the pool of its kind full: every
 * group is unmapped and forgotten, nothing leaks; (b) with the pool empty:
 * every group is pooled (up to the bound), forgotten, still read-execute,
 * and every stub it held live is dead: it traps when called. */
START_TEST(destroy_releases_every_group)
{
    const size_t P = tk_stub_page_size(), max = pool_max_groups(), G = 5;
    tk_set_freed_stub_handler(trap_handler);
    for (int k = 0; k < 3; k++) {
        tk_stub_kind kind = KINDS[k];
        size_t per = P / tk_stub_size(kind);
        void **v = calloc((max + G + 1) * per, sizeof *v);
        /* (a) pool full before the heap is destroyed */
        tk_stub_heap *x = tk_stub_heap_create(kind);
        size_t nx = fill_heap(x, kind, G, v);
        void *firsts[8];
        for (size_t g = 0; g < G; g++)
            firsts[g] = v[g * per];
        tk_stub_heap *y = tk_stub_heap_create(kind);
        void **w = v + nx;
        size_t ny = fill_heap(y, kind, max + 1, w);
        for (size_t i = 0; i < ny; i++)
            tk_stub_free(y, w[i]);
        tk_stub_heap_destroy(y);
        MCHECK_EQ(tk_stub_pool_bytes(kind), max * 2 * P);
        tk_stub_heap_destroy(x);
        MCHECK_EQ(tk_stub_pool_bytes(kind), max * 2 * P);
        for (size_t g = 0; g < G; g++) {
            MCHECK(tkf_still_mapped((uintptr_t)firsts[g], (uintptr_t)firsts[g] + P) == 0,
                          "kind %d: group %zu of %zu of a heap destroyed with the pool full is still mapped", kind,
                          g, G);
            MCHECK_EQ(tk_classify(firsts[g]), TK_ADDR_UNKNOWN);
        }

        /* (b) pool empty: every group goes to the pool */
        tk_stub_heap *d = drain_pool(kind);
        x = tk_stub_heap_create(kind);
        size_t gb = G < max ? G : max;
        nx = fill_heap(x, kind, gb, v);
        MCHECK_EQ(tk_stub_pool_bytes(kind), 0);
        tk_stub_heap_destroy(x);
        MCHECK(tk_stub_pool_bytes(kind) == gb * 2 * P, "kind %d: a destroyed heap of %zu groups pooled %zu",
                      kind, gb, tk_stub_pool_bytes(kind) / (2 * P));
        for (size_t g = 0; g < gb; g++) {
            char *c = v[g * per];
            MCHECK_EQ(tkf_still_mapped((uintptr_t)c, (uintptr_t)c + P), P);
            MCHECK_EQ(tk_classify(c), TK_ADDR_UNKNOWN);
        }
        /* every stub of every pooled group, the first, the last and each
         * one between, died with the heap: it traps (`stub.freed-trap`) */
        refill_cells();
        for (size_t i = 0; i < nx; i++) {
            MCHECK_EQ(tk_classify(v[i]), TK_ADDR_UNKNOWN);
            check_dead(kind, v[i], 1);
        }
        check_wx("after destroy");
        tk_stub_heap_destroy(d);
        free(v);
    }
    tk_set_freed_stub_handler(NULL);
}
END_TEST

/* ---- every slot of a group in its documented state ------------------------------- */

/* The code page holding stub s: the read-execute mapping around s ends
 * where its data page begins (SPEC.md "The interleaved page model"), so its
 * end less STUB_PAGE_SIZE is the group's first slot. */
static char *group_base(const void *s)
{
    FILE *f = fopen("/proc/self/maps", "r");
    MCHECK(f != NULL, "cannot read /proc/self/maps");
    char line[512], perms[8];
    uintptr_t end = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && (uintptr_t)s >= lo && (uintptr_t)s < hi) {
            MCHECK(!strncmp(perms, "r-x", 3), "stub %p lies in a %s mapping", s, perms);
            end = hi;
        }
    }
    fclose(f);
    MCHECK(end != 0, "stub %p lies in no mapping", s);
    return (char *)end - tk_stub_page_size();
}

/* The code page of the group at base: the template in every slot, trap
 * filler in the tail (SPEC.md "The interleaved page model", byte tables). */
static void check_code_page(tk_stub_kind kind, const char *base)
{
    size_t len, P = tk_stub_page_size();
    const uint8_t *tpl = tk_stub_template(kind, &len);
    size_t per = P / len;
    for (size_t i = 0; i < per; i++)
        MCHECK(memcmp(base + i * len, tpl, len) == 0, "kind %d: slot %zu of %zu of the code page at %p is not the template",
               kind, i, per, (const void *)base);
    for (size_t o = per * len; o < P; o++) {
#if defined(__aarch64__)
        static const uint8_t brk[4] = {0x00, 0x00, 0x3E, 0xD4}; /* brk #0xf000 */
        uint8_t want = brk[o % 4];
#else
        uint8_t want = 0xCC; /* int3 */
#endif
        MCHECK(((const uint8_t *)base)[o] == want, "kind %d: byte %zu of the code page tail is %#x, not the trap filler",
               kind, o, ((const uint8_t *)base)[o]);
    }
}

/* A slot never handed out since its group was generated or taken from the
 * pool: the "unallocated" column of SPEC.md "Data states" (a FixupPrecode
 * spins on itself, `stub.fixup-prefill`). */
static void check_unallocated(tk_stub_kind kind, char *s)
{
    void *trap = tk_freed_stub_entry();
    switch (kind) {
    case TK_STUB_PRECODE: {
        tk_precode_data *d = tk_stub_data(s);
        MCHECK(d->token == s && d->type == 0 && d->target == trap,
               "unallocated StubPrecode %p: token %p type %#lx target %p", (void *)s, d->token,
               (unsigned long)d->type, d->target);
        break;
    }
    case TK_STUB_FIXUP: {
        tk_fixup_data *d = tk_stub_data(s);
        MCHECK(d->token == s && d->fixup_target == trap && d->target == s,
               "unallocated FixupPrecode %p: token %p fixup_target %p target %p", (void *)s, d->token,
               d->fixup_target, d->target);
        break;
    }
    default: {
        tk_callcount_data *d = tk_stub_data(s);
        MCHECK(d->cell && (d->cell < g_cells || d->cell >= g_cells + NCELLS) && d->on_threshold == trap &&
                   d->target == trap,
               "unallocated CallCountingStub %p: cell %p on_threshold %p target %p", (void *)s, (void *)d->cell,
               d->on_threshold, d->target);
        break;
    }
    }
}

static int in_set(void *const *v, size_t n, const void *s)
{
    for (size_t t = 0; t < n; t++)
        if (v[t] == s)
            return 1;
    return 0;
}

/* Every slot of the group at base: the live ones (live[0..nl)) classify as
 * their kind, the dead ones (dead[0..nd): freed, or alive when their heap
 * was destroyed) are in the dead state and trap (`stub.freed-trap`; some
 * called), every other one is unallocated. */
static void check_group_slots(tk_stub_kind kind, char *base, void *const *live, size_t nl, void *const *dead,
                              size_t nd)
{
    size_t sz = tk_stub_size(kind), per = tk_stub_page_size() / sz, called = 0;
    check_code_page(kind, base);
    for (size_t i = 0; i < per; i++) {
        char *s = base + i * sz;
        if (in_set(live, nl, s))
            MCHECK(tk_classify(s) == addr_kind(kind), "live stub %p classifies as %d", (void *)s, tk_classify(s));
        else if (in_set(dead, nd, s))
            check_dead(kind, s, called++ % 5 == 0);
        else
            check_unallocated(kind, s);
    }
}

/* A group mapped fresh, a group the heap's destroy sent to the pool, a
 * group whose last stub was freed, and each of them taken back from the
 * pool by another heap: every slot of each is in its documented state —
 * the template in every code slot and the trap filler in the tail; the
 * slots handed out, live; the ones handed out and given back (freed, or
 * alive when the heap was destroyed), dead and trapping; every other one
 * unallocated, a pooled group's formerly used slots reset to it before the
 * group is used again (`stub.page-release`, `stub.fixup-prefill`,
 * `stub.freed-trap`). */
START_TEST(every_slot_in_its_documented_state)
{
    tk_set_freed_stub_handler(trap_handler);
    refill_cells();
    for (int k = 0; k < 3; k++) {
        tk_stub_kind kind = KINDS[k];
        size_t sz = tk_stub_size(kind), per = tk_stub_page_size() / sz, n = per / 3 + 5;
        void *tok = kind == TK_STUB_CALLCOUNT ? (void *)&g_cells[1] : NULL;
        void **v = calloc(per, sizeof *v), **live = calloc(per, sizeof *v), **dead = calloc(per, sizeof *v);
        size_t nl = 0, nd = 0;
        tk_stub_heap *d = drain_pool(kind);

        /* a fresh group: one stub handed out */
        tk_stub_heap *h = tk_stub_heap_create(kind);
        MCHECK_NONNULL(v[0] = tk_stub_alloc(h, tok, (void *)mtarget_a));
        char *base = group_base(v[0]);
        check_group_slots(kind, base, v, 1, NULL, 0);
        /* n handed out, every third freed again */
        for (size_t i = 1; i < n; i++)
            MCHECK_NONNULL(v[i] = tk_stub_alloc(h, tok, (void *)mtarget_b));
        for (size_t i = 0; i < n; i++) {
            MCHECK(v[i] >= (void *)base && (char *)v[i] < base + per * sz,
                   "kind %d: stub %zu of %zu is not in the heap's only group", kind, i, n);
            if (i % 3 == 0) {
                tk_stub_free(h, v[i]);
                dead[nd++] = v[i];
            } else {
                live[nl++] = v[i];
            }
        }
        MCHECK_EQ(tk_stub_heap_mapped_bytes(h), 2 * tk_stub_page_size());
        check_group_slots(kind, base, live, nl, dead, nd);
        /* the heap destroyed with the rest alive: the group is pooled (the
         * pool was empty), every stub it handed out dead */
        tk_stub_heap_destroy(h);
        MCHECK_EQ(tk_stub_pool_bytes(kind), 2 * tk_stub_page_size());
        check_group_slots(kind, base, NULL, 0, v, n);

        /* taken back by another heap: every slot but the one handed out is
         * unallocated again */
        h = tk_stub_heap_create(kind);
        MCHECK_NONNULL(v[0] = tk_stub_alloc(h, tok, (void *)mtarget_a));
        MCHECK(group_base(v[0]) == base, "kind %d: a heap mapped a group while one was pooled", kind);
        MCHECK_EQ(tk_stub_pool_bytes(kind), 0);
        check_group_slots(kind, base, v, 1, NULL, 0);

        /* n handed out and all freed: the group leaves for the pool with
         * its used slots dead (and FREED_STUB); taken back again, they are
         * unallocated */
        for (size_t i = 1; i < n; i++)
            MCHECK_NONNULL(v[i] = tk_stub_alloc(h, tok, (void *)mtarget_b));
        for (size_t i = 0; i < n; i++)
            tk_stub_free(h, v[n - 1 - i]);
        MCHECK_EQ(tk_stub_heap_mapped_bytes(h), 0);
        MCHECK_EQ(tk_stub_pool_bytes(kind), 2 * tk_stub_page_size());
        for (size_t i = 0; i < n; i++)
            MCHECK_EQ(tk_classify(v[i]), TK_ADDR_FREED_STUB);
        check_group_slots(kind, base, NULL, 0, v, n);
        tk_stub_heap *h2 = tk_stub_heap_create(kind);
        MCHECK_NONNULL(v[0] = tk_stub_alloc(h2, tok, (void *)mtarget_a));
        MCHECK(group_base(v[0]) == base, "kind %d: a heap mapped a group while one was pooled", kind);
        check_group_slots(kind, base, v, 1, NULL, 0);
        tk_stub_free(h2, v[0]);
        tk_stub_heap_destroy(h2);
        tk_stub_heap_destroy(h);
        tk_stub_heap_destroy(d);
        free(v);
        free(live);
        free(dead);
    }
    check_wx("after the slot-state checks");
    tk_set_freed_stub_handler(NULL);
}
END_TEST

/* Freed slots are reused first (`stub.page-release`) also in a heap whose
 * group came from the pool with a history: a group that was on its old
 * heap's list of groups with freed slots when that heap was destroyed,
 * taken by another heap and released again by it, leaves that heap's own
 * groups with freed slots in place: the next stub is the freed one. */
START_TEST(freed_slots_first_after_pool_reuse)
{
    for (int k = 0; k < 3; k++) {
        tk_stub_kind kind = KINDS[k];
        size_t per = tk_stub_page_size() / tk_stub_size(kind);
        void *tok = kind == TK_STUB_CALLCOUNT ? (void *)&g_cells[2] : NULL;
        void **g1 = calloc(per, sizeof *g1);
        tk_stub_heap *d = drain_pool(kind);
        tk_stub_heap *b = tk_stub_heap_create(kind), *a = tk_stub_heap_create(kind);
        for (size_t i = 0; i < per; i++) /* b: one full group */
            MCHECK_NONNULL(g1[i] = tk_stub_alloc(b, tok, (void *)mtarget_a));
        void *x0 = tk_stub_alloc(a, tok, (void *)mtarget_a), *x1 = tk_stub_alloc(a, tok, (void *)mtarget_a);
        MCHECK(x0 && x1, "kind %d: allocation failed", kind);
        tk_stub_free(a, x0);     /* a's group has a freed slot ... */
        tk_stub_heap_destroy(a); /* ... when a is destroyed: pooled */
        MCHECK_EQ(tk_stub_pool_bytes(kind), 2 * tk_stub_page_size());
        void *bx = tk_stub_alloc(b, tok, (void *)mtarget_b); /* b's group is full: the pooled one */
        MCHECK_NONNULL(bx);
        MCHECK_EQ(tk_stub_pool_bytes(kind), 0);
        MCHECK(group_base(bx) == group_base(x0), "kind %d: the heap mapped a group while one was pooled", kind);
        void *freed = g1[per / 2];
        tk_stub_free(b, freed);  /* b's first group has a freed slot */
        tk_stub_free(b, bx);     /* the reused group empties: back to the pool */
        MCHECK_EQ(tk_stub_pool_bytes(kind), 2 * tk_stub_page_size());
        MCHECK_EQ(tk_stub_heap_mapped_bytes(b), 2 * tk_stub_page_size());
        void *n = tk_stub_alloc(b, tok, (void *)mtarget_a);
        MCHECK(n == freed, "kind %d: the heap had a freed slot %p but handed out %p", kind, freed, n);
        MCHECK_EQ(tk_stub_pool_bytes(kind), 2 * tk_stub_page_size());
        g1[per / 2] = n;
        for (size_t i = 0; i < per; i++)
            tk_stub_free(b, g1[i]);
        tk_stub_heap_destroy(b);
        tk_stub_heap_destroy(d);
        free(g1);
    }
}
END_TEST

/* ---- the code heap against its model -------------------------------------------- */

static long mbody(const void *ctx, long a0, long a1, long a2, long a3, long a4)
{
    (void)a1; (void)a2; (void)a3; (void)a4;
    return a0 + 1000 * (long)(*(const int *)ctx);
}
typedef long (*entry5_t)(long, long, long, long, long);


#define CH 2
#define CMAX 6000
typedef struct centry {
    void *e;
    int heap;
    int live;
} centry;

START_TEST(code_heaps_follow_the_model)
{
    static centry ents[CMAX];
    static int ctxs[CMAX];
    size_t n = 0;
    g_rng = 0xC0DEC0DE12345ULL;
    tk_code_heap *hs[CH];
    size_t live[CH] = {0}, freed[CH] = {0}, slot = 0;
    for (int i = 0; i < CH; i++)
        hs[i] = tk_code_heap_create();
    for (int i = 0; i < CMAX; i++)
        ctxs[i] = i;
    for (int step = 0; step < 400; step++) {
        int hi = (int)rndn(CH);
        size_t r = rndn(100);
        if (r < (step < 200 ? 60u : 35u)) {
            size_t k = 1 + rndn(60);
            for (size_t i = 0; i < k && n < CMAX; i++) {
                int check_rx = freed[hi] && rndn(32) == 0;
                size_t rx0 = check_rx ? tkf_code_rx_bytes() : 0;
                void *e = tk_emit_entry(hs[hi], (void *)mbody, &ctxs[n]);
                MCHECK_NONNULL(e);
                if (!slot)
                    slot = tk_code_heap_used_bytes(hs[hi]);
                /* a freed entry of this heap first (`stub.code-reuse`), and
                 * then no new mapping */
                int reused = 0;
                for (size_t t = 0; t < n; t++)
                    if (ents[t].e == e) {
                        MCHECK(!ents[t].live, "emit handed out the live entry %p again", e);
                        MCHECK(ents[t].heap == hi, "heap %d handed out heap %d's freed entry", hi,
                                      ents[t].heap);
                        ents[t].e = NULL; /* superseded */
                        reused = 1;
                    }
                MCHECK(reused || !freed[hi], "heap %d had %zu freed entries but emitted a new one", hi,
                              freed[hi]);
                if (reused)
                    freed[hi]--;
                if (check_rx)
                    MCHECK_EQ(tkf_code_rx_bytes(), rx0);
                ents[n] = (centry){e, hi, 1};
                live[hi]++;
                MCHECK_EQ(tk_classify(e), TK_ADDR_EMITTED);
                MCHECK_PEQ(tk_emitted_ctx(e), &ctxs[n]);
                if (rndn(8) == 0)
                    MCHECK_EQ(((entry5_t)e)(5, 0, 0, 0, 0), 5 + 1000L * (long)n);
                n++;
            }
        } else if (live[hi]) {
            size_t k = 1 + rndn(live[hi] / 4 + 1);
            for (size_t i = 0; i < k; i++) {
                size_t t = rndn(n);
                while (!(ents[t].e && ents[t].live && ents[t].heap == hi))
                    t = (t + 1) % n;
                MCHECK_EQ(tk_code_free(hs[1 - hi], ents[t].e), -1); /* foreign */
                MCHECK_EQ(tk_code_free(hs[hi], ents[t].e), 0);
                MCHECK_EQ(tk_code_free(hs[hi], ents[t].e), -1);     /* again */
                ents[t].live = 0;
                live[hi]--;
                freed[hi]++;
                MCHECK_EQ(tk_classify(ents[t].e), TK_ADDR_UNKNOWN);
                MCHECK_PEQ(NULL, tk_emitted_ctx(ents[t].e));
            }
        }
        for (int h = 0; h < CH; h++)
            MCHECK(tk_code_heap_used_bytes(hs[h]) == live[h] * slot,
                          "step %d: heap %d uses %zu bytes for %zu live entries of %zu", step, h,
                          tk_code_heap_used_bytes(hs[h]), live[h], slot);
        if (step % 50 == 49) {
            for (size_t t = 0; t < n; t++) {
                if (!ents[t].e)
                    continue;
                if (ents[t].live) {
                    MCHECK_EQ(tk_classify(ents[t].e), TK_ADDR_EMITTED);
                    MCHECK_PEQ(tk_emitted_ctx(ents[t].e), &ctxs[t]);
                } else {
                    MCHECK_EQ(tk_classify(ents[t].e), TK_ADDR_UNKNOWN);
                }
            }
            check_wx("code heap model");
        }
    }
    MCHECK(n > 2000, "only %zu entries emitted", n); /* several chunks */
    for (int h = 0; h < CH; h++) {
        tk_code_heap_destroy(hs[h]);
        for (size_t t = 0; t < n; t++)
            if (ents[t].e && ents[t].heap == h)
                MCHECK_EQ(tk_classify(ents[t].e), TK_ADDR_UNKNOWN);
    }
}
END_TEST

/* ---- the pool of empty code chunks ------------------------------------------------ */

#define CHUNK_POOL 8 /* SPEC.md `stub.code-pool` */

static size_t chunk_bytes(void)
{
    size_t os = (size_t)sysconf(_SC_PAGESIZE);
    return os > 64 * 1024 ? os : 64 * 1024;
}

/* A destroyed code heap's chunks go to a process-wide pool of at most
 * CHUNK_POOL chunks, each one, whatever its place in the heap; beyond it
 * they are unmapped.  A new heap takes a pooled chunk before it maps one,
 * and the chunk starts empty: its first entry is the chunk's first slot,
 * the old entries are forgotten (UNKNOWN) until emitted again
 * (`stub.code-pool`).  Entries are not called here: qemu-user keeps code it
 * translated from an address when new code is written through the other
 * view, and these chunks may have run entries in earlier tests. */
START_TEST(code_chunk_pool_bounded)
{
    enum { DRAIN = 2 * CHUNK_POOL, N = CHUNK_POOL + 3 };
    const size_t CB = chunk_bytes(), per = CB / 64;
    static const int c0 = 0, c1 = 1, c2 = 2;
    /* every pooled chunk taken (a heap takes one for its first entry) */
    tk_code_heap *drain[DRAIN];
    for (int i = 0; i < DRAIN; i++)
        MCHECK_NONNULL(tk_emit_entry(drain[i] = tk_code_heap_create(), (void *)mbody, &c0));
    size_t rx0 = tkf_code_rx_bytes();
    tk_code_heap *one = tk_code_heap_create();
    MCHECK_NONNULL(tk_emit_entry(one, (void *)mbody, &c0));
    MCHECK(tkf_code_rx_bytes() == rx0 + CB, "with %d heaps holding chunks a new heap did not map its own", DRAIN);
    tk_code_heap_destroy(one);
    MCHECK(tkf_code_rx_bytes() == rx0 + CB, "a destroyed heap's chunk was unmapped although the pool was empty");
    one = tk_code_heap_create();
    void *e1 = tk_emit_entry(one, (void *)mbody, &c0);
    MCHECK(tkf_code_rx_bytes() == rx0 + CB, "a heap mapped a chunk while one was pooled");
    tk_code_heap_destroy(one);

    /* N heaps, the first with three chunks, destroyed: the pool fills up */
    tk_code_heap *hs[N];
    void *first[N + 2];
    size_t nfirst = 0;
    for (int i = 0; i < N; i++) {
        hs[i] = tk_code_heap_create();
        size_t n = i == 0 ? 3 * per : 1;
        for (size_t j = 0; j < n; j++) {
            void *e = tk_emit_entry(hs[i], (void *)mbody, &c1);
            MCHECK_NONNULL(e);
            if (j % per == 0)
                first[nfirst++] = e;
        }
    }
    MCHECK_PEQ(first[0], e1); /* the pooled chunk, from its first slot */
    size_t rx1 = tkf_code_rx_bytes();
    MCHECK_EQ(rx1, rx0 + (N + 2) * CB); /* the pooled one, and N + 1 mapped */
    for (int i = 0; i < N; i++)
        tk_code_heap_destroy(hs[i]);
    void *kept_at[N + 2];
    size_t kept = 0;
    for (size_t i = 0; i < nfirst; i++) {
        MCHECK_EQ(tk_classify(first[i]), TK_ADDR_UNKNOWN);
        size_t m = tkf_still_mapped((uintptr_t)first[i], (uintptr_t)first[i] + CB);
        MCHECK(m == 0 || m == CB, "chunk %zu partly mapped (%zu bytes)", i, m);
        if (m)
            kept_at[kept++] = first[i];
    }
    MCHECK(kept == CHUNK_POOL, "%zu chunks of destroyed heaps destroyed with an empty pool stay mapped, not %d",
           kept, CHUNK_POOL);
    MCHECK_EQ(tkf_code_rx_bytes(), rx0 + CHUNK_POOL * CB);

    /* CHUNK_POOL new heaps take the pooled chunks, each from its start:
     * nothing mapped, old entries unknown until emitted again */
    tk_code_heap *ts[CHUNK_POOL + 1];
    for (int i = 0; i <= CHUNK_POOL; i++) {
        ts[i] = tk_code_heap_create();
        char *e = tk_emit_entry(ts[i], (void *)mbody, &c2);
        MCHECK_NONNULL(e);
        MCHECK_EQ(tk_classify(e), TK_ADDR_EMITTED);
        MCHECK_PEQ(tk_emitted_ctx(e), &c2);
        MCHECK_EQ(tk_classify(e + 64), TK_ADDR_UNKNOWN);
        int pooled = 0;
        for (size_t t = 0; t < kept; t++)
            pooled |= kept_at[t] == e;
        if (i < CHUNK_POOL) {
            MCHECK(pooled, "heap %d after the destroys: its first entry %p is not the start of a pooled chunk", i,
                   (void *)e);
            MCHECK_EQ(tkf_code_rx_bytes(), rx0 + CHUNK_POOL * CB);
        } else {
            MCHECK(!pooled, "a heap took a chunk from an empty pool (%p)", (void *)e);
            MCHECK_EQ(tkf_code_rx_bytes(), rx0 + (CHUNK_POOL + 1) * CB);
        }
    }
    for (int i = 0; i <= CHUNK_POOL; i++)
        tk_code_heap_destroy(ts[i]);
    for (int i = 0; i < DRAIN; i++)
        tk_code_heap_destroy(drain[i]);
    check_wx("after the chunk pool");
}
END_TEST

/* ---- steady state: nothing grows cycle after cycle ------------------------------- */

typedef struct footprint {
    size_t blocks;
    int fds;
    size_t code_rx, pool[3];
} footprint;

static footprint footprint_now(void)
{
    footprint f = {tkf_track_live(), tkf_open_fds(), tkf_code_rx_bytes(), {0, 0, 0}};
    for (int k = 0; k < 3; k++)
        f.pool[k] = tk_stub_pool_bytes(KINDS[k]);
    return f;
}

/* One runtime's worth of heaps: every stub kind past the pool's bound,
 * freed in random order (groups leave first, middle, last), some left live
 * for destroy; a code heap over several chunks, half freed. */
static void one_cycle(void)
{
    const size_t P = tk_stub_page_size(), G = pool_max_groups() + 3;
    for (int k = 0; k < 3; k++) {
        size_t per = P / tk_stub_size(KINDS[k]), n = G * per;
        void **v = calloc(n, sizeof *v);
        tk_stub_heap *h = tk_stub_heap_create(KINDS[k]);
        fill_heap(h, KINDS[k], G, v);
        for (size_t i = n; i > 1; i--) {
            size_t j = rndn(i);
            void *t = v[i - 1];
            v[i - 1] = v[j];
            v[j] = t;
        }
        for (size_t i = 0; i < n - per / 2; i++)
            tk_stub_free(h, v[i]);
        tk_stub_heap_destroy(h);
        free(v);
    }
    tk_code_heap *ch = tk_code_heap_create();
    static const int c = 1;
    void **e = calloc(3000, sizeof *e);
    for (int i = 0; i < 3000; i++)
        MCHECK_NONNULL(e[i] = tk_emit_entry(ch, (void *)mbody, &c));
    for (int i = 0; i < 3000; i += 2)
        MCHECK_EQ(tk_code_free(ch, e[i]), 0);
    tk_code_heap_destroy(ch);
    free(e);
}

/* The allocations made since the first cycle began (fault_seam.h's
 * tracking) and not freed, the descriptors, the code heaps' mappings and
 * the pools are the same after every later cycle.  The stub pools are
 * drained first, so every pooled group is one the cycles made. */
START_TEST(cycles_leak_nothing)
{
    g_rng = 0x5EEDF00DULL;
    tk_stub_heap *drain[3];
    for (int k = 0; k < 3; k++)
        drain[k] = drain_pool(KINDS[k]);
    tkf_track_begin();
    one_cycle(); /* fills the pools */
    footprint f0 = footprint_now();
    for (int r = 0; r < 2; r++) {
        one_cycle();
        footprint f = footprint_now();
        MCHECK(f.blocks == f0.blocks, "cycle %d: %zu allocations outstanding, %zu after the first", r + 2,
               f.blocks, f0.blocks);
        MCHECK_EQ(f.fds, f0.fds);
        MCHECK(f.code_rx == f0.code_rx, "cycle %d: code heaps' views %zu bytes, %zu after the first", r + 2,
               f.code_rx, f0.code_rx);
        for (int k = 0; k < 3; k++)
            MCHECK_EQ(f.pool[k], f0.pool[k]);
    }
    tkf_track_end();
    for (int k = 0; k < 3; k++)
        tk_stub_heap_destroy(drain[k]);
    check_wx("after the cycles");
}
END_TEST

/* ---- a heap's page array at every size ------------------------------------------- */

/* A heap grows one group at a time to 40 groups; at every size its
 * newest group is released (its last stub freed) and taken back: the heap
 * holds the right groups after each, and every stub still classifies and
 * frees.  Crosses the page array's growth points (with AddressSanitizer, a
 * removal or insertion that moves one element too many at a full array is
 * reported). */
START_TEST(page_array_every_size)
{
    const size_t P = tk_stub_page_size(), per = P / tk_stub_size(TK_STUB_PRECODE);
    enum { N = 40 };
    void **v = calloc(N * per, sizeof *v);
    tk_stub_heap *d = drain_pool(TK_STUB_PRECODE);
    tk_stub_heap *h = tk_stub_heap_create(TK_STUB_PRECODE);
    for (size_t n = 1; n <= N; n++) {
        void **g = v + (n - 1) * per;
        for (int round = 0; round < 2; round++) {
            for (size_t i = 0; i < per; i++)
                MCHECK_NONNULL(g[i] = tk_stub_alloc(h, NULL, (void *)mtarget_a));
            MCHECK_EQ(tk_stub_heap_mapped_bytes(h), n * 2 * P);
            if (round == 0) {
                for (size_t i = 0; i < per; i++)
                    tk_stub_free(h, g[i]);
                MCHECK_EQ(tk_stub_heap_mapped_bytes(h), (n - 1) * 2 * P);
            }
        }
        for (size_t i = 0; i < n * per; i += per / 3)
            MCHECK_EQ(tk_classify(v[i]), TK_ADDR_PRECODE);
    }
    for (size_t i = 0; i < N * per; i++)
        tk_stub_free(h, v[i]);
    MCHECK_EQ(tk_stub_heap_mapped_bytes(h), 0);
    tk_stub_heap_destroy(h);
    tk_stub_heap_destroy(d);
    free(v);
}
END_TEST

/* ---- the region registry at every size ----------------------------------------- */

/* Regions are added one at a time (a code heap with one entry each), and
 * at every size one is added and removed again (a short-lived code heap)
 * and one from the lowest, middle and highest addresses is churned: every
 * entry and stub still classifies as what it is.  Crosses the registry's
 * growth points (with AddressSanitizer, a removal that reads or moves one
 * element too many at a full array is reported). */
#define REG_STEPS 300
START_TEST(registry_every_size)
{
    tk_code_heap **hs = calloc(REG_STEPS, sizeof *hs);
    void **es = calloc(REG_STEPS, sizeof *es);
    static const int c = 2;
    tk_stub_heap *sh = tk_stub_heap_create(TK_STUB_PRECODE);
    void *s = tk_stub_alloc(sh, NULL, (void *)mtarget_a);
    for (int i = 0; i < REG_STEPS; i++) {
        hs[i] = tk_code_heap_create();
        MCHECK_NONNULL(es[i] = tk_emit_entry(hs[i], (void *)mbody, &c));
        tk_code_heap *t = tk_code_heap_create();
        void *te = tk_emit_entry(t, (void *)mbody, &c);
        MCHECK_EQ(tk_classify(te), TK_ADDR_EMITTED);
        tk_code_heap_destroy(t);
        MCHECK_EQ(tk_classify(te), TK_ADDR_UNKNOWN);
        if (i % 16 == 15) {
            /* churn the regions at the low, middle and high addresses */
            int lo = 0, hi = 0;
            for (int j = 0; j <= i; j++) {
                if (es[j] < es[lo]) lo = j;
                if (es[j] > es[hi]) hi = j;
            }
            int picks[3] = {lo, i / 2, hi};
            for (int p = 0; p < 3; p++) {
                tk_code_heap_destroy(hs[picks[p]]);
                hs[picks[p]] = tk_code_heap_create();
                MCHECK_NONNULL(es[picks[p]] = tk_emit_entry(hs[picks[p]], (void *)mbody, &c));
            }
            for (int j = 0; j <= i; j++) {
                MCHECK_EQ(tk_classify(es[j]), TK_ADDR_EMITTED);
                MCHECK_PEQ(tk_emitted_ctx(es[j]), &c);
            }
            MCHECK_EQ(tk_classify(s), TK_ADDR_PRECODE);
        }
    }
    for (int i = 0; i < REG_STEPS; i++) {
        MCHECK_EQ(((entry5_t)es[i])(1, 0, 0, 0, 0), 2001);
        tk_code_heap_destroy(hs[i]);
        MCHECK_EQ(tk_classify(s), TK_ADDR_PRECODE);
    }
    tk_stub_heap_destroy(sh);
    free(hs);
    free(es);
}
END_TEST

TCase *tcase_model(void)
{
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 300);
    void tkf_check_lock_discipline(void);
    tcase_add_checked_fixture(tc, NULL, tkf_check_lock_discipline);
    tcase_add_loop_test(tc, stub_heaps_follow_the_model, 0, 2);
    tcase_add_test(tc, destroy_releases_every_group);
    tcase_add_test(tc, every_slot_in_its_documented_state);
    tcase_add_test(tc, freed_slots_first_after_pool_reuse);
    tcase_add_test(tc, code_heaps_follow_the_model);
    tcase_add_test(tc, code_chunk_pool_bounded);
    tcase_add_test(tc, cycles_leak_nothing);
    tcase_add_test(tc, registry_every_size);
    tcase_add_test(tc, page_array_every_size);
    return tc;
}
