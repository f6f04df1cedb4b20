/* cli/numarg.c — see numarg.h. */
#include "cli/numarg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_arg_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t whylen)
{
    if (!s || !*s) { snprintf(why, whylen, "empty value"); return -1; }
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') {
            snprintf(why, whylen, "not a decimal integer%s", *s == '-' ? " >= 0" : "");
            return -1;
        }
    if (s[0] == '0' && s[1]) {
        snprintf(why, whylen, "leading zero (octal is not accepted; write it in decimal without the 0)");
        return -1;
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || v < min || v > max) {
        snprintf(why, whylen, "out of range [%" PRIu64 ", %" PRIu64 "]", min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int tk_arg_double(const char *s, double min, double max, double *out, char *why, size_t whylen)
{
    if (!s || !*s) { snprintf(why, whylen, "empty value"); return -1; }
    /* decimal notation only: no hex floats, inf, nan, or leading blanks */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789.eE+-", *p)) { snprintf(why, whylen, "not a decimal number"); return -1; }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) { snprintf(why, whylen, "not a decimal number"); return -1; }
    if (!isfinite(v) || errno == ERANGE || v < min || v > max) {
        snprintf(why, whylen, "out of range [%g, %g]", min, max);
        return -1;
    }
    *out = v;
    return 0;
}
