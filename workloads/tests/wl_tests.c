/* workloads/tests/wl_tests.c — Check tests for the workload format and the
 * generator: every shipped definition loads; every fixture in
 * workloads/tests/bad/ is rejected with its expected message; generation is
 * deterministic (same seed, same fingerprint; different seed, different
 * fingerprint; fingerprints equal to the recorded ones on every
 * architecture) and structurally sound.  Run from the repository root. */
#include "workloads/wl.h"

#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static const char *const DEFS[] = {"orchard-like", "megamorphic", "startup-storm", "steady-state",
                                   "seed-vtable-test"};
#define NDEFS (int)(sizeof DEFS / sizeof DEFS[0])

static void load_def(const char *name, tk_wl_spec *s)
{
    char path[256], err[1024];
    snprintf(path, sizeof path, "workloads/defs/%s.wl", name);
    int rc = tk_wl_parse_file(path, s, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", path, err);
}

/* Generates s's universe; a generator error fails the test with its message. */
static void generate_ok(const tk_wl_spec *s, tk_wl_universe *u)
{
    char err[1024];
    ck_assert_msg(tk_wl_generate(s, u, err, sizeof err) == 0, "%s", err);
}

static uint64_t fp_of(const tk_wl_spec *s)
{
    tk_wl_universe u;
    generate_ok(s, &u);
    uint64_t fp = u.fingerprint;
    tk_wl_universe_free(&u);
    return fp;
}

/* ---- shipped definitions ---------------------------------------------------------- */
START_TEST(defs_load_and_generate)
{
    tk_wl_spec s;
    load_def(DEFS[_i], &s);
    ck_assert_str_eq(s.name, DEFS[_i]);
    tk_wl_universe u;
    generate_ok(&s, &u);
    ck_assert_uint_gt(u.n_methods, 0);
    ck_assert_uint_gt(u.n_handlers, 0);
    tk_wl_universe_free(&u);
}
END_TEST

/* ---- bad fixtures -------------------------------------------------------------------- */
static int read_expect(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "# expect:");
        if (!p) continue;
        p += 9;
        while (*p == ' ') p++;
        p[strcspn(p, "\n")] = 0;
        snprintf(out, len, "%s", p);
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

START_TEST(bad_fixtures_rejected)
{
    DIR *d = opendir("workloads/tests/bad");
    ck_assert_msg(d != NULL, "workloads/tests/bad missing (run from the repository root)");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".wl")) continue;
        char path[512], expect[256], err[1024] = "";
        snprintf(path, sizeof path, "workloads/tests/bad/%s", e->d_name);
        ck_assert_msg(read_expect(path, expect, sizeof expect) == 0, "%s: no '# expect:' line", path);
        tk_wl_spec s;
        int rc = tk_wl_parse_file(path, &s, err, sizeof err);
        if (rc == 0) {
            /* some problems only show up when the universe is generated */
            tk_wl_universe u;
            rc = tk_wl_generate(&s, &u, err, sizeof err);
            if (rc == 0) tk_wl_universe_free(&u);
        }
        ck_assert_msg(rc != 0, "%s was accepted (expected: %s)", path, expect);
        ck_assert_msg(strstr(err, expect) != NULL, "%s: message '%s' lacks '%s'", path, err, expect);
        ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "%s: message '%s' does not name the file",
                      path, err);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 12);
}
END_TEST

static void expect_text_error(const char *text, const char *frag)
{
    tk_wl_spec s;
    char err[1024] = "";
    ck_assert_msg(tk_wl_parse_text("inline.wl", text, &s, err, sizeof err) != 0, "accepted: %s", text);
    ck_assert_msg(strstr(err, frag) != NULL, "message '%s' lacks '%s'", err, frag);
}

#define MIN_OK "name = t\nseed = 1\nmode = threaded\nclasses = 10\nhandlers = 2\ncalls_per_request = 10\n"

START_TEST(inline_errors)
{
    tk_wl_spec s;
    char err[1024];
    ck_assert_msg(tk_wl_parse_text("inline.wl", MIN_OK, &s, err, sizeof err) == 0, "%s", err);
    expect_text_error(MIN_OK "bogus = 1\n", "inline.wl:7: key 'bogus': unknown key");
    expect_text_error(MIN_OK "classes = 5\n", "duplicate key (first set on line 4)");
    expect_text_error("name = t\nseed = 1\nmode = threaded\nhandlers = 2\ncalls_per_request = 1\n",
                      "key 'classes': missing required key");
    expect_text_error(MIN_OK "depth = 1:0.5, 2:0.4\n", "sum to 0.900000000, not 1");
    expect_text_error(MIN_OK "inherited_share = 1.5\n", "out of range [0, 1]");
    expect_text_error(MIN_OK "threads = 0\n", "0 out of range [1, 1024]");
    expect_text_error(MIN_OK "this line has no equals\n", "inline.wl:7: expected 'key = value'");
    expect_text_error(MIN_OK "config.Strategy = lazy\n", "set by tk-bench");
    expect_text_error(MIN_OK "body_work = 9-3\n", "is empty (A > B)");
    expect_text_error(MIN_OK "tier1_cost = 101\n", "101 out of range [0.01, 100]");
    expect_text_error(MIN_OK "tier0_instrumented_cost = x\n", "is not a decimal number in [0.01, 100]");
    expect_text_error(MIN_OK "churn_ms = 100\n", "type churn needs churn_types >= 1");
    expect_text_error(MIN_OK "churn_ms = 100\nchurn_types = 2\n", "needs interface_share > 0");
}
END_TEST

START_TEST(comments_lists_and_defaults)
{
    tk_wl_spec s;
    char err[1024];
    const char *t = "# header\n" MIN_OK
                    "depth = 1:0.25 , 2 : 0.75   # trailing comment\n"
                    "site_polymorphism = 1:0.333333333, 2-4:0.333333333, 5-16:0.333333333\n"
                    "body_work = 7\nconfig.TieredPGO = 1\n";
    ck_assert_msg(tk_wl_parse_text("inline.wl", t, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(s.depth.n, 2);
    ck_assert_uint_eq(s.depth.ppb[0], 250000000u);
    ck_assert_uint_eq(s.depth.ppb[0] + s.depth.ppb[1], WL_PPB);
    ck_assert_uint_eq(s.site_polymorphism.ppb[0] + s.site_polymorphism.ppb[1] +
                      s.site_polymorphism.ppb[2], WL_PPB);
    ck_assert_int_eq(s.site_polymorphism.label[1].lo, 2);
    ck_assert_int_eq(s.site_polymorphism.label[1].hi, 4);
    ck_assert_int_eq(s.body_work.lo, 7);
    ck_assert_int_eq(s.body_work.hi, 7);
    ck_assert_int_eq(s.threads, 4);                  /* default */
    ck_assert_uint_eq(s.n_config, 1);
    ck_assert_str_eq(s.config_key[0], "TieredPGO");
    ck_assert_str_eq(s.config_val[0], "1");
}
END_TEST

/* tk-bench --set KEY=VALUE: overrides validated like the file, applied
 * before the cross-key checks; messages say "--set". */
static void expect_set_error(const char *const *ov, const char *frag)
{
    tk_wl_spec s;
    char err[1024] = "";
    ck_assert_msg(tk_wl_parse_text_ex("inline.wl", MIN_OK "tier0_cost = 3\n", ov, &s, err, sizeof err) != 0,
                  "accepted --set %s", ov[0]);
    ck_assert_msg(strstr(err, frag) != NULL, "message '%s' lacks '%s'", err, frag);
}

START_TEST(set_overrides)
{
    tk_wl_spec s;
    char err[1024];
    const char *ok[] = {"tier0_cost=1.5", "tier0_instrumented_cost = 2", "direct_call_share=0.1",
                        "det_converge=7", NULL};
    ck_assert_msg(tk_wl_parse_text_ex("inline.wl", MIN_OK "tier0_cost = 3\n", ok, &s, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(s.tier0_cost_ppb, 1500000000ull);          /* replaces the file's value */
    ck_assert_uint_eq(s.tier0i_cost_ppb, 2000000000ull);         /* sets a defaulted key */
    ck_assert_uint_eq(s.direct_call_share_ppb, 100000000u);
    ck_assert_int_eq(s.det_converge, 7);
    const char *req[] = {"classes=20", NULL};               /* required keys too */
    ck_assert(tk_wl_parse_text_ex("inline.wl", MIN_OK, req, &s, err, sizeof err) == 0);
    ck_assert_int_eq(s.classes, 20);
    const char *e1[] = {"tier0_cost=200", NULL};
    expect_set_error(e1, "inline.wl: --set: key 'tier0_cost': 200 out of range [0.01, 100]");
    const char *e2[] = {"bogus=1", NULL};
    expect_set_error(e2, "--set: key 'bogus': unknown key");
    const char *e3[] = {"config.TieredPGO=0", NULL};
    expect_set_error(e3, "--config TieredPGO=VALUE");
    const char *e4[] = {"tier0_cost=1", "tier0_cost=2", NULL};
    expect_set_error(e4, "key 'tier0_cost': given twice");
    const char *e5[] = {"noequals", NULL};
    expect_set_error(e5, "'noequals' is not KEY=VALUE");
    const char *e6[] = {"churn_ms=100", NULL};              /* cross-key: names the overrides */
    expect_set_error(e6, "(with --set churn_ms=100)");
    const char *e7[] = {"depth=1:0.5", NULL};
    expect_set_error(e7, "--set: key 'depth': probabilities sum to");
    /* overrides change the fingerprint like the file would */
    tk_wl_spec a, b;
    load_def("orchard-like", &a);
    const char *t0[] = {"tier0_cost=2", NULL};
    ck_assert(tk_wl_parse_file_ex("workloads/defs/orchard-like.wl", t0, &b, err, sizeof err) == 0);
    ck_assert_uint_eq(b.tier0_cost_ppb, 2000000000ull);
    ck_assert_uint_ne(fp_of(&a), fp_of(&b));
    a.tier0_cost_ppb = 2000000000ull;
    ck_assert_uint_eq(fp_of(&a), fp_of(&b));
}
END_TEST

/* ---- determinism ----------------------------------------------------------------------- */
START_TEST(same_seed_same_fingerprint)
{
    tk_wl_spec s;
    load_def(DEFS[_i], &s);
    ck_assert_uint_eq(fp_of(&s), fp_of(&s));
    tk_wl_spec t;
    load_def(DEFS[_i], &t);
    ck_assert_uint_eq(fp_of(&s), fp_of(&t));
}
END_TEST

START_TEST(different_seed_different_fingerprint)
{
    tk_wl_spec s;
    load_def(DEFS[_i], &s);
    uint64_t a = fp_of(&s);
    s.seed += 1;
    uint64_t b = fp_of(&s);
    s.seed += 1000;
    uint64_t c = fp_of(&s);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_ne(a, c);
    ck_assert_uint_ne(b, c);
}
END_TEST

/* The recorded fingerprints pin the generator across architectures and
 * across changes: a mismatch means the universe for a published seed moved. */
START_TEST(golden_fingerprints)
{
    FILE *f = fopen("workloads/tests/golden-fingerprints.txt", "r");
    ck_assert_msg(f != NULL, "workloads/tests/golden-fingerprints.txt missing");
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64], hex[32];
        if (line[0] == '#' || sscanf(line, "%63s %31s", name, hex) != 2) continue;
        tk_wl_spec s;
        load_def(name, &s);
        tk_wl_universe u;
        char got[17];
        generate_ok(&s, &u);
        tk_wl_fingerprint_hex(&u, got);
        tk_wl_universe_free(&u);
        ck_assert_msg(!strcmp(got, hex), "%s: fingerprint %s, recorded %s", name, got, hex);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, NDEFS);
}
END_TEST

START_TEST(rng_known_values)
{
    tk_wl_rng r;
    tk_wl_rng_seed(&r, 42, 0);
    uint64_t a = tk_wl_rng_next(&r), b = tk_wl_rng_next(&r);
    tk_wl_rng_seed(&r, 42, 0);
    ck_assert_uint_eq(a, tk_wl_rng_next(&r));
    ck_assert_uint_eq(b, tk_wl_rng_next(&r));
    tk_wl_rng_seed(&r, 42, 1);
    ck_assert_uint_ne(a, tk_wl_rng_next(&r));
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_lt(tk_wl_rng_below(&r, 7), 7);
        int64_t v = tk_wl_rng_range(&r, (tk_wl_range){3, 5});
        ck_assert(v >= 3 && v <= 5);
    }
}
END_TEST

/* ---- structure ---------------------------------------------------------------------------- */
static int in_subtree(const tk_wl_universe *u, uint32_t c, uint32_t root)
{
    for (uint32_t x = c; x != WL_NONE; x = u->classes[x].parent)
        if (x == root) return 1;
    return 0;
}

START_TEST(universe_is_sound)
{
    tk_wl_spec s;
    load_def(DEFS[_i], &s);
    tk_wl_universe u;
    generate_ok(&s, &u);
    ck_assert_uint_eq(u.n_early_classes, (uint32_t)s.classes);
    for (uint32_t c = 0; c < u.n_classes; c++) {
        const tk_wl_class *k = &u.classes[c];
        if (k->parent != WL_NONE) ck_assert_uint_lt(k->parent, c);   /* parents first */
        for (uint32_t sl = 0; sl < k->vt_size; sl++) {
            uint32_t m = u.slot_impl[k->slot_base + sl];
            ck_assert_uint_lt(m, u.n_methods);
            if (!k->abstract) ck_assert_msg(!u.methods[m].abstract, "concrete C%u slot %u abstract", c, sl);
        }
        for (uint32_t j = 0; j < k->n_impls; j++)
            ck_assert_uint_lt(u.impls[k->first_impl + j].vtable_slot, k->vt_size);
    }
    for (uint32_t i = 0; i < u.n_sites; i++) {
        const tk_wl_site *st = &u.sites[i];
        ck_assert_uint_gt(st->n_recv, 0);
        for (uint32_t q = 0; q < st->n_recv; q++) {
            uint32_t r = u.recv[st->first_recv + q];
            ck_assert(!u.classes[r].abstract);
            ck_assert(st->late || !u.classes[r].late);
            if (st->kind == WL_S_VIRT) {
                ck_assert(in_subtree(&u, r, st->target));
                ck_assert_uint_lt(st->slot, u.classes[st->target].vt_size);
            }
        }
    }
    for (uint32_t h = 0; h < u.n_handlers; h++) {
        ck_assert_uint_gt(u.handlers[h].n_sites, 0);
        for (uint32_t j = 0; j < u.handlers[h].n_sites; j++) {
            const tk_wl_site *st = &u.sites[u.handler_sites[u.handlers[h].first_site + j]];
            ck_assert_int_eq(st->late, u.handlers[h].late);
        }
    }
    if (u.n_early_handlers) ck_assert_uint_eq(u.zipf_early[u.n_early_handlers - 1], WL_PPB);
    tk_wl_universe_free(&u);
}
END_TEST

START_TEST(inherited_share_is_respected)
{
    tk_wl_spec s;
    load_def("orchard-like", &s);
    tk_wl_universe u;
    generate_ok(&s, &u);
    double share = (double)u.n_inherited_not_overridden / (double)u.n_inherited_slots;
    ck_assert_msg(share > 0.45 && share < 0.55, "inherited-not-overridden share %.3f", share);
    /* the depth distribution: 25% roots */
    uint32_t roots = 0;
    for (uint32_t c = 0; c < u.n_early_classes; c++) roots += u.classes[c].parent == WL_NONE;
    ck_assert_uint_eq(roots, 150);
    ck_assert_uint_gt(u.site_kind_count[WL_S_FANOUT], 0);
    tk_wl_universe_free(&u);
}
END_TEST

/* Tier cost factors: defaults 3.0 / 3.5 / 1.0, exact parts per billion;
 * they are part of the fingerprint. */
START_TEST(tier_costs)
{
    tk_wl_spec s;
    char err[1024];
    ck_assert_msg(tk_wl_parse_text("inline.wl", MIN_OK, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(s.tier0_cost_ppb, 3000000000ull);
    ck_assert_uint_eq(s.tier0i_cost_ppb, 3500000000ull);
    ck_assert_uint_eq(s.tier1_cost_ppb, 1000000000ull);
    ck_assert_msg(tk_wl_parse_text("inline.wl", MIN_OK "tier0_cost = 2.25\ntier1_cost = 0.5\n", &s, err,
                                sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(s.tier0_cost_ppb, 2250000000ull);
    ck_assert_uint_eq(s.tier1_cost_ppb, 500000000ull);
    tk_wl_spec a, b;
    load_def("orchard-like", &a);
    load_def("orchard-like", &b);
    b.tier0_cost_ppb = 2000000000ull;
    ck_assert_uint_ne(fp_of(&a), fp_of(&b));
}
END_TEST

/* orchard-like calls through owning slots (the §5.4 (b) path): direct sites
 * and receivers whose exact type declares the method they reach. */
START_TEST(owning_slot_receivers)
{
    tk_wl_spec s;
    load_def("orchard-like", &s);
    tk_wl_universe u;
    generate_ok(&s, &u);
    uint32_t own = 0, direct = 0;
    for (uint32_t i = 0; i < u.n_sites; i++) {
        const tk_wl_site *st = &u.sites[i];
        for (uint32_t q = 0; q < st->n_recv; q++) {
            uint32_t ri = st->first_recv + q, c = u.recv[ri];
            if (st->kind == WL_S_DIRECT) { ck_assert_uint_eq(u.recv_owning[ri], 1); direct++; }
            if (st->kind == WL_S_VIRT) {
                const tk_wl_class *k = &u.classes[c];
                uint32_t m = u.slot_impl[k->slot_base + st->slot];
                ck_assert_uint_eq(u.recv_owning[ri], u.methods[m].cls == c);
            }
            own += u.recv_owning[ri];
        }
    }
    ck_assert_uint_eq(own, u.n_recv_owning);
    ck_assert_uint_gt(direct, 0);
    ck_assert_uint_gt(own, direct);            /* exact-type virtual receivers too */
    tk_wl_universe_free(&u);
}
END_TEST

/* megamorphic churn candidates: concrete leaves; every site keeps a
 * receiver that is not a candidate (the stand-in while unloaded). */
START_TEST(churn_candidates)
{
    tk_wl_spec s;
    load_def("megamorphic", &s);
    tk_wl_universe u;
    generate_ok(&s, &u);
    ck_assert_uint_ge(u.n_churn, (uint32_t)s.churn_types);
    uint8_t *cand = calloc(u.n_classes, 1);
    for (uint32_t i = 0; i < u.n_churn; i++) {
        uint32_t c = u.churn[i];
        ck_assert(!u.classes[c].abstract && !u.classes[c].late);
        for (uint32_t k = 0; k < u.n_classes; k++) ck_assert_uint_ne(u.classes[k].parent, c);
        cand[c] = 1;
    }
    for (uint32_t i = 0; i < u.n_sites; i++) {
        const tk_wl_site *st = &u.sites[i];
        int keep = 0;
        for (uint32_t q = 0; q < st->n_recv; q++) keep |= !cand[u.recv[st->first_recv + q]];
        ck_assert_msg(keep, "site %u has only churn candidates", i);
    }
    free(cand);
    tk_wl_universe_free(&u);
}
END_TEST

START_TEST(seed_test_shape)
{
    tk_wl_spec s;
    load_def("seed-vtable-test", &s);
    tk_wl_universe u;
    generate_ok(&s, &u);
    ck_assert(u.classes[0].abstract);
    ck_assert_uint_eq(u.classes[0].parent, WL_NONE);
    ck_assert_uint_ne(u.factory_method, WL_NONE);
    ck_assert_uint_eq(u.n_abstract, 4);
    for (uint32_t i = 0; i < u.n_sites; i++) {
        ck_assert_int_eq(u.sites[i].kind, WL_S_VIRT);
        ck_assert_uint_eq(u.sites[i].target, 0);   /* calls through the base */
        ck_assert_uint_ge(u.sites[i].n_recv, 4);
    }
    tk_wl_universe_free(&u);
}
END_TEST

START_TEST(scale_and_quick)
{
    tk_wl_spec s;
    load_def("orchard-like", &s);
    int64_t classes = s.classes, measure = s.measure_ms, gap = s.quiet_gap_ms;
    tk_wl_spec_scale(&s, 2.0, 0);
    ck_assert_int_eq(s.classes, 2 * classes);
    ck_assert_int_eq(s.measure_ms, 2 * measure);
    tk_wl_spec t;
    load_def("orchard-like", &t);
    tk_wl_spec_scale(&t, 1.0, 1);
    ck_assert_int_eq(t.classes, classes);
    ck_assert_int_eq(t.measure_ms, measure / 4);
    ck_assert_int_eq(t.quiet_gap_ms, gap);   /* never below the tiering delay */
    tk_wl_spec v;
    load_def("orchard-like", &v);
    tk_wl_spec_scale(&v, 0.1, 1);
    ck_assert_int_eq(v.quiet_gap_ms, gap);
    ck_assert_int_le(v.window_ms, v.measure_ms);
    ck_assert_uint_ne(fp_of(&s), fp_of(&t));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("workloads");
    TCase *tc = tcase_create("format");
    tcase_add_loop_test(tc, defs_load_and_generate, 0, NDEFS);
    tcase_add_test(tc, bad_fixtures_rejected);
    tcase_add_test(tc, inline_errors);
    tcase_add_test(tc, comments_lists_and_defaults);
    tcase_add_test(tc, set_overrides);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("determinism");
    tcase_set_timeout(td, 60);
    tcase_add_loop_test(td, same_seed_same_fingerprint, 0, NDEFS);
    tcase_add_loop_test(td, different_seed_different_fingerprint, 0, NDEFS);
    tcase_add_test(td, golden_fingerprints);
    tcase_add_test(td, rng_known_values);
    suite_add_tcase(s, td);
    TCase *tg = tcase_create("generator");
    tcase_set_timeout(tg, 60);
    tcase_add_loop_test(tg, universe_is_sound, 0, NDEFS);
    tcase_add_test(tg, inherited_share_is_respected);
    tcase_add_test(tg, seed_test_shape);
    tcase_add_test(tg, tier_costs);
    tcase_add_test(tg, owning_slot_receivers);
    tcase_add_test(tg, churn_candidates);
    tcase_add_test(tg, scale_and_quick);
    suite_add_tcase(s, tg);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
