/* runtimes/coreclr/classify.c: tk-coreclr-classify, tierkit's stub
 * recogniser applied to bytes dumped from another runtime (SPEC.md
 * "CoreCLR observation", "Classifying dumped slot values").
 *
 * arch/'s tk_classify() only answers for memory tierkit owns (registered
 * stub heaps).  A .NET process is not tierkit's, so the probe inside it
 * dumps, for each slot value, the 24 code bytes at the address and the 24
 * data bytes at address + STUB_PAGE_SIZE (when mapped), and this program
 * decides what they are with the same knowledge arch/ uses: the template
 * bytes (tk_stub_template, the instructions tierkit assembles for its own
 * stubs, which follow CoreCLR's thunktemplates.S instruction for
 * instruction), the FixupPrecode fixup-entry offset and the StubPrecode
 * type word (SPEC.md `stub.recognition`).  Only the instructions are
 * compared: the filler after the last instruction differs (tierkit int3,
 * CoreCLR the next stub's bytes / nops) and is never executed.
 *
 * Input, one value per line:   ADDR CODEHEX DATAHEX     (DATAHEX "-": no data page)
 * Output, one line per input:  ADDR KIND [TARGET [TOKEN [THIRD]]]
 *   fixup-prestub TARGET MD FIXUP  FixupPrecode whose target is its own fixup entry
 *   fixup TARGET MD FIXUP          FixupPrecode aimed at TARGET
 *   stub-precode TARGET SECRET     StubPrecode (data type word 0x4C)
 *   callcount TARGET CELL THRESH   call-counting stub
 *   unknown                        none of the templates (e.g. JIT code)
 * Exit status: 0 ok, 2 bad input (the line is named). */
#include "arch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP 24

static size_t instr_len(const uint8_t *tpl, size_t len)
{
    while (len > 0 && tpl[len - 1] == 0xCC) len--;
    return len;
}

static int hexbytes(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static uint64_t word(const uint8_t *d, int k)
{
    uint64_t v;
    memcpy(&v, d + 8 * k, 8);
    return v;
}

static int matches(tk_stub_kind kind, const uint8_t *code)
{
    size_t len;
    const uint8_t *tpl = tk_stub_template(kind, &len);
    if (!tpl) return 0;
    len = instr_len(tpl, len);
    return len <= DUMP && memcmp(code, tpl, len) == 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tk-coreclr-classify [--page-size] < DUMP\n"
               "  classifies dumped stub bytes with tierkit's x86-64 templates; input lines\n"
               "  'ADDR CODEHEX DATAHEX' (24 bytes each, DATAHEX '-' if no data page), output\n"
               "  'ADDR KIND [TARGET [TOKEN [THIRD]]]' (see SPEC.md \"CoreCLR observation\")\n"
               "  --page-size   print the STUB_PAGE_SIZE the templates are assembled for\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--page-size")) { printf("%zu\n", tk_stub_page_size()); return 0; }
        fprintf(stderr, "tk-coreclr-classify: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
#if !defined(__x86_64__)
    fprintf(stderr, "tk-coreclr-classify: only x86-64 dumps are supported on this build\n");
    return 2;
#endif
    char line[512];
    unsigned long lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        char a[64], c[128], d[128];
        if (line[0] == '\n' || line[0] == '#') continue;
        if (sscanf(line, "%63s %127s %127s", a, c, d) != 3) {
            fprintf(stderr, "tk-coreclr-classify: line %lu: expected 'ADDR CODEHEX DATAHEX'\n", lineno);
            return 2;
        }
        char *end;
        uint64_t addr = strtoull(a, &end, 16);
        uint8_t code[DUMP], data[DUMP];
        int have_data = strcmp(d, "-") != 0;
        if (*end || hexbytes(c, code, DUMP) || (have_data && hexbytes(d, data, DUMP))) {
            fprintf(stderr, "tk-coreclr-classify: line %lu: bad address or hex (need 24 bytes = 48 hex digits)\n",
                    lineno);
            return 2;
        }
        /* Every stub reads its state from the data page: no data page, no stub. */
        if (!have_data) { printf("%s unknown\n", a); continue; }
        if (matches(TK_STUB_FIXUP, code)) {
            uint64_t t = word(data, 0);
            printf("%s %s %" PRIx64 " %" PRIx64 " %" PRIx64 "\n", a,
                   t == addr + tk_fixup_entry_offset() ? "fixup-prestub" : "fixup", t, word(data, 1),
                   word(data, 2));
        } else if (matches(TK_STUB_PRECODE, code) && word(data, 2) == TK_PRECODE_TYPE) {
            printf("%s stub-precode %" PRIx64 " %" PRIx64 "\n", a, word(data, 1), word(data, 0));
        } else if (matches(TK_STUB_CALLCOUNT, code)) {
            printf("%s callcount %" PRIx64 " %" PRIx64 " %" PRIx64 "\n", a, word(data, 1), word(data, 0),
                   word(data, 2));
        } else {
            printf("%s unknown\n", a);
        }
    }
    if (ferror(stdin)) { perror("tk-coreclr-classify: stdin"); return 2; }
    return 0;
}
