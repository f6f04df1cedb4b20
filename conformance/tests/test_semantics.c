/* conformance/tests/test_semantics.c — tiering never changes which body
 * runs: identical call sequences across strategies, thresholds, delays and
 * forced re-versioning; concurrent retargets are atomic. */
#include "fixture.h"

#include <pthread.h>
#include <sys/mman.h>

/* Base { V0 81, V1 82, V2 83; N 87 }, D1 : Base { V1 -> 84 },
 * D2 : D1 { V2 -> 85; new V3 86 }, I { I0 -> slot 0, I1 -> slot 2 } on Base. */
static const tk_method_def sb_v[] = { TKT_M("S.V0", 81), TKT_M("S.V1", 82), TKT_M("S.V2", 83) };
static const tk_method_def sb_n[] = { TKT_M("S.N", 87) };
static const tk_override_def sd1_o[] = { { 1, TKT_M("SD1.V1", 84) } };
static const tk_override_def sd2_o[] = { { 2, TKT_M("SD2.V2", 85) } };
static const tk_method_def sd2_v[] = { TKT_M("SD2.V3", 86) };
static const tk_method_def si_v[] = { { "SI.I0", NULL, NULL, 0 }, { "SI.I1", NULL, NULL, 0 } };
static const int vt_ids[3][4] = { { 81, 82, 83, 0 }, { 81, 84, 83, 0 }, { 81, 84, 85, 86 } };
static const int vt_len[3] = { 3, 3, 4 };

typedef struct { int id; int64_t arg; } seq_ent;

static uint64_t lcg(uint64_t *s) { *s = *s * 6364136223846793005ULL + 1442695040888963407ULL; return *s >> 33; }

#define SEQ_CALLS 600

/* Runs the fixed program; returns tiers seen (bitmask) and fills the log. */
static unsigned run_program(const char *strategy, const char *thr, const char *delay, int reversion, seq_ent *out,
                            size_t *nout)
{
    char s_kv[64];
    snprintf(s_kv, sizeof s_kv, "Strategy=%s", strategy);
    tk_drv_runtime *rt = tkt_create("Mode=deterministic", "TieredPGO=0", thr, delay, s_kv);
    tk_drv_type *iface = fx_iface_if_supported(rt, "SI", 2, si_v);
    tk_iface_impl_def impls[2] = { { iface, 0, 0 }, { iface, 1, 2 } };
    tk_type_def bdef = { "S", NULL, 0, 3, sb_v, 0, NULL, 1, sb_n, iface ? 2 : 0, impls };
    tk_drv_type *ty[3];
    ty[0] = fx_define(rt, &bdef, 1);
    ty[1] = fx_class(rt, "SD1", ty[0], 0, NULL, 1, sd1_o);
    tk_type_def d2def = { "SD2", ty[1], 0, 1, sd2_v, 1, sd2_o, 0, NULL, 0, NULL };
    ty[2] = fx_define(rt, &d2def, 1);
    tk_drv_object *obj[3];
    for (int i = 0; i < 3; i++) obj[i] = fx_obj(rt, ty[i]);
    tk_drv_method *nm = D->nonvirtual_method(ty[0], 0);
    tk_drv_method *versioned = fx_vm(ty[0], 0);
    uint64_t seed = 12345;
    unsigned tiers = 0;
    tkt_log_reset();
    size_t n = 0;
    for (int k = 0; k < SEQ_CALLS; k++) {
        int r = (int)(lcg(&seed) % 3);
        int path = (int)(lcg(&seed) % 10);
        int64_t arg = (int64_t)(lcg(&seed) % 1000);
        void **slot;
        int id;
        void *self = obj[r];
        if (path < 6) {
            int s = (int)(lcg(&seed) % (uint64_t)vt_len[r]);
            slot = fx_vslot(ty[r], (uint32_t)s);
            id = vt_ids[r][s];
        } else if (path < 8 && iface) {
            int j = (int)(lcg(&seed) % 2);
            slot = D->interface_slot(ty[0], iface, (uint32_t)j);
            self = obj[0];
            id = j == 0 ? 81 : 83;
        } else if (path < 9) {
            slot = D->method_slot(nm);
            id = 87;
        } else {
            slot = D->method_slot(versioned);
            id = 81;
        }
        tkt_call c = tkt_call_logged(slot, self, id, arg);
        tiers |= 1u << (c.tier & 7);
        out[n].id = id;
        out[n].arg = arg;
        n++;
        if (k % 20 == 19) tkt_tick(rt, 10);
        if (reversion && (D->caps & TK_CAP_VERSIONING) && k % 75 == 74) {
            if ((k / 75) % 3 == 2) D->version_revert(rt, versioned);
            else ck_assert_msg(D->version_request(rt, versioned) > 0, "version_request failed");
        }
    }
    *nout = n;
    tkt_destroy(rt);
    return tiers;
}

TK_TEST(semantics_tier_independent, "inv.semantics.tier-independent")
{
    static seq_ent ref[SEQ_CALLS], got[SEQ_CALLS];
    size_t nref = 0, ngot = 0;
    const char *const *strategies = D->strategies;
    static const char *const one[] = { "", NULL };
    if (!strategies || !strategies[0]) strategies = one;
    static const char *const thr[] = { "CallCountThreshold=1", "CallCountThreshold=2", "CallCountThreshold=30",
                                       "CallCountThreshold=2" };
    static const char *const dly[] = { "CallCountingDelayMs=0", "CallCountingDelayMs=1", "CallCountingDelayMs=100",
                                       "CallCountingDelayMs=5" };
    int runs = 0;
    for (int s = 0; strategies[s]; s++) {
        for (int c = 0; c < 4; c++) {
            int rev = c == 3;
            unsigned tiers;
            if (!*strategies[s]) {
                /* a driver with a single design: no Strategy key */
                tk_drv_runtime *probe = tkt_create("Mode=deterministic");
                tkt_destroy(probe);
            }
            tiers = run_program(strategies[s], thr[c], dly[c], rev, runs ? got : ref, runs ? &ngot : &nref);
            if (runs) {
                ck_assert_msg(ngot == nref, "Strategy=%s %s %s%s: %zu calls vs %zu", strategies[s], thr[c], dly[c],
                              rev ? " +re-versioning" : "", ngot, nref);
                for (size_t i = 0; i < nref; i++)
                    ck_assert_msg(got[i].id == ref[i].id && got[i].arg == ref[i].arg,
                                  "Strategy=%s %s %s%s: call %zu ran method %d(arg %lld), reference run: %d(%lld)",
                                  strategies[s], thr[c], dly[c], rev ? " +re-versioning" : "", i, got[i].id,
                                  (long long)got[i].arg, ref[i].id, (long long)ref[i].arg);
            }
            tkt_note("Strategy=%s %s %s%s: tiers seen mask 0x%x", strategies[s], thr[c], dly[c],
                     rev ? " +re-versioning" : "", tiers);
            runs++;
        }
    }
}

/* ---- concurrent retargets ---------------------------------------------------------- */
/* Pushes every later mmap of this process below a multi-GiB hole: reserve
 * the hole, then fill every smaller hole above it (up to the main stack)
 * with PROT_NONE reservations.  Returns the number of reservations. */
static int spread_address_space(void **gap_out, size_t gap_len)
{
    *gap_out = NULL;
    void *gap = mmap(NULL, gap_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (gap == MAP_FAILED) return 0;
    *gap_out = gap;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 1;
    uintptr_t lo[1024], hi[1024];
    int n = 0, stack = -1;
    char line[512];
    while (n < 1024 && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) != 2) continue;
        if (strstr(line, "[stack]") && stack < 0) stack = n;
        lo[n] = a; hi[n] = b; n++;
    }
    fclose(f);
    int filled = 1;
    uintptr_t gend = (uintptr_t)gap + gap_len;
    for (int i = 0; i + 1 < n && (stack < 0 || i + 1 < stack); i++) {
        if (hi[i] < gend || lo[i + 1] <= hi[i]) continue;
        void *r = mmap((void *)hi[i], lo[i + 1] - hi[i], PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (r != MAP_FAILED) filled++;
    }
    return filled;
}

#define AR_TYPES 12
#define AR_VIRT 4
#define AR_THREADS 3

typedef struct {
    tk_drv_runtime *rt;
    tk_drv_type *types[AR_TYPES];
    tk_drv_object *objs[AR_TYPES];
    volatile int stop;
    uint64_t calls, wrong;
    int bad_id, bad_got;
    unsigned seed;
} ar_t;

static tk_method_def ar_defs[AR_TYPES][AR_VIRT];
static char ar_names[AR_TYPES][AR_VIRT][16];

static void *ar_caller(void *p)
{
    ar_t *a = p;
    uint64_t seed = __atomic_add_fetch(&a->seed, 7919, __ATOMIC_RELAXED);
    D->thread_attach(a->rt);
    uint64_t n = 0;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        int t = (int)(lcg(&seed) % AR_TYPES), s = (int)(lcg(&seed) % AR_VIRT);
        void **slot = D->vtable_slot(a->types[t], (uint32_t)s);
        int id = 100 + t * AR_VIRT + s;
        tk_entry_fn f = (tk_entry_fn)tkt_load(slot);
        int64_t r = f(a->objs[t], (int64_t)n & 1023, 0, 0, 0);
        if (r != tkt_expect(id, (int64_t)n & 1023)) {
            if (!__atomic_fetch_add(&a->wrong, 1, __ATOMIC_RELAXED)) { a->bad_id = id; a->bad_got = (int)r; }
        }
        n++;
        if ((n & 15) == 0) D->safepoint(a->rt);
    }
    __atomic_fetch_add(&a->calls, n, __ATOMIC_RELAXED);
    D->thread_detach(a->rt);
    return NULL;
}

TK_TEST_F(stub_atomic_retarget, TKT_THREADED | TKT_SLOW, "inv.stub.atomic-retarget", "inv.semantics.tier-independent")
{
    tkt_require_caps(TK_CAP_THREADED);
    tk_drv_runtime *rt = tkt_create("Mode=threaded", "TieredPGO=0", "CallCountThreshold=2", "CallCountingDelayMs=1",
                                    "DeleteCallCountingStubsAfter=4");
    static ar_t a;
    memset(&a, 0, sizeof a);
    a.rt = rt;
    for (int t = 0; t < AR_TYPES; t++) {
        for (int s = 0; s < AR_VIRT; s++) {
            snprintf(ar_names[t][s], sizeof ar_names[t][s], "AR%d.V%d", t, s);
            ar_defs[t][s] = (tk_method_def)TKT_M(ar_names[t][s], 100 + t * AR_VIRT + s);
        }
        char tn[16];
        snprintf(tn, sizeof tn, "AR%d", t);
        a.types[t] = fx_class(rt, tn, NULL, AR_VIRT, ar_defs[t], 0, NULL);
        a.objs[t] = fx_obj(rt, a.types[t]);
    }
    /* The precodes exist now.  Push everything the runtime maps from here
     * on (code, counting stubs) below a multi-GiB hole: precode targets then
     * change between addresses whose upper 32 bits differ, so a torn
     * (non-atomic) store becomes a jump into unmapped memory instead of
     * going unnoticed. */
    size_t spread = (size_t)6 << 30;
    void *gap;
    int reservations = spread_address_space(&gap, spread);
    tkt_note("address-space spread: %d reservation(s), gap at %p", reservations, gap);
    pthread_t th[AR_THREADS];
    for (int i = 0; i < AR_THREADS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, ar_caller, &a), 0);
    uint64_t t0 = tkt_now_ms();
    int flips = 0;
    while (tkt_now_ms() - t0 < 1200) {
        if (D->caps & TK_CAP_VERSIONING) {
            for (int t = 0; t < AR_TYPES; t += 3) {
                tk_drv_method *m = D->virtual_method(a.types[t], (uint32_t)(flips % AR_VIRT));
                if (flips & 1) D->version_revert(rt, m);
                else D->version_request(rt, m);
            }
            flips++;
        }
        tkt_sleep_ms(2);
    }
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < AR_THREADS; i++) pthread_join(th[i], NULL);
    D->drain(rt);
    if (D->caps & TK_CAP_CLASSIFY) {
        char buf[200];
        tkt_note("after the run a slot holds %s", tkt_describe(rt, tkt_load(D->vtable_slot(a.types[0], 1)), buf, sizeof buf));
    }
    tkt_note("%llu concurrent calls, %d re-versioning rounds", (unsigned long long)a.calls, flips);
    ck_assert_msg(a.wrong == 0, "%llu of %llu concurrent calls ran the wrong body (first: expected method %d, got %d)",
                  (unsigned long long)a.wrong, (unsigned long long)a.calls, a.bad_id, a.bad_got);
    ck_assert_msg(a.calls > 0, "no calls were made");
    tkt_destroy(rt);
}
