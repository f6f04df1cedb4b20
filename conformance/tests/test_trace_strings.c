/* conformance/tests/test_trace_strings.c — names in the trace file are JSON
 * strings a strict reader gets back byte for byte
 * (`inv.observability.trace-strings`): every control character U+0001..U+001F
 * (U+0000 cannot occur in a name, the ABI's names are C strings), the
 * quote and the backslash escaped; DEL and UTF-8 passed through or escaped,
 * either way read back unchanged. */
#include "fixture.h"
#include "json.h"

#include <stdlib.h>
#include <unistd.h>

/* The characters under test: 0x01..0x1f, DEL, '"', '\\', and UTF-8. */
#define NCH 35
static const char *const extra[NCH - 33] = { "\xc3\xa9", "\xe2\x86\x92" }; /* é, → */

static void name_of(int i, char *out, size_t n)
{
    if (i < 31)
        snprintf(out, n, "TS.C%02x<%c>", i + 1, (char)(i + 1));
    else if (i == 31)
        snprintf(out, n, "TS.DEL<\x7f>");
    else if (i == 32)
        snprintf(out, n, "TS.Q<\">B<\\>\\\"");
    else
        snprintf(out, n, "TS.U<%s>", extra[i - 33]);
}

TK_TEST(observability_trace_control_characters, "inv.observability.trace-strings",
        "inv.observability.trace-wellformed")
{
    tkt_require_caps(TK_CAP_TRACE_FILE);
    char dir[] = "/tmp/tk-conform-trace-XXXXXX", path[256], kv[300];
    fx_trace_file(dir, path, sizeof path, kv, sizeof kv);
    tk_drv_runtime *rt = tkt_create(FX_DET("2"), kv);
    static char names[NCH][32];
    tk_method_def defs[NCH];
    for (int i = 0; i < NCH; i++) {
        name_of(i, names[i], sizeof names[i]);
        tk_method_def d = TKT_M(names[i], 300 + i);
        defs[i] = d;
    }
    /* the type's name too: every control character, quote and backslash */
    static char tname[48];
    int k = 0;
    tname[k++] = 'T';
    for (int c = 1; c < 0x20; c++) tname[k++] = (char)c;
    tname[k++] = '"'; tname[k++] = '\\'; tname[k++] = 0x7f; tname[k] = 0;
    tk_drv_type *t = fx_class(rt, tname, NULL, NCH, defs, 0, NULL);
    tk_drv_object *o = fx_obj(rt, t);
    for (int i = 0; i < NCH; i++)
        tkt_call_slot(fx_vslot(t, (uint32_t)i), o, 300 + i, 0);
    tkt_destroy(rt);

    FILE *tf = fopen(path, "r");
    ck_assert_msg(tf != NULL, "Trace=%s produced no file", path);
    int found[NCH] = { 0 }, type_found = 0;
    static char line[65536];
    long lineno = 0;
    while (fgets(line, sizeof line, tf)) {
        lineno++;
        size_t len = strlen(line);
        ck_assert_msg(len > 0 && line[len - 1] == '\n', "%s line %ld: longer than %zu bytes or unterminated", path,
                      lineno, sizeof line - 1);
        line[--len] = 0;
        /* RFC 8259: no raw control character anywhere in a JSON text but
         * whitespace between tokens; a JSON Lines record has no raw newline */
        for (size_t j = 0; j < len; j++)
            ck_assert_msg((unsigned char)line[j] >= 0x20,
                          "inv.observability.trace-strings: %s line %ld, byte %zu: raw control character 0x%02x "
                          "(must be written as \\u%04x): %.200s", path, lineno, j, (unsigned char)line[j],
                          (unsigned char)line[j], line);
        char err[256];
        tkj_doc *d = tkj_parse(line, len, err, sizeof err);
        ck_assert_msg(d != NULL, "inv.observability.trace-strings: %s line %ld is not JSON: %s: %.200s", path,
                      lineno, err, line);
        tkj_node *root = tkj_root(d);
        tkj_node *mn = tkj_get(root, "method"), *tn = tkj_get(root, "type_name");
        if (mn && mn->type == TKJ_STR)
            for (int i = 0; i < NCH; i++) {
                size_t nl = strlen(names[i]);
                const char *s = mn->str;
                if (!strncmp(s, names[i], nl) && s[nl] == '#' && s[nl + 1] &&
                    strspn(s + nl + 1, "0123456789") == strlen(s + nl + 1))
                    found[i]++;
            }
        if (tn && tn->type == TKJ_STR && !strcmp(tn->str, tname))
            type_found++;
        tkj_free(d);
    }
    fclose(tf);
    unlink(path);
    rmdir(dir);
    for (int i = 0; i < NCH; i++)
        ck_assert_msg(found[i] > 0,
                      "inv.observability.trace-strings: no event's \"method\" reads back as \"%s#id\" (method %d "
                      "of %d: character 0x%02x)", names[i], i, NCH, i < 31 ? i + 1 : i == 31 ? 0x7f : 0);
    ck_assert_msg(type_found > 0, "inv.observability.trace-strings: no type event's \"type_name\" reads back as the "
                  "type's name (every control character, quote, backslash, DEL)");
}
