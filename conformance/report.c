/* conformance/report.c — tk-conform's reports: TAP version 13, JUnit XML,
 * JSON (schema_version 1) and the per-anchor coverage they share.  Each is
 * written by the shared output discipline (cli/outfile.h): complete or not
 * at all, devices and pipes in place, every write checked. */
#include "json.h"
#include "runner.h"
#include "cli/outfile.h"

#include <stdio.h>
#include <string.h>

static void xml_str(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') fputc('?', f);
            else fputc(*s, f);
        }
    }
}

size_t tkc_coverage(tkc_result *rs, size_t n, tkc_cov *out, size_t cap)
{
    size_t m = 0;
    for (size_t i = 0; tk_spec_anchors[i] && m < cap; i++) out[m++] = (tkc_cov){ tk_spec_anchors[i], 0, 0, 0, 0, 1 };
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; rs[i].t->anchors[a]; a++) {
            size_t k;
            for (k = 0; k < m; k++) if (!strcmp(out[k].anchor, rs[i].t->anchors[a])) break;
            if (k == m) { if (m == cap) continue; out[m++] = (tkc_cov){ rs[i].t->anchors[a], 0, 0, 0, 0, 0 }; }
            out[k].tests++;
            if (tkc_is_pass(rs[i].status)) out[k].pass++;
            else if (tkc_is_failure(rs[i].status)) out[k].fail++;
            else out[k].unsup++;
        }
    }
    return m;
}

static void tap_body(FILE *f, const tkc_report *rp)
{
    fprintf(f, "TAP version 13\n1..%zu\n", rp->n);
    for (size_t i = 0; i < rp->n; i++) {
        const tkc_result *r = &rp->rs[i];
        const char *ok = tkc_is_failure(r->status) ? "not ok" : "ok";
        fprintf(f, "%s %zu - %s", ok, i + 1, r->t->name);
        if (r->status == TKT_ST_UNSUPPORTED || r->status == TKT_ST_SKIP) fprintf(f, " # SKIP %s", r->msg);
        else if (r->status == TKT_ST_XFAIL)
            fprintf(f, " # TODO expected %s: %s", tkc_st_names[r->raw], r->exp ? r->exp->reason : "");
        fputc('\n', f);
        if (r->status != TKT_ST_PASS) {
            fprintf(f, "  ---\n  status: %s\n  message: ", tkc_st_names[r->status]);
            tkj_write_str(f, r->msg);
            fprintf(f, "\n  anchors: [");
            for (int a = 0; r->t->anchors[a]; a++) fprintf(f, "%s%s", a ? ", " : "", r->t->anchors[a]);
            fprintf(f, "]\n  ...\n");
        }
    }
}

static void junit_body(FILE *f, const tkc_report *rp)
{
    size_t fails = 0, errors = 0, skipped = 0;
    double total = 0;
    for (size_t i = 0; i < rp->n; i++) {
        int st = rp->rs[i].status;
        if (st == TKT_ST_FAIL || st == TKT_ST_XPASS) fails++;
        if (st == TKT_ST_CRASH || st == TKT_ST_TIMEOUT) errors++;
        if (st == TKT_ST_UNSUPPORTED || st == TKT_ST_SKIP) skipped++;
        total += rp->rs[i].ms;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(f, "<testsuite name=\"tk-conform\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
            rp->n, fails, errors, skipped, total / 1000);
    fprintf(f, "<properties><property name=\"impl\" value=\"");
    xml_str(f, rp->impl_path);
    fprintf(f, "\"/>");
    for (size_t i = 0; i < rp->nconfigs; i++) {
        fprintf(f, "<property name=\"config\" value=\"");
        xml_str(f, rp->configs[i]);
        fprintf(f, "\"/>");
    }
    fprintf(f, "</properties>\n");
    for (size_t i = 0; i < rp->n; i++) {
        const tkc_result *r = &rp->rs[i];
        const char *file = strrchr(r->t->file, '/');
        fprintf(f, "<testcase classname=\"conformance.%s\" name=\"%s\" time=\"%.3f\">", file ? file + 1 : r->t->file,
                r->t->name, r->ms / 1000);
        const char *tag = NULL;
        if (r->status == TKT_ST_FAIL || r->status == TKT_ST_XPASS) tag = "failure";
        else if (r->status == TKT_ST_CRASH || r->status == TKT_ST_TIMEOUT) tag = "error";
        if (tag) {
            fprintf(f, "<%s type=\"%s\" message=\"", tag, tkc_st_names[r->status]);
            xml_str(f, r->msg);
            fprintf(f, "\">");
            xml_str(f, r->output);
            fprintf(f, "</%s>", tag);
        } else if (r->status == TKT_ST_UNSUPPORTED || r->status == TKT_ST_SKIP) {
            fprintf(f, "<skipped message=\"");
            xml_str(f, r->msg);
            fprintf(f, "\"/>");
        }
        fprintf(f, "</testcase>\n");
    }
    fprintf(f, "</testsuite>\n</testsuites>\n");
}

static void json_body(FILE *f, const tkc_report *rp)
{
    fprintf(f, "{\"schema_version\":1,\"tool\":\"tk-conform\",\"spec_version\":");
    tkj_write_str(f, tk_spec_version);
    fprintf(f, ",\"arch\":\"%s\",\"impl\":", tkc_arch_name());
    tkj_write_str(f, rp->impl_path);
    if (D) {
        fprintf(f, ",\"driver\":{\"name\":");
        tkj_write_str(f, D->name);
        fprintf(f, ",\"version\":");
        tkj_write_str(f, D->version);
        fprintf(f, ",\"abi_version\":%u,\"caps\":%llu,\"strategies\":[", D->abi_version, (unsigned long long)D->caps);
        for (int i = 0; D->strategies && D->strategies[i]; i++) { if (i) fputc(',', f); tkj_write_str(f, D->strategies[i]); }
        fprintf(f, "]}");
    }
    fprintf(f, ",\"config\":[");
    for (size_t i = 0; i < rp->nconfigs; i++) { if (i) fputc(',', f); tkj_write_str(f, rp->configs[i]); }
    fprintf(f, "],\"isolation\":\"%s\",\"timeout_s\":%g,\"tests\":[", rp->isolation, rp->timeout_s);
    for (size_t i = 0; i < rp->n; i++) {
        const tkc_result *r = &rp->rs[i];
        fprintf(f, "%s\n{\"name\":", i ? "," : "");
        tkj_write_str(f, r->t->name);
        fprintf(f, ",\"file\":");
        tkj_write_str(f, r->t->file);
        fprintf(f, ",\"anchors\":[");
        for (int a = 0; r->t->anchors[a]; a++) { if (a) fputc(',', f); tkj_write_str(f, r->t->anchors[a]); }
        fprintf(f, "],\"status\":\"%s\",\"outcome\":\"%s\",\"duration_ms\":%.1f,\"message\":", tkc_st_names[r->status],
                tkc_st_names[r->raw], r->ms);
        tkj_write_str(f, r->msg);
        if (r->sig) fprintf(f, ",\"signal\":\"SIG%s\"", sigabbrev_np(r->sig) ? sigabbrev_np(r->sig) : "?");
        if (r->exp) {
            fprintf(f, ",\"expected\":{\"status\":\"%s\",\"reason\":", tkc_st_names[r->exp->status]);
            tkj_write_str(f, r->exp->reason);
            fprintf(f, ",\"where\":");
            tkj_write_str(f, r->exp->where);
            fputc('}', f);
        }
        fputc('}', f);
    }
    fprintf(f, "],\n\"anchors\":[");
    for (size_t i = 0; i < rp->ncov; i++) {
        const tkc_cov *c = &rp->cv[i];
        fprintf(f, "%s\n{\"anchor\":", i ? "," : "");
        tkj_write_str(f, c->anchor);
        fprintf(f, ",\"in_spec\":%s,\"tests\":%d,\"passed\":%d,\"failed\":%d,\"unsupported\":%d}",
                c->in_spec ? "true" : "false", c->tests, c->pass, c->fail, c->unsup);
    }
    size_t counts[TKT_ST_COUNT] = { 0 };
    for (size_t i = 0; i < rp->n; i++) counts[rp->rs[i].status]++;
    fprintf(f, "],\n\"totals\":{\"passed\":%zu,\"failed\":%zu", rp->passed, rp->failed);
    for (int s = 0; s < TKT_ST_COUNT; s++) fprintf(f, ",\"%s\":%zu", tkc_st_names[s], counts[s]);
    fprintf(f, "}}\n");
}

static int write_one(const tkc_report *rp, const char *opt, const char *path,
                     void (*body)(FILE *, const tkc_report *))
{
    tk_out out;
    FILE *f = tk_out_open(&out, "tk-conform", opt, path);
    if (!f) return -1;
    body(f, rp);
    return tk_out_commit(&out);
}

int tkc_write_tap(const tkc_report *rp, const char *path) { return write_one(rp, "--tap", path, tap_body); }
int tkc_write_junit(const tkc_report *rp, const char *path) { return write_one(rp, "--junit", path, junit_body); }
int tkc_write_json(const tkc_report *rp, const char *path) { return write_one(rp, "--json", path, json_body); }
